package dev.fable.naming;

import dev.fable.ConnectOptions;
import dev.fable.NameNotFoundException;
import dev.fable.daemon.cluster.ClusterDirectory;
import dev.fable.daemon.cluster.ClusterProviders;
import dev.fable.naming.protocol.ListenAddress;
import dev.fable.naming.protocol.Route;
import dev.fable.naming.protocol.RouteRequest;
import dev.fable.testing.Await;
import dev.fable.testing.Pair;
import org.apache.curator.framework.CuratorFramework;
import org.apache.curator.framework.CuratorFrameworkFactory;
import org.apache.curator.retry.RetryOneTime;
import org.apache.curator.test.TestingServer;
import org.apache.zookeeper.data.Stat;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.*;

/**
 * Hierarchical names ({@code xio://orders.eu/ledger}): what a name may be; a real connection to one on this host;
 * and across hosts, a path in ZooKeeper's tree ({@code /fable/hosts/HOST/names/orders.eu/ledger}, leading segments
 * as containers), found from another host, listed by {@code fable names --cluster}, gone when withdrawn; one host
 * cannot hold a name and a longer one below it, two hosts can.
 */
@Timeout(value = 120, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
class HierarchicalNamesTest {
    private static final RouteRequest TRUSTED = new RouteRequest(true, null);
    private static final long WAIT_NANOS = TimeUnit.SECONDS.toNanos(20);

    @Test
    void aNameIsSegmentsJoinedBySlashesWithinLimits() {
        for (String ok : List.of("ledger", "orders.eu/ledger", "a/b/c/d/e/f/g/h", "x".repeat(64), "o-1/l_2.v3")) {
            assertEquals(ok, NamingConfig.checkName(ok));
        }
        for (String bad : List.of("", "/ledger", "ledger/", "orders.eu//ledger", "orders/../ledger", "orders/./ledger", "orders/.hidden",
                "a/b/c/d/e/f/g/h/i", "x".repeat(65), "orders eu/ledger", "orders~eu", "orders%2Fledger", "orders\\ledger")) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> NamingConfig.checkName(bad), bad);
            assertTrue(e.getMessage().contains("joined by /"), e.getMessage());
        }
        // the endpoint's socket file: one file per name, no directory climbing
        Path rt = Path.of("/run/fable-x");
        assertEquals(rt.resolve("ep/orders.eu~ledger.sock"), NamingConfig.endpointSocket(rt, "orders.eu/ledger"));
    }

    @Test
    void aHierarchicalNameConnectsOnThisHost() throws Exception {
        String name = "orders-" + ProcessHandle.current().pid() + "/ledger";
        for (String transport : List.of("shm", "unix")) {
            try (Pair p = Pair.open(name, transport, ConnectOptions.trusted(), ConnectOptions.trusted())) {
                assertEquals(name, p.client().peerName());
                byte[] m = "to the ledger".getBytes();
                p.client().send(m);
                assertArrayEquals(m, p.server().receiveMessage(Duration.ofSeconds(10)));
            }
        }
        // a URI's query or an escaped separator is not a name
        for (String bad : List.of("xio://orders/ledger?x=1", "xio://orders%2Fledger", "xio://orders/")) {
            assertThrows(IllegalArgumentException.class, () -> dev.fable.Fable.connect(bad, ConnectOptions.trusted()), bad);
        }
    }

    @Test
    void acrossHostsAHierarchicalNameIsAPathInTheTree() throws Exception {
        try (TestingServer zk = new TestingServer()) {
            String connect = zk.getConnectString();
            Path stB = TestDaemon.freshDir("hn-state-b"), stC = TestDaemon.freshDir("hn-state-c");
            try (TestDaemon a = TestDaemon.start(TestDaemon.freshDir("hna"), "fable.host.address=127.0.0.2", "fable.zookeeper=" + connect);
                 TestDaemon b = TestDaemon.start(TestDaemon.freshDir("hnb"), "fable.state.dir=" + stB, "fable.host.address=127.0.0.3",
                         "fable.zookeeper=" + connect);
                 TestDaemon c = TestDaemon.start(TestDaemon.freshDir("hnc"), "fable.state.dir=" + stC, "fable.host.address=127.0.0.4",
                         "fable.zookeeper=" + connect);
                 DaemonNameService onA = a.client();
                 DaemonNameService onB = b.client();
                 DaemonNameService onC = c.client();
                 CuratorFramework reader = CuratorFrameworkFactory.newClient(connect, new RetryOneTime(100))) {
                reader.start();
                String hostB = onB.host().hostId();
                NameService.Registration ledger = onB.register("orders.eu/ledger");
                ledger.listening(new ListenAddress("/run/l.sock", "127.0.0.3", 7001));
                NameService.Registration audit = onB.register("orders.eu/audit");
                audit.listening(new ListenAddress("/run/a.sock", "127.0.0.3", 7002));

                Route r = onA.resolve("orders.eu/ledger", TRUSTED, WAIT_NANOS);
                assertEquals(hostB, r.peerHostId());
                assertEquals(7001, r.tcpPort());
                assertEquals(7002, onA.resolve("orders.eu/audit", TRUSTED, WAIT_NANOS).tcpPort());
                Stat leaf = reader.checkExists().forPath("/fable/hosts/" + hostB + "/names/orders.eu/ledger");
                Stat prefix = reader.checkExists().forPath("/fable/hosts/" + hostB + "/names/orders.eu");
                assertTrue(leaf != null && leaf.getEphemeralOwner() != 0, "the name is an ephemeral node at its path");
                assertTrue(prefix != null && prefix.getEphemeralOwner() == 0, "its leading segment is a container");
                assertThrows(NameNotFoundException.class, () -> onA.resolve("orders.eu", TRUSTED, 0), "a prefix is no name");

                // B cannot also hold orders.eu (its node holds longer names): reachable on B only, and its log says why
                NameService.Registration bPrefix = onB.register("orders.eu");
                bPrefix.listening(new ListenAddress("/run/o.sock", "127.0.0.3", 7003));
                Await.until(() -> b.log().contains("'orders.eu' is a prefix of another name this host publishes"), Duration.ofSeconds(20), b::log);
                assertEquals(7003, onB.resolve("orders.eu", TRUSTED, 0).tcpPort(), "still B's own, locally");
                bPrefix.close();
                // ... but another host can
                NameService.Registration cPrefix = onC.register("orders.eu");
                cPrefix.listening(new ListenAddress("/run/o.sock", "127.0.0.4", 7004));
                assertEquals(7004, onA.resolve("orders.eu", TRUSTED, WAIT_NANOS).tcpPort());
                assertEquals(7001, onA.resolve("orders.eu/ledger", TRUSTED, 0).tcpPort(), "and B's longer names stay B's");

                ClusterDirectory.Provider provider = ClusterProviders.find(null);
                List<String> listed = provider.hosts(connect, k -> null).stream().filter(h -> h.hostId().equals(hostB))
                        .flatMap(h -> h.names().stream()).map(ClusterDirectory.Entry::name).sorted().toList();
                assertEquals(List.of("orders.eu/audit", "orders.eu/ledger"), listed, "fable names --cluster lists the paths as names");

                ledger.close();
                Await.until(() -> {
                    try {
                        onA.resolve("orders.eu/ledger", TRUSTED, 0);
                        return false;
                    } catch (NameNotFoundException gone) {
                        return true;
                    }
                }, Duration.ofSeconds(20), () -> "orders.eu/ledger still resolves after B withdrew it");
                assertEquals(7002, onA.resolve("orders.eu/audit", TRUSTED, 0).tcpPort(), "its sibling stays");
                audit.close();
                cPrefix.close();
            }
        }
    }
}
