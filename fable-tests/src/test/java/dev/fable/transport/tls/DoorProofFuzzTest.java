package dev.fable.transport.tls;

import dev.fable.testing.Fuzz;
import dev.fable.transport.Transport;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

/**
 * Fuzzing of the TCP door's frames, both of which the other side writes: the proof an acceptor
 * checks ({@link DoorProof#verify}: a certificate of at most {@link DoorProof#MAX_CERT} B behind a
 * length the peer chose, then a {@link DoorProof#MAC_BYTES}-byte MAC) and the challenge a connector
 * reads ({@link DoorProof#challengeOf}: a nonce and the acceptor's certificate). Seeds are real
 * frames of a real host key the door knows, so a mutated MAC behind the intact certificate is checked
 * for real. Only {@link Transport.Refused} (proofs) or {@link dev.fable.FableException} (challenges)
 * may come out.
 */
class DoorProofFuzzTest {
    static final int INPUTS = 6_000;
    private static HostIdentity host;
    private static final byte[] NONCE = new byte[DoorProof.NONCE_BYTES];
    private static final ByteBuffer SESSION = ByteBuffer.wrap(new byte[] {0x46, 0x53, 0x45, 0x53, 1, 0, 0, 0, 0, 0, 0, 0, 9, 0, 0, 0, 0, 0, 0, 0, 0});

    @BeforeAll
    static void identity(@TempDir Path dir) {
        host = dev.fable.daemon.HostKeys.loadOrCreate(dir.resolve("state"));
        Arrays.fill(NONCE, (byte) 7);
    }

    static String verify(byte[] proof) {
        String fp = DoorProof.verify(host, ByteBuffer.wrap(proof), NONCE, SESSION, host.fingerprint()::equals);
        assertEquals(host.fingerprint(), fp);
        return "verified";
    }

    static byte[] proof() {
        ByteBuffer p = DoorProof.prove(host, new DoorProof.Challenge(NONCE, host.certificateDer(), host.fingerprint()), SESSION);
        byte[] b = new byte[p.remaining()];
        p.get(b);
        return b;
    }

    @Test
    void aRealProofVerifiesAndAChangedOneDoesNot() {
        byte[] good = proof();
        assertEquals("verified", verify(good));
        byte[] bad = good.clone();
        bad[bad.length - 1] ^= 1;
        assertThrows(Transport.Refused.class, () -> verify(bad));
    }

    @Test
    void proofsOnlyEverVerifyOrRefuse() {
        List<byte[]> seeds = new ArrayList<>();
        seeds.add(proof());
        Fuzz.target("endpoint: TCP door proof")
                .seeds(seeds)
                .inputs(INPUTS)
                .maxLength(2 + DoorProof.MAX_CERT + DoorProof.MAC_BYTES + 64)
                .expecting(Transport.Refused.class)
                // the certificate and MAC copies; the X.509 parser runs only for a known host's certificate, once
                .allocationCap(n -> 512 * 1024 + 64 * n)
                .run(DoorProofFuzzTest::verify);
    }

    @Test
    void challengesOnlyEverParseOrFail() {
        ByteBuffer c = DoorProof.challenge(host, new byte[DoorProof.NONCE_BYTES]);
        byte[] seed = new byte[c.remaining()];
        c.get(seed);
        assertEquals(host.fingerprint(), DoorProof.challengeOf(ByteBuffer.wrap(seed), "fuzz").fingerprint(), "the seed parses");
        Fuzz.target("connector: TCP door challenge")
                .seeds(List.of(seed))
                .inputs(INPUTS)
                .maxLength(1 + DoorProof.NONCE_BYTES + 2 + DoorProof.MAX_CERT + 64)
                .expecting(dev.fable.FableException.class)
                .allocationCap(n -> 64 * 1024 + 64 * n)
                .run(b -> DoorProof.challengeOf(ByteBuffer.wrap(b), "fuzz").fingerprint());
    }

    @Test
    void ticketsOnlyEverVerifyOrRefuse() {
        byte[] ticket = new byte[DoorProof.TICKET_BYTES];
        Arrays.fill(ticket, (byte) 3);
        ByteBuffer t = DoorProof.proveWithTicket(host, ticket, host.fingerprint(), host.certificateDer(), SESSION);
        byte[] seed = new byte[t.remaining()];
        t.get(seed);
        // the table holds the one ticket for good (a real one gives it out once): a mutated MAC behind it is checked for real
        java.util.function.Function<byte[], String> redeem = id -> Arrays.equals(id, ticket) ? host.fingerprint() : null;
        assertEquals(host.fingerprint(), DoorProof.verifyTicket(host, ByteBuffer.wrap(seed), SESSION, redeem), "the seed verifies");
        Fuzz.target("endpoint: TCP door ticket")
                .seeds(List.of(seed))
                .inputs(INPUTS)
                .maxLength(1 + DoorProof.TICKET_BYTES + 2 + DoorProof.MAX_CERT + DoorProof.MAC_BYTES + 64)
                .expecting(Transport.Refused.class)
                .allocationCap(n -> 64 * 1024 + 64 * n)
                .run(b -> DoorProof.verifyTicket(host, ByteBuffer.wrap(b), SESSION, redeem));
    }
}
