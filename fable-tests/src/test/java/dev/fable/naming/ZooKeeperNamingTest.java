package dev.fable.naming;

import dev.fable.NameNotFoundException;
import dev.fable.naming.protocol.ListenAddress;
import dev.fable.naming.protocol.Route;
import dev.fable.naming.protocol.RouteRequest;
import dev.fable.testing.Await;
import org.apache.curator.framework.CuratorFramework;
import org.apache.curator.framework.CuratorFrameworkFactory;
import org.apache.curator.retry.RetryOneTime;
import org.apache.curator.test.InstanceSpec;
import org.apache.curator.test.TestingCluster;
import org.apache.zookeeper.CreateMode;
import org.apache.zookeeper.KeeperException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.*;

/**
 * Names across hosts in a real ZooKeeper ensemble (three servers, Curator's {@code TestingCluster}) with the
 * {@code fable-zookeeper} directory: two daemons (child JVMs, "hosts" 127.0.0.2 and 127.0.0.3 with their own
 * identities and ZooKeeper credentials) find each other's names there; a rogue
 * client with valid credentials of its own cannot change, remove or shadow another host's names or fingerprint;
 * one ZooKeeper server killed goes unnoticed; with the whole ensemble down local names resolve and other hosts'
 * fail with one clear line, until it is back; a withdrawn name and a killed host's names vanish.
 */
