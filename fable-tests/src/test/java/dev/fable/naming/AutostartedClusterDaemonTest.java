package dev.fable.naming;

import dev.fable.naming.protocol.Route;
import dev.fable.naming.protocol.RouteRequest;
import dev.fable.testing.PeerProcess;
import org.apache.curator.framework.CuratorFramework;
import org.apache.curator.framework.CuratorFrameworkFactory;
import org.apache.curator.retry.RetryOneTime;
import org.apache.curator.test.TestingServer;
import org.apache.zookeeper.data.ACL;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.*;

/**
 * The daemon a library starts by itself (no {@code fable daemon} running) knows the ensemble when its application
 * does: an application JVM configured with {@code fable.zookeeper} and its host's credentials, on a host with no
 * daemon, registers a name; another host's daemon finds it in ZooKeeper, the host's nodes carry that host's ACL, and
 * the credentials appear nowhere on the auto-started daemon's command line (which every user can read).
 */
@Timeout(value = 120, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
class AutostartedClusterDaemonTest {
    private static final Duration WAIT = Duration.ofSeconds(30);
    private static final String SECRET = "s3cret-" + ProcessHandle.current().pid();

    @Test
    void aLibraryStartedDaemonPublishesInTheEnsembleWithItsHostsCredentialsKeptOffItsCommandLine() throws Exception {
        String name = "auto-zk-" + ProcessHandle.current().pid();
        Path rtA = TestDaemon.freshDir("aa"), rtB = TestDaemon.freshDir("ab");
        Path stA = Files.createDirectories(rtA.resolve("state")), stB = Files.createDirectories(rtB.resolve("state"));
        try (TestingServer zk = new TestingServer();
             TestDaemon b = TestDaemon.start(rtB, "fable.state.dir=" + stB, "fable.host.address=127.0.0.3", "fable.zookeeper=" + zk.getConnectString());
             // no daemon on A: the application's library starts one (autostart is on by default)
             PeerProcess app = PeerProcess.start(ListenAndEcho.class, List.of("-Dfable.runtime.dir=" + rtA, "-Dfable.state.dir=" + stA,
                     "-Dfable.host.address=127.0.0.2", "-Dfable.zookeeper=" + zk.getConnectString(), "-Dfable.zookeeper.auth=host-a:" + SECRET,
                     "-Dfable.daemon.idleExitSeconds=5"), name);
             DaemonNameService onB = b.client()) {
            app.expectLine("LISTENING", WAIT);
            Route r = onB.resolve(name, new RouteRequest(true, null), TimeUnit.SECONDS.toNanos(20));
            assertEquals("127.0.0.2", r.tcpHost(), "host B found A's name in ZooKeeper: " + r);

            long daemonA;
            try (DaemonNameService onA = DaemonNameService.open(rtA, false)) {
                daemonA = onA.daemonPid();
                assertEquals(onA.host().hostId(), r.peerHostId());
            }
            String cmdline = new String(Files.readAllBytes(Path.of("/proc/" + daemonA + "/cmdline")), StandardCharsets.UTF_8).replace('\0', ' ');
            assertTrue(cmdline.contains("--autostarted"), "the library started it: " + cmdline);
            assertFalse(cmdline.contains(SECRET), "the ZooKeeper credentials are not on the command line: " + cmdline);

            try (CuratorFramework c = CuratorFrameworkFactory.newClient(zk.getConnectString(), new RetryOneTime(100))) {
                c.start();
                List<ACL> acl = c.getACL().forPath("/fable/hosts/" + r.peerHostId());
                assertTrue(acl.stream().anyMatch(a -> a.getId().getScheme().equals("digest") && a.getId().getId().startsWith("host-a:")),
                        "host A's node is writable by host A's identity only: " + acl);
            }
        }
    }

    /** Listens as args[0] and echoes; the library starts the host's daemon. */
    public static final class ListenAndEcho {
        public static void main(String[] args) {
            PeerProcess.listenAndEcho(args[0], WAIT);
        }
    }
}
