package dev.fable.transport.tls;

import dev.fable.FableException;
import dev.fable.transport.Frames;
import dev.fable.transport.Transport;

import javax.crypto.Mac;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.security.GeneralSecurityException;
import java.security.MessageDigest;
import java.security.SecureRandom;
import java.util.HexFormat;
import java.util.function.Predicate;

/**
 * Challenge–response at an endpoint's TCP door: before anything else, a connector proves that it
 * holds a host key this host knows (its own or a configured peer's), by a MAC over the acceptor's
 * fresh nonce and the session frame it sent. A replayed session frame meets a new nonce, so its old
 * MAC does not verify; a client without a known host key cannot get past the door at all.
 *
 * <p>The MAC key is the two hosts' static ECDH secret ({@link HostIdentity#doorKey}): only a
 * holder of one of the two private keys can compute it, each side computes it once per peer host
 * and keeps it, so after the first connection between two hosts a proof costs two HMACs, not an
 * ECDSA signature and a verification (about 1.4 ms on this project's machine). The MAC names both
 * certificates in order, so a proof made for one direction is no proof for the other.
 *
 * <p><b>Tickets</b> save the round trip: every connection that passed the door gets a fresh 16-byte
 * ticket id in the acceptor's handshake reply, bound to its host key, single-use and good for
 * {@link #TICKET_TTL_NANOS}; the next connection to that endpoint proves with the ticket in its first
 * flight instead of asking for a challenge. A ticket the acceptor does not hold (used, expired,
 * evicted, another endpoint's) is refused with {@link #STALE_TICKET} in the reason, and the connector
 * tries once more with a challenge.
 *
 * <p>Frames (over the {@code ControlChannel}, each length-prefixed there), the first one right after the session frame:
 * <pre>
 *   ASK       (connector → acceptor): byte 'A'                                        then CHALLENGE, PROOF
 *   TICKET    (connector → acceptor): byte 'T', byte[16] ticket, short n, byte[n] connector certificate, byte[32] mac
 *   CHALLENGE (acceptor → connector): byte 'C', byte[32] nonce, short n, byte[n] acceptor certificate (DER, n ≤ 4096)
 *   PROOF     (connector → acceptor): short n, byte[n] connector certificate (DER, n ≤ 4096), byte[32] mac
 *   mac = HMAC-SHA256(door key, "fable-door-v2" | sha256(connector cert) | sha256(acceptor cert) | nonce | session frame as sent)
 *   ticket mac: the same with "fable-door-v2-ticket" and the ticket in place of the nonce
 * </pre>
 * The connector answers only a challenge whose certificate is the one its route names (the daemon's
 * fingerprint for the peer host), so it is no MAC oracle for a stranger. The acceptor checks the
 * proof's certificate fingerprint with its daemon ({@code knownHost}) before it derives or uses a key.
 */
public final class DoorProof {
    private DoorProof() {}

    public static final byte CHALLENGE = 'C';
    /** The connector's first door frame when it has no ticket: send me a challenge. */
    public static final byte ASK = 'A';
    /** The connector's first door frame when it proves with a ticket. */
    public static final byte TICKET = 'T';
    /** How long an acceptor honours a ticket it issued. */
    public static final long TICKET_TTL_NANOS = 60_000_000_000L;
    /** In the reason of a refused ticket: the connector tries again with a challenge. */
    public static final String STALE_TICKET = "stale door ticket";
    private static final byte[] TICKET_CONTEXT = "fable-door-v2-ticket".getBytes(StandardCharsets.US_ASCII);
    public static final int NONCE_BYTES = 32;
    static final int MAX_CERT = 4096;
    static final int MAC_BYTES = 32;
    private static final byte[] CONTEXT = "fable-door-v2".getBytes(StandardCharsets.US_ASCII);
    private static final SecureRandom RANDOM = new SecureRandom();

    /** What a connector read from a CHALLENGE: the nonce, and the acceptor's certificate and its fingerprint. */
    public record Challenge(byte[] nonce, byte[] certificate, String fingerprint) {}