@Timeout(value = 180, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
class ZooKeeperNamingTest {
    private static final RouteRequest TRUSTED = new RouteRequest(true, null);
    private static final long WAIT_NANOS = TimeUnit.SECONDS.toNanos(20);
    private static final int SESSION_MS = 4_000;

    @Test
    void daemonsFindEachOthersNamesInARealEnsembleAndNoOtherHostCanTakeThem() throws Exception {
        try (TestingCluster zk = new TestingCluster(3)) {
            zk.start();
            String connect = zk.getConnectString();
            Path stateB = TestDaemon.freshDir("zk-state-b");
            try (TestDaemon a = TestDaemon.start(TestDaemon.freshDir("za"), "fable.host.address=127.0.0.2",
                         "fable.zookeeper=" + connect, "fable.zookeeper.auth=host-a:secret-a", "fable.zookeeper.sessionTimeoutMillis=" + SESSION_MS);
                 TestDaemon b = TestDaemon.start(TestDaemon.freshDir("zb"), "fable.state.dir=" + stateB, "fable.host.address=127.0.0.3",
                         "fable.zookeeper=" + connect, "fable.zookeeper.auth=host-b:secret-b",
                         "fable.zookeeper.sessionTimeoutMillis=" + SESSION_MS);
                 DaemonNameService onA = a.client();
                 DaemonNameService onB = b.client()) {
                String hostB = onB.host().hostId();
                assertNotEquals(onA.host().hostId(), hostB);

                NameService.Registration far = onB.register("far");
                far.listening(new ListenAddress("/run/far.sock", "127.0.0.3", 7777));
                Route ab = onA.resolve("far", TRUSTED, WAIT_NANOS);
                assertFalse(ab.sameHost());
                assertEquals("tcp", ab.transport(), ab.reason());
                assertEquals(hostB, ab.peerHostId());
                assertEquals("127.0.0.3", ab.tcpHost());
                assertEquals(7777, ab.tcpPort());
                assertEquals(onB.host().certFingerprint(), ab.peerCertFingerprint());
                // B never asked anything of A: it knows A's certificate (a tls client's) only through the cluster
                Await.until(() -> onB.isKnownHost(onA.host().certFingerprint()), Duration.ofSeconds(20),
                        () -> "host B does not know the certificate of cluster host A");
                assertTrue(onA.isKnownHost(onB.host().certFingerprint()), "a cluster host's certificate is known");
                assertFalse(onA.isKnownHost("ab".repeat(32)), "a stranger's is not");

                // a rogue with valid ZooKeeper access of its own
                try (CuratorFramework rogue = CuratorFrameworkFactory.builder().connectString(connect).retryPolicy(new RetryOneTime(100))
                        .authorization("digest", "rogue:pw".getBytes(StandardCharsets.UTF_8)).build()) {
                    rogue.start();
                    assertTrue(rogue.blockUntilConnected(20, TimeUnit.SECONDS));
                    String bNode = "/fable/hosts/" + hostB;
                    byte[] evil = ("v1\naddress=10.66.6.6\nfingerprint=" + "66".repeat(32) + "\npid=1\nport=6666\n").getBytes(StandardCharsets.UTF_8);
                    assertThrows(KeeperException.NoAuthException.class, () -> rogue.setData().forPath(bNode + "/names/far", evil), "overwrite B's name");
                    assertThrows(KeeperException.NoAuthException.class, () -> rogue.delete().forPath(bNode + "/names/far"), "remove B's name");
                    assertThrows(KeeperException.NoAuthException.class, () -> rogue.setData().forPath(bNode + "/live", evil), "overwrite B's fingerprint");
                    assertThrows(KeeperException.NoAuthException.class, () -> rogue.create().forPath(bNode + "/names/other", evil), "add a name as B");
                    assertThrows(KeeperException.NoAuthException.class, () -> rogue.delete().forPath(bNode + "/live"), "remove B");
                    // the same name under its own host node: B's came first, B keeps it
                    rogue.create().creatingParentContainersIfNeeded().withMode(CreateMode.EPHEMERAL).forPath("/fable/hosts/rogue/names/far", evil);
                    rogue.create().withMode(CreateMode.EPHEMERAL).forPath("/fable/hosts/rogue/live", evil);
                    Route still = onA.resolve("far", TRUSTED, 0);
                    assertEquals(hostB, still.peerHostId(), "a later publisher does not take a live name");
                    assertEquals(7777, still.tcpPort());
                }   // the rogue's session ends: its own (ephemeral) nodes go

                // one of the three servers dies: nothing noticed
                InstanceSpec victim = zk.getInstances().iterator().next();
                assertTrue(zk.killServer(victim));
                NameService.Registration later = onB.register("later");
                later.listening(new ListenAddress("/run/later.sock", "127.0.0.3", 7778));
                assertEquals(7778, onA.resolve("later", TRUSTED, WAIT_NANOS).tcpPort(), "published and found with one server down");
                assertEquals(7777, onA.resolve("far", TRUSTED, 0).tcpPort());

                // a withdrawn name is gone for the other host
                far.close();
                Await.until(() -> notFound(onA, "far"), Duration.ofSeconds(20), () -> "'far' still resolves after B closed it\nA:\n" + a.log() + "\nB:\n" + b.log());

                // the whole ensemble down: this host's names still resolve, another host's fail with one clear line
                for (InstanceSpec i : zk.getInstances()) if (!i.equals(victim)) assertTrue(zk.killServer(i));
                NameService.Registration local = onA.register("local");
                local.listening(new ListenAddress("/run/local.sock", "127.0.0.2", 7779));
                assertTrue(onA.resolve("local", TRUSTED, 0).sameHost(), "a local name needs no ZooKeeper");
                Await.until(() -> failureOf(onA, "later").contains("unreachable"), Duration.ofSeconds(20),
                        () -> "no clear failure while the ensemble is down: " + failureOf(onA, "later"));
                String down = failureOf(onA, "later");
                assertTrue(down.contains("ZooKeeper at " + connect), down);
                // back: names of other hosts resolve again by themselves (published again if B's session expired meanwhile)
                for (InstanceSpec i : zk.getInstances()) assertTrue(zk.restartServer(i));
                assertEquals(7778, onA.resolve("later", TRUSTED, WAIT_NANOS).tcpPort(), "after the ensemble came back");

                // host B dies (kill -9): its names vanish within the session timeout
                b.kill9();
                long t0 = System.nanoTime();
                Await.until(() -> notFound(onA, "later"), Duration.ofMillis(SESSION_MS * 3L + 10_000),
                        () -> "'later' of the killed host still resolves");
                long ms = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - t0);
                assertTrue(ms < SESSION_MS * 3L, "gone after " + ms + " ms; session timeout " + SESSION_MS + " ms");
            }
        }
    }

    /** The message of resolving {@code name} now, or "" if it resolves. */
    private static String failureOf(DaemonNameService on, String name) {
        try {
            on.resolve(name, TRUSTED, 0);
            return "";
        } catch (NameNotFoundException e) {
            return e.getMessage();
        }
    }

    private static boolean notFound(DaemonNameService on, String name) {
        try {
            on.resolve(name, TRUSTED, 0);
            return false;
        } catch (NameNotFoundException e) {
            return true;
        }
    }
}
