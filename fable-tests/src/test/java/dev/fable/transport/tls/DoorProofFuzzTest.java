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
 * Fuzzing of the TCP door's proof ({@link DoorProof#verify}): a certificate (≤ {@link DoorProof#MAX_CERT} B)
 * and a signature (≤ {@link DoorProof#MAX_SIGNATURE} B), each behind a length the peer chose. Seeds are real
 * proofs of a real host key; the door knows that key's fingerprint, so a mutated signature behind the intact
 * certificate is verified for real. Only {@link Transport.Refused} may come out.
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
        String fp = DoorProof.verify(ByteBuffer.wrap(proof), NONCE, SESSION, host.fingerprint()::equals);
        assertEquals(host.fingerprint(), fp);
        return "verified";
    }

    static byte[] proof() {
        ByteBuffer p = DoorProof.prove(host, NONCE, SESSION);
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
        for (int i = 0; i < 4; i++) seeds.add(proof());   // ECDSA signatures differ in length (DER): a few of them
        Fuzz.target("endpoint: TCP door proof")
                .seeds(seeds)
                .inputs(INPUTS)
                .maxLength(2 + DoorProof.MAX_CERT + 2 + DoorProof.MAX_SIGNATURE + 64)
                .expecting(Transport.Refused.class)
                // the X.509 parser's objects for a certificate of at most 4 KiB, the signature check's big integers
                .allocationCap(n -> 512 * 1024 + 64 * n)
                .run(DoorProofFuzzTest::verify);
    }
}