    /** Acceptor: a CHALLENGE frame with a fresh nonce (also copied into {@code nonceOut}) and {@code self}'s certificate. */
    public static ByteBuffer challenge(HostIdentity self, byte[] nonceOut) {
        RANDOM.nextBytes(nonceOut);
        byte[] cert = self.certificateDer();
        return ByteBuffer.allocate(1 + NONCE_BYTES + 2 + cert.length).put(CHALLENGE).put(nonceOut)
                .putShort((short) cert.length).put(cert).flip();
    }

    /** Connector: reads a CHALLENGE frame; throws if the frame is not one (with the endpoint's reason if it refused). */
    public static Challenge challengeOf(ByteBuffer frame, String what) {
        ByteBuffer f = frame.duplicate();
        if (f.hasRemaining() && f.get(f.position()) == Transport.REJECT) {
            f.get();
            throw new FableException(what + ": refused at the endpoint's door: " + Frames.getString(f, "reason"));
        }
        if (f.remaining() < 1 + NONCE_BYTES + 2 || f.get() != CHALLENGE) {
            throw new FableException(what + ": expected the endpoint's challenge, got a frame of " + frame.remaining() + " B; "
                    + "is the peer a Fable endpoint of this version?");
        }
        byte[] nonce = new byte[NONCE_BYTES];
        f.get(nonce);
        byte[] cert;
        try {
            cert = chunk(f, MAX_CERT, "certificate");
        } catch (Transport.Refused e) {
            throw new FableException(what + ": the endpoint's challenge is malformed: " + e.getMessage());
        }
        if (f.hasRemaining()) throw new FableException(what + ": the endpoint's challenge has " + f.remaining() + " B after its certificate");
        return new Challenge(nonce, cert, HostIdentity.fingerprint(cert));
    }

    /** Connector: the PROOF frame answering {@code c} for the session frame this side sent. */
    public static ByteBuffer prove(HostIdentity self, Challenge c, ByteBuffer sessionFrame) {
        byte[] cert = self.certificateDer();
        byte[] mac = mac(connectorKey(self, c.fingerprint(), c.certificate()), CONTEXT, self.fingerprint(), c.fingerprint(), c.nonce(), sessionFrame);
        return ByteBuffer.allocate(2 + cert.length + MAC_BYTES).putShort((short) cert.length).put(cert).put(mac).flip();
    }

    private static byte[] connectorKey(HostIdentity self, String acceptorFingerprint, byte[] acceptorCertificate) {
        try {
            return self.doorKey(acceptorFingerprint, acceptorCertificate);
        } catch (Transport.Refused e) {
            throw new FableException("cannot answer the door of host " + acceptorFingerprint + ": " + e.getMessage());
        }
    }

    /** What follows a proof's or a ticket's fixed part: the prover's certificate and the MAC, checked for length. */
    private record Proven(byte[] certificate, byte[] mac, String fingerprint) {}

    private static Proven certificateAndMac(ByteBuffer p, String what) {
        byte[] cert = chunk(p, MAX_CERT, "certificate");
        if (p.remaining() != MAC_BYTES) {
            throw new Transport.Refused("the door " + what + " has " + p.remaining() + " B after its certificate, not a " + MAC_BYTES + "-byte MAC");
        }
        byte[] mac = new byte[MAC_BYTES];
        p.get(mac);
        return new Proven(cert, mac, HostIdentity.fingerprint(cert));
    }

    /**
     * Acceptor: checks {@code proof} (bounds first: every length is the peer's) and returns the
     * prover's certificate fingerprint; throws {@link Transport.Refused} with the reason.
     */
    public static String verify(HostIdentity self, ByteBuffer proof, byte[] nonce, ByteBuffer sessionFrame, Predicate<String> knownHost) {
        Proven p = certificateAndMac(proof.duplicate(), "proof");
        String fingerprint = p.fingerprint();
        if (!knownHost.test(fingerprint)) {
            throw new Transport.Refused("its host key (certificate sha256 " + fingerprint + ") is neither this host's nor a known peer host's");
        }
        byte[] key = self.doorKey(fingerprint, p.certificate());
        if (!MessageDigest.isEqual(p.mac(), mac(key, CONTEXT, fingerprint, self.fingerprint(), nonce, sessionFrame))) {
            throw new Transport.Refused("the door proof's MAC does not verify (a replayed or forged connection)");
        }
        return fingerprint;
    }

