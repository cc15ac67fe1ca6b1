package dev.fable.naming;

import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.*;

/**
 * A process of another user that reaches the daemon's socket (permissions opened on purpose) is
 * refused by its SO_PEERCRED check. Needs root, to run the client as {@code nobody} with setpriv.
 */
class PeerCredentialsTest {
    /** Child run as another user: tries to use the daemon in {@code args[0]}, prints the outcome. */
    public static final class OtherUser {
        public static void main(String[] args) {
            try (DaemonNameService ns = DaemonNameService.open(Path.of(args[0]), false)) {
                System.out.println("ACCEPTED " + ns.host());
            } catch (RuntimeException e) {
                System.out.println("REFUSED " + e.getMessage().replace('\n', ' '));
            }
        }
    }

    @Test
    void aProcessOfAnotherUserIsRefused() throws Exception {
        Assumptions.assumeTrue("root".equals(System.getProperty("user.name")) && Files.isExecutable(Path.of("/usr/bin/setpriv")),
                "needs root and setpriv to run a client as another user");
        Path dir = TestDaemon.freshDir("p");
        try (TestDaemon d = TestDaemon.start(dir)) {
            // Open the path for the test only; the daemon's own defaults are 0700.
            Files.setPosixFilePermissions(dir, PosixFilePermissions.fromString("rwxrwxrwx"));
            Files.setPosixFilePermissions(NamingConfig.daemonSocket(dir), PosixFilePermissions.fromString("rwxrwxrwx"));
            // The client library (fable-core) too; user nobody cannot read a jar under root's ~/.m2, so a jar is copied here.
            Path core = Path.of(DaemonNameService.class.getProtectionDomain().getCodeSource().getLocation().toURI());
            if (Files.isRegularFile(core)) core = Files.copy(core, dir.resolve(core.getFileName()));
            String classes = core + ":" + Path.of("target", "classes").toAbsolutePath() + ":" + Path.of("target", "test-classes").toAbsolutePath();
            List<String> cmd = new ArrayList<>(List.of("/usr/bin/setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                    Path.of(System.getProperty("java.home"), "bin", "java").toString(), "--enable-native-access=ALL-UNNAMED",
                    "-XX:-UsePerfData", "-Xshare:off", "-Djava.io.tmpdir=/tmp", "-Duser.home=/tmp", "-cp", classes,
                    OtherUser.class.getName(), dir.toString()));
            Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
            String out = new String(p.getInputStream().readAllBytes());
            assertTrue(p.waitFor(60, TimeUnit.SECONDS));
            Assumptions.assumeFalse(out.contains("Could not find or load main class") || out.contains("AccessDenied"),
                    "user nobody cannot read the build output here: " + out);
            assertTrue(out.startsWith("REFUSED") && out.contains("serves only user 'root'"), out);
            assertTrue(d.log().contains("refused: a process of user 'nobody'"), d.log());
        }
    }

}
