package dev.fable.naming;

import dev.fable.FableException;
import dev.fable.NameNotFoundException;
import dev.fable.naming.protocol.ListenAddress;
import dev.fable.naming.protocol.Route;
import dev.fable.naming.protocol.RouteRequest;
import org.junit.jupiter.api.Test;

import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.*;

/**
 * Three "hosts" on one machine: daemons with their own runtime and state directories (so distinct
 * host identities) on 127.0.0.2, 127.0.0.3 and 127.0.0.4, finding each other's names in one ZooKeeper
 * server (Curator's {@code TestingServer}, in this JVM). The daemon listens on no network port.
 */
class TwoHostTest {
    private static final RouteRequest TRUSTED = new RouteRequest(true, null);
    private static final long WAIT_NANOS = java.util.concurrent.TimeUnit.SECONDS.toNanos(20);

    @Test
    void daemonsResolveEachOthersNamesOverTcpOnATrustedNetworkAndTlsOtherwise() throws Exception {
        Path stateB = Path.of("target", "fable-state-host-b").toAbsolutePath();
        Path stateC = Path.of("target", "fable-state-host-c").toAbsolutePath();
        try (org.apache.curator.test.TestingServer zk = new org.apache.curator.test.TestingServer();
             TestDaemon a = TestDaemon.start(TestDaemon.freshDir("ha"), "fable.host.address=127.0.0.2", "fable.zookeeper=" + zk.getConnectString());
             TestDaemon b = TestDaemon.start(TestDaemon.freshDir("hb"), "fable.state.dir=" + stateB, "fable.host.address=127.0.0.3",
                     "fable.zookeeper=" + zk.getConnectString());
             TestDaemon c = TestDaemon.start(TestDaemon.freshDir("hc"), "fable.state.dir=" + stateC, "fable.host.address=127.0.0.4",
                     "fable.zookeeper=" + zk.getConnectString(), "fable.trusted.networks=10.0.0.0/8");
             DaemonNameService onA = a.client();
             DaemonNameService onB = b.client();
             DaemonNameService onC = c.client()) {
            assertNotEquals(onA.host().hostId(), onB.host().hostId());
            assertEquals("127.0.0.3", onB.host().advertiseHost());

            NameService.Registration far = onB.register("far");
            far.listening(new ListenAddress("/run/far.sock", "127.0.0.3", 7777));
            NameService.Registration near = onA.register("near");
            near.listening(new ListenAddress("/run/near.sock", "127.0.0.2", 6666));

            Route ab = onA.resolve("far", TRUSTED, WAIT_NANOS);   // B publishes it in ZooKeeper: a moment
            assertFalse(ab.sameHost());
            assertEquals("tcp", ab.transport());
            assertTrue(ab.reason().contains("trusted network 127.0.0.0/8"), ab.reason());
            assertEquals(onB.host().hostId(), ab.peerHostId());
            assertEquals("127.0.0.3", ab.tcpHost());
            assertEquals(7777, ab.tcpPort());
            assertNull(ab.unixPath(), "another host's Unix socket is of no use here");
            assertEquals(onB.host().certFingerprint(), ab.peerCertFingerprint());
            assertEquals(ProcessHandle.current().pid(), ab.peerPid());
            assertTrue(onA.isKnownHost(onB.host().certFingerprint()), "a live cluster host's certificate is known");
            assertFalse(onA.isKnownHost("ab".repeat(32)), "a certificate of no live host is not");

            Route ba = onB.resolve("near", TRUSTED, WAIT_NANOS);
            assertEquals("tcp", ba.transport());
            assertEquals(onA.host().hostId(), ba.peerHostId());
            assertEquals(6666, ba.tcpPort());

            Route cb = onC.resolve("far", TRUSTED, 0);
            assertEquals("tls", cb.transport());
            assertTrue(cb.reason().contains("untrusted network"), cb.reason());
            assertEquals(onB.host().certFingerprint(), cb.peerCertFingerprint());

            assertEquals("tls", onA.resolve("far", new RouteRequest(true, "tls"), 0).transport());
            FableException forced = assertThrows(FableException.class, () -> onA.resolve("far", new RouteRequest(true, "shm"), 0));
            assertTrue(forced.getMessage().contains("only endpoints on this host"), forced.getMessage());

            Route local = onA.resolve("near", TRUSTED, 0);
            assertTrue(local.sameHost());
            assertEquals("shm", local.transport());

            NameNotFoundException missing = assertThrows(NameNotFoundException.class, () -> onA.resolve("nowhere", TRUSTED, 0));
            assertTrue(missing.getMessage().contains("ZooKeeper at " + zk.getConnectString()), missing.getMessage());

            far.close();
            dev.fable.testing.Await.until(() -> {
                try {
                    onA.resolve("far", TRUSTED, 0);
                    return false;
                } catch (NameNotFoundException gone) {
                    return true;
                }
            }, java.time.Duration.ofSeconds(20), () -> "'far' still resolves on A after B withdrew it");

            assertFalse(dev.fable.testing.TcpSockets.listeningOf(ProcessHandle.current().pid()).isEmpty(),
                    "the check sees listening sockets: this JVM's ZooKeeper server's");
            for (TestDaemon d : new TestDaemon[] {a, b, c}) {
                assertEquals(java.util.List.of(), dev.fable.testing.TcpSockets.listeningOf(d.pid()), "a daemon listens on no network port");
            }
        }
    }
}