    /** Connector: the ASK frame (no ticket for this endpoint: a challenge, please). */
    public static ByteBuffer ask() {
        return ByteBuffer.allocate(1).put(ASK).flip();
    }

    /**
     * Connector: the TICKET frame proving with {@code ticket}, which the acceptor of certificate
     * {@code acceptorCertificate} (fingerprint {@code acceptorFingerprint}) issued to this host, for
     * the session frame this side sent.
     */
    public static ByteBuffer proveWithTicket(HostIdentity self, byte[] ticket, String acceptorFingerprint, byte[] acceptorCertificate,
                                             ByteBuffer sessionFrame) {
        byte[] key = connectorKey(self, acceptorFingerprint, acceptorCertificate);
        byte[] cert = self.certificateDer();
        byte[] mac = mac(key, TICKET_CONTEXT, self.fingerprint(), acceptorFingerprint, ticket, sessionFrame);
        return ByteBuffer.allocate(1 + ticket.length + 2 + cert.length + MAC_BYTES).put(TICKET).put(ticket)
                .putShort((short) cert.length).put(cert).put(mac).flip();
    }

    /**
     * Acceptor: checks a TICKET frame (bounds first). {@code redeem} takes the ticket out of the
     * acceptor's table and says which host it was issued to (null: not held). Returns the prover's
     * fingerprint; throws {@link Transport.Refused} with the reason.
     */
    public static String verifyTicket(HostIdentity self, ByteBuffer frame, ByteBuffer sessionFrame,
                                      java.util.function.Function<byte[], String> redeem) {
        ByteBuffer p = frame.duplicate();
        if (p.remaining() < 1 + TICKET_BYTES || p.get() != TICKET) throw new Transport.Refused("the door ticket frame is malformed");
        byte[] ticket = new byte[TICKET_BYTES];
        p.get(ticket);
        Proven proven = certificateAndMac(p, "ticket");
        String fingerprint = proven.fingerprint();
        String issuedTo = redeem.apply(ticket);
        if (issuedTo == null) throw new Transport.Refused(STALE_TICKET + ": this endpoint holds no such ticket (used, expired or never issued)");
        if (!issuedTo.equalsIgnoreCase(fingerprint)) throw new Transport.Refused("the door ticket was issued to host " + issuedTo + ", not " + fingerprint);
        byte[] key = self.doorKey(fingerprint, proven.certificate());
        if (!MessageDigest.isEqual(proven.mac(), mac(key, TICKET_CONTEXT, fingerprint, self.fingerprint(), ticket, sessionFrame))) {
            throw new Transport.Refused("the door ticket's MAC does not verify (a forged connection)");
        }
        return fingerprint;
    }

    /** Bytes of a ticket id. */
    public static final int TICKET_BYTES = dev.fable.transport.ControlChannel.TICKET_BYTES;

    private static byte[] mac(byte[] key, byte[] context, String connectorFingerprint, String acceptorFingerprint, byte[] nonce,
                              ByteBuffer sessionFrame) {
        try {
            Mac m = Mac.getInstance("HmacSHA256");
            m.init(new javax.crypto.spec.SecretKeySpec(key, "HmacSHA256"));
            m.update(context);
            m.update(HexFormat.of().parseHex(connectorFingerprint));
            m.update(HexFormat.of().parseHex(acceptorFingerprint));
            m.update(nonce);
            m.update(sessionFrame.duplicate());
            return m.doFinal();
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException("HmacSHA256 unavailable", e);
        }
    }

    private static byte[] chunk(ByteBuffer p, int max, String what) {
        if (p.remaining() < 2) throw new Transport.Refused("the door proof ends before its " + what);
        int n = p.getShort() & 0xFFFF;
        if (n == 0 || n > max || n > p.remaining()) {
            throw new Transport.Refused("the door proof's " + what + " claims " + n + " B (1 … " + max + ", " + p.remaining() + " left)");
        }
        byte[] b = new byte[n];
        p.get(b);
        return b;
    }
}
