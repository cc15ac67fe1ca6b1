package dev.fable.naming;

import com.tngtech.archunit.core.domain.JavaClasses;
import com.tngtech.archunit.core.importer.ClassFileImporter;
import com.tngtech.archunit.core.importer.ImportOption;
import dev.fable.daemon.HostKeys;
import dev.fable.transport.tls.HostIdentity;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.Signature;
import java.security.cert.X509Certificate;
import java.security.interfaces.ECPublicKey;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

import static com.tngtech.archunit.core.domain.JavaClass.Predicates.assignableTo;
import static com.tngtech.archunit.lang.syntax.ArchRuleDefinition.noClasses;
import static org.junit.jupiter.api.Assertions.*;

/**
 * The host identity is made in process by the daemon ({@link HostKeys}, BouncyCastle): a fresh state
 * directory gets {@code host-id}, {@code host.pass} and {@code host.p12} with mode 0600 (the directory
 * 0700), a self-signed P-256 certificate {@code CN=fable-host} (SHA256withECDSA, 10 years) that
 * {@link HostIdentity#load} reads, and the same fingerprint on every later start; an identity that
 * {@code keytool} made (the format of state directories made before) loads unchanged; the code that
 * makes or loads it starts no process (no {@code keytool}, no password on a command line).
 */
class HostKeyCreationTest {
    private static final String OWNER_ONLY = "rw-------";

    private static String mode(Path p) throws Exception {
        return PosixFilePermissions.toString(Files.getPosixFilePermissions(p));
    }

    private static void assertMadeAndOwnerOnly(Path state) throws Exception {
        assertEquals("rwx------", mode(state), "the state directory");
        for (String f : List.of("host-id", "host.pass", "host.p12")) {
            assertTrue(Files.exists(state.resolve(f)), f + " was not created in " + state);
            assertEquals(OWNER_ONLY, mode(state.resolve(f)), f);
        }
        try (Stream<Path> files = Files.list(state)) {
            List<String> tmp = files.map(p -> p.getFileName().toString()).filter(n -> n.endsWith(".tmp")).toList();
            assertEquals(List.of(), tmp, "temporary files left behind");
        }
    }

    @Test
    void aFreshStateDirectoryGetsAnOwnerOnlyKeyStoreWithASelfSignedP256Certificate(@TempDir Path dir) throws Exception {
        Path state = dir.resolve("state");
        HostIdentity made = HostKeys.loadOrCreate(state);
        assertMadeAndOwnerOnly(state);

        HostIdentity loaded = HostIdentity.load(state);   // what a client does
        X509Certificate cert = (X509Certificate) loaded.keyStore().getCertificate(HostIdentity.ALIAS);
        assertEquals("CN=fable-host", cert.getSubjectX500Principal().getName());
        assertEquals(cert.getSubjectX500Principal(), cert.getIssuerX500Principal(), "self-signed");
        assertEquals("SHA256withECDSA", cert.getSigAlgName());
        assertEquals(256, ((ECPublicKey) cert.getPublicKey()).getParams().getCurve().getField().getFieldSize());
        cert.verify(cert.getPublicKey());
        Duration validity = Duration.between(cert.getNotBefore().toInstant(), cert.getNotAfter().toInstant());
        assertEquals(3650, validity.toDays(), "valid for 10 years");
        assertTrue(cert.getNotBefore().toInstant().isBefore(Instant.now().plusSeconds(1)));
        cert.checkValidity();
        assertEquals(HostIdentity.fingerprint(cert), loaded.fingerprint());
        assertEquals(made.fingerprint(), loaded.fingerprint());
        assertEquals(made.hostId(), loaded.hostId());
        assertEquals(loaded.hostId(), Files.readString(state.resolve("host-id"), StandardCharsets.US_ASCII).trim());

        // the private key in the store is the certificate's (it signs what the certificate verifies)
        Signature s = Signature.getInstance("SHA256withECDSA");
        s.initSign((java.security.PrivateKey) loaded.keyStore().getKey(HostIdentity.ALIAS, loaded.password()));
        s.update(new byte[] {1, 2, 3});
        byte[] sig = s.sign();
        s.initVerify(cert);
        s.update(new byte[] {1, 2, 3});
        assertTrue(s.verify(sig));

        HostIdentity again = HostKeys.loadOrCreate(state);
        assertEquals(made.fingerprint(), again.fingerprint(), "a second start keeps the identity");
    }

