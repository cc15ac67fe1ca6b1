package dev.fable.naming;

import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

import dev.fable.naming.protocol.Message;
import dev.fable.naming.protocol.Messages;

import java.io.DataInputStream;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.Channels;
import java.nio.channels.SocketChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.*;

/**
 * A process of another uid that reaches the daemon's socket (permissions opened on purpose) is
 * refused by the daemon's SO_PEERCRED check; its client library refuses the directory first (it is
 * not its own). Needs root, to run the client as {@code nobody} with setpriv.
 */
class PeerCredentialsTest {
    /**
     * Child run as another uid: uses the daemon in {@code args[0]} through the library, then connects to
     * its socket directly and reads the daemon's answer; prints both outcomes.
     */
    public static final class OtherUser {
        public static void main(String[] args) throws Exception {
            Path dir = Path.of(args[0]);
            try (DaemonNameService ns = DaemonNameService.open(dir, false)) {
                System.out.println("ACCEPTED " + ns.host());
            } catch (RuntimeException e) {
                System.out.println("LIBRARY REFUSED " + e.getMessage().replace('\n', ' '));
            }
            try (SocketChannel ch = SocketChannel.open(StandardProtocolFamily.UNIX)) {
                ch.connect(UnixDomainSocketAddress.of(NamingConfig.daemonSocket(dir)));
                DataInputStream in = new DataInputStream(Channels.newInputStream(ch));
                byte[] frame = new byte[in.readInt()];
                in.readFully(frame);
                Message m = Messages.decode(ByteBuffer.wrap(frame));
                System.out.println(m instanceof Message.Fail f ? "DAEMON REFUSED " + f.text() : "DAEMON SAID " + m);
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
            assertTrue(out.startsWith("LIBRARY REFUSED refusing the Fable runtime directory " + dir + ": it is owned by uid 0"), out);
            assertTrue(out.contains("DAEMON REFUSED a process of uid 65534 connected to " + NamingConfig.daemonSocket(dir)
                    + ", which serves only uid 0"), out);
            assertTrue(d.log().contains("refused: a process of uid 65534"), d.log());
        }
    }

}
