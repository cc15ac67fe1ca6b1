package dev.fable.transport.tls;

import com.code_intelligence.jazzer.junit.FuzzTest;
import dev.fable.FableException;
import dev.fable.fuzz.Fuzzing;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.Arrays;
import java.util.concurrent.TimeUnit;

/**
 * The TCP door's frames ({@link DoorProof}), which a stranger writes: the first byte chooses a
 * challenge as a connector reads it, a raw proof or ticket frame, or one that carries this host's
 * real certificate with the fuzzed bytes where the MAC and what follows go (a fuzzer cannot make a
 * certificate whose fingerprint the door knows; this reaches the MAC check and the ticket table). The
 * host key is made once with keytool, as an older daemon did. Only {@link FableException} may come out.
 */
public class DoorJazzer {
    private static HostIdentity self;
    private static byte[] certificate;
    private static final byte[] NONCE = new byte[DoorProof.NONCE_BYTES];
    private static final byte[] TICKET = new byte[DoorProof.TICKET_BYTES];
    private static final ByteBuffer SESSION = ByteBuffer.wrap("FSES session frame".getBytes(StandardCharsets.US_ASCII));

    @FuzzTest(maxExecutions = Fuzzing.SUITE)
    void door(byte[] input) throws Exception {
        fuzzerTestOneInput(input);
    }

    public static void fuzzerInitialize() throws Exception {
        Path state = Files.createTempDirectory("fable-fuzz-state", PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rwx------")));
        String pass = "0123456789abcdef0123456789abcdef";
        Process p = new ProcessBuilder(Path.of(System.getProperty("java.home"), "bin", "keytool").toString(), "-genkeypair",
                "-alias", HostIdentity.ALIAS, "-keyalg", "EC", "-groupname", "secp256r1", "-sigalg", "SHA256withECDSA",
                "-dname", "CN=fable-host", "-validity", "3650", "-storetype", "PKCS12",
                "-keystore", state.resolve("host.p12").toString(), "-storepass", pass, "-keypass", pass)
                .redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        if (!p.waitFor(60, TimeUnit.SECONDS) || p.exitValue() != 0) throw new IllegalStateException("keytool: " + out);
        Files.writeString(state.resolve("host.pass"), pass);
        Files.writeString(state.resolve("host-id"), "fuzz-host\n");
        self = HostIdentity.load(state);
        certificate = self.certificateDer();
        Arrays.fill(TICKET, (byte) 3);
    }

    public static void fuzzerTestOneInput(byte[] input) throws Exception {
        if (self == null) fuzzerInitialize();
        if (input.length == 0) return;
        byte[] rest = Arrays.copyOfRange(input, 1, input.length);
        try {
            switch (input[0] & 7) {
                case 0 -> DoorProof.challengeOf(ByteBuffer.wrap(rest), "fuzz");
                case 1 -> DoorProof.verify(self, ByteBuffer.wrap(rest), NONCE, SESSION, self.fingerprint()::equals);
                case 2 -> DoorProof.verifyTicket(self, ByteBuffer.wrap(rest), SESSION, DoorJazzer::redeem);
                case 3 -> DoorProof.verify(self, withCertificate(new byte[0], rest), NONCE, SESSION, self.fingerprint()::equals);
                default -> DoorProof.verifyTicket(self, withCertificate(ticketHead(rest), Arrays.copyOfRange(rest, Math.min(rest.length, 16), rest.length)),
                        SESSION, DoorJazzer::redeem);
            }
        } catch (FableException refused) {
            // refused or malformed: the documented outcomes
        }
    }

    /** The one ticket the table holds (it stays: a mutated MAC behind a good ticket is checked for real). */
    private static String redeem(byte[] id) {
        return Arrays.equals(id, TICKET) ? self.fingerprint() : null;
    }

    /** 'T' and a ticket id from the first 16 fuzzed bytes (zero-padded). */
    private static byte[] ticketHead(byte[] rest) {
        byte[] h = new byte[1 + DoorProof.TICKET_BYTES];
        h[0] = DoorProof.TICKET;
        System.arraycopy(rest, 0, h, 1, Math.min(rest.length, DoorProof.TICKET_BYTES));
        return h;
    }

    /** {@code head}, this host's certificate behind its length, then {@code tail} where the MAC goes. */
    private static ByteBuffer withCertificate(byte[] head, byte[] tail) {
        return ByteBuffer.allocate(head.length + 2 + certificate.length + tail.length).put(head)
                .putShort((short) certificate.length).put(certificate).put(tail).flip();
    }
}
