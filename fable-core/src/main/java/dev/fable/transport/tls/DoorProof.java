package dev.fable.transport.tls;

import dev.fable.FableException;
import dev.fable.transport.Transport;
import dev.fable.transport.Frames;

import java.io.ByteArrayInputStream;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.security.GeneralSecurityException;
import java.security.SecureRandom;
import java.security.Signature;
import java.security.cert.CertificateFactory;
import java.security.cert.X509Certificate;
import java.util.function.Predicate;

/**
 * Challenge–response at an endpoint's TCP door: before anything else, a connector proves that it
 * holds a host key this host knows (its own or a configured peer's), by signing the acceptor's fresh
 * nonce together with the session frame it sent. A replayed session frame meets a new nonce, so its
 * old signature does not verify; a client without a known host key cannot get past the door at all.
 *
 * <p>Frames (over the {@code ControlChannel}, each length-prefixed there):
 * <pre>
 *   CHALLENGE (acceptor → connector): byte 'C', byte[32] nonce
 *   PROOF     (connector → acceptor): short n, byte[n] certificate (DER, n ≤ 4096),
 *                                     short m, byte[m] SHA256withECDSA signature (m ≤ 256)
 *   signed bytes: "fable-door-v1" | nonce | the session frame as sent
 * </pre>
 * The acceptor checks the certificate's SHA-256 with its daemon ({@code knownHost}), then the
 * signature with the certificate's key. Cost: one ECDSA P-256 signature and one verification per
 * connection, and one round trip before the transport's own handshake.
 */
public final class DoorProof {
    private DoorProof() {}

    public static final byte CHALLENGE = 'C';
    public static final int NONCE_BYTES = 32;
    static final int MAX_CERT = 4096;
    static final int MAX_SIGNATURE = 256;
    private static final byte[] CONTEXT = "fable-door-v1".getBytes(StandardCharsets.US_ASCII);
    private static final String ALGORITHM = "SHA256withECDSA";
    private static final SecureRandom RANDOM = new SecureRandom();

    /** Acceptor: a CHALLENGE frame with a fresh nonce (the nonce is also copied into {@code nonceOut}). */
    public static ByteBuffer challenge(byte[] nonceOut) {
        RANDOM.nextBytes(nonceOut);
        return ByteBuffer.allocate(1 + NONCE_BYTES).put(CHALLENGE).put(nonceOut).flip();
    }

    /** Connector: reads a CHALLENGE frame's nonce; throws if the frame is not one (with the endpoint's reason if it refused). */
    public static byte[] nonceOf(ByteBuffer challenge, String what) {
        if (challenge.hasRemaining() && challenge.get(challenge.position()) == Transport.REJECT) {
            challenge.get();
            throw new FableException(what + ": refused at the endpoint's door: " + Frames.getString(challenge, "reason"));
        }
        if (challenge.remaining() != 1 + NONCE_BYTES || challenge.get(challenge.position()) != CHALLENGE) {
            throw new FableException(what + ": expected the endpoint's challenge, got a frame of " + challenge.remaining() + " B; "
                    + "is the peer a Fable endpoint of this version?");
        }
        byte[] n = new byte[NONCE_BYTES];
        challenge.get(challenge.position() + 1, n);
        return n;
    }

    /** Connector: the PROOF frame for {@code nonce} and the session frame this side sent. */
    public static ByteBuffer prove(HostIdentity host, byte[] nonce, ByteBuffer sessionFrame) {
        try {
            Signature s = Signature.getInstance(ALGORITHM);
            s.initSign(host.privateKey());
            feed(s, nonce, sessionFrame);
            byte[] sig = s.sign();
            byte[] cert = host.certificateDer();
            return ByteBuffer.allocate(4 + cert.length + sig.length).putShort((short) cert.length).put(cert)
                    .putShort((short) sig.length).put(sig).flip();
        } catch (GeneralSecurityException e) {
            throw new FableException("cannot sign the door proof with this host's key (" + host.directory() + "): " + e, e);
        }
    }

    /**
     * Acceptor: checks {@code proof} (bounds first: every length is the peer's) and returns the
     * prover's certificate fingerprint; throws {@link Transport.Refused} with the reason.
     */
    public static String verify(ByteBuffer proof, byte[] nonce, ByteBuffer sessionFrame, Predicate<String> knownHost) {
        ByteBuffer p = proof.duplicate();
        byte[] cert = chunk(p, MAX_CERT, "certificate");
        byte[] sig = chunk(p, MAX_SIGNATURE, "signature");
        if (p.hasRemaining()) throw new Transport.Refused("the door proof has " + p.remaining() + " B after its signature");
        X509Certificate c;
        try {
            c = (X509Certificate) CertificateFactory.getInstance("X.509").generateCertificate(new ByteArrayInputStream(cert));
        } catch (GeneralSecurityException | RuntimeException e) {
            throw new Transport.Refused("the door proof's certificate does not parse: " + e.getMessage());
        }
        String fingerprint = HostIdentity.fingerprint(c);
        if (!knownHost.test(fingerprint)) {
            throw new Transport.Refused("its host key (certificate sha256 " + fingerprint + ") is neither this host's nor a known peer host's");
        }
        try {
            Signature s = Signature.getInstance(ALGORITHM);
            s.initVerify(c.getPublicKey());
            feed(s, nonce, sessionFrame);
            if (!s.verify(sig)) throw new Transport.Refused("the door proof's signature does not verify (a replayed or forged connection)");
        } catch (GeneralSecurityException e) {
            throw new Transport.Refused("the door proof's signature does not verify: " + e.getMessage());
        }
        return fingerprint;
    }

    private static void feed(Signature s, byte[] nonce, ByteBuffer sessionFrame) throws GeneralSecurityException {
        s.update(CONTEXT);
        s.update(nonce);
        s.update(sessionFrame.duplicate());
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