    @Test
    void twoConcurrentFirstStartsAgreeOnOneIdentity(@TempDir Path dir) throws Exception {
        Path state = dir.resolve("state");
        CompletableFuture<HostIdentity> a = CompletableFuture.supplyAsync(() -> HostKeys.loadOrCreate(state));
        CompletableFuture<HostIdentity> b = CompletableFuture.supplyAsync(() -> HostKeys.loadOrCreate(state));
        assertEquals(a.get(30, TimeUnit.SECONDS).fingerprint(), b.get(30, TimeUnit.SECONDS).fingerprint());
        assertMadeAndOwnerOnly(state);
    }

    @Test
    void theDaemonMakesItOnItsFirstStartAndKeepsItsFingerprintAcrossRestarts() throws Exception {
        Path runtime = TestDaemon.freshDir("k");
        Path state = runtime.resolve("state");
        String first;
        try (TestDaemon d = TestDaemon.start(runtime, "fable.state.dir=" + state);
             DaemonNameService ns = d.client()) {
            first = ns.host().certFingerprint();
            assertMadeAndOwnerOnly(state);
            assertEquals(HostIdentity.load(state).fingerprint(), first, "the daemon serves the identity it made");
        }
        try (TestDaemon d = TestDaemon.start(runtime, "fable.state.dir=" + state);
             DaemonNameService ns = d.client()) {
            assertEquals(first, ns.host().certFingerprint(), "the fingerprint is stable across restarts");
        }
        assertMadeAndOwnerOnly(state);
    }

    /** A state directory made by an earlier version, with keytool, still loads: the on-disk format is unchanged. */
    @Test
    void anIdentityThatKeytoolMadeStillLoads(@TempDir Path dir) throws Exception {
        Path state = Files.createDirectories(dir.resolve("state"));
        String pass = "0123456789abcdef0123456789abcdef0123456789abcdef";
        Path keytool = Path.of(System.getProperty("java.home"), "bin", "keytool");
        Process p = new ProcessBuilder(keytool.toString(), "-genkeypair", "-alias", HostIdentity.ALIAS, "-keyalg", "EC",
                "-groupname", "secp256r1", "-sigalg", "SHA256withECDSA", "-dname", "CN=fable-host", "-validity", "3650",
                "-storetype", "PKCS12", "-keystore", state.resolve("host.p12").toString(), "-storepass", pass, "-keypass", pass)
                .redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(p.waitFor(60, TimeUnit.SECONDS) && p.exitValue() == 0, "keytool: " + out);
        Files.writeString(state.resolve("host.pass"), pass);
        Files.writeString(state.resolve("host-id"), "old-host-id\n");
        String before = HostIdentity.fingerprint(HostIdentity.load(state).keyStore().getCertificate(HostIdentity.ALIAS));

        HostIdentity id = HostKeys.loadOrCreate(state);
        assertEquals(before, id.fingerprint(), "an existing identity is loaded, not replaced");
        assertEquals("old-host-id", id.hostId());
    }

    /** No keytool (or any other process) is started to make or read the identity: no password on a command line. */
    @Test
    void makingAndLoadingTheIdentityStartsNoProcess() {
        JavaClasses classes = new ClassFileImporter().withImportOption(ImportOption.Predefined.DO_NOT_INCLUDE_TESTS)
                .importClasses(HostKeys.class, HostIdentity.class);
        noClasses().should().dependOnClassesThat(assignableTo(ProcessBuilder.class))
                .orShould().callMethod(Runtime.class, "exec", String.class)
                .orShould().callMethod(Runtime.class, "exec", String[].class)
                .because("the host key is made in process (BouncyCastle), never by keytool with -storepass on its command line")
                .check(classes);
    }
}
