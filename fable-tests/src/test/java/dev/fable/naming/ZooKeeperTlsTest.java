package dev.fable.naming;

import dev.fable.naming.protocol.ListenAddress;
import dev.fable.naming.protocol.Route;
import dev.fable.naming.protocol.RouteRequest;
import dev.fable.testing.PeerProcess;
import org.apache.curator.framework.CuratorFramework;
import org.apache.curator.framework.CuratorFrameworkFactory;
import org.apache.curator.retry.RetryOneTime;
import org.apache.zookeeper.CreateMode;
import org.apache.zookeeper.KeeperException;
import org.apache.zookeeper.client.ZKClientConfig;
import org.apache.zookeeper.server.ZooKeeperServerMain;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.*;

/**
 * The daemons' link to ZooKeeper over TLS, with hosts known by their certificates: a ZooKeeper server (its own JVM)
 * that speaks TLS only and requires a client certificate it trusts; two daemons with a key store each
 * ({@code fable.zookeeper.tls.*}, no digest credentials) find each other's names, and their nodes carry ACLs of
 * their certificates' identities, so a third client with a valid certificate of its own cannot change or remove
 * them; a client without TLS, or with a certificate the server does not trust, does not get in at all.
 */
@Timeout(value = 180, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
class ZooKeeperTlsTest {
    private static final String PASSWORD = "changeit";
    private static final long WAIT_NANOS = TimeUnit.SECONDS.toNanos(30);

    @Test
    void daemonsMeetInAnEnsembleOverTlsAndACertifiedStrangerCannotTouchTheirNodes() throws Exception {
        Path dir = TestDaemon.freshDir("zt");
        Path zkStore = keyPair(dir, "zookeeper", true), aStore = keyPair(dir, "host-a", false), bStore = keyPair(dir, "host-b", false),
                rogueStore = keyPair(dir, "rogue", false), strangerStore = keyPair(dir, "stranger", false);
        Path serverTrust = trustStore(dir, "server-trust", aStore, bStore, rogueStore);   // not the stranger
        Path clientTrust = trustStore(dir, "client-trust", zkStore);
        int port = TestDaemon.freePort("127.0.0.1");
        Path cfg = dir.resolve("zoo.cfg");
        Files.writeString(cfg, "dataDir=" + Files.createDirectories(dir.resolve("data")) + "\ntickTime=500\nsecureClientPort=" + port
                + "\nsecureClientPortAddress=127.0.0.1\nadmin.enableServer=false\n");
        List<PeerProcess> all = new ArrayList<>();
        try {
            PeerProcess server = PeerProcess.start(ZooKeeperServerMain.class, List.of("-Xmx128m",
                    "-Dzookeeper.serverCnxnFactory=org.apache.zookeeper.server.NettyServerCnxnFactory",
                    "-Dzookeeper.ssl.keyStore.location=" + zkStore, "-Dzookeeper.ssl.keyStore.password=" + PASSWORD,
                    "-Dzookeeper.ssl.trustStore.location=" + serverTrust, "-Dzookeeper.ssl.trustStore.password=" + PASSWORD,
                    // clients are hosts known by their certificates, not by the address they connect from
                    "-Dzookeeper.ssl.clientAuth=need", "-Dzookeeper.ssl.clientHostnameVerification=false"), cfg.toString());
            all.add(server);
            String connect = "127.0.0.1:" + port;
            Path stB = TestDaemon.freshDir("zt-state-b");
            try (TestDaemon a = TestDaemon.start(TestDaemon.freshDir("zta"), daemon(connect, "127.0.0.2", aStore, clientTrust, null));
                 TestDaemon b = TestDaemon.start(TestDaemon.freshDir("ztb"), daemon(connect, "127.0.0.3", bStore, clientTrust, stB));
                 DaemonNameService onA = a.client();
                 DaemonNameService onB = b.client()) {
                String hostB = onB.host().hostId();
                NameService.Registration far = onB.register("far");
                far.listening(new ListenAddress("/run/far.sock", "127.0.0.3", 7777));
                Route r;
                try {
                    r = onA.resolve("far", new RouteRequest(true, null), WAIT_NANOS);
                } catch (dev.fable.NameNotFoundException e) {
                    throw new AssertionError(e.getMessage() + "\nA:\n" + a.log() + "\nB:\n" + b.log() + "\nZooKeeper:\n" + server.stderr(), e);
                }
                assertEquals(hostB, r.peerHostId(), () -> "found over TLS\n" + a.log() + "\n" + server.stderr());
                assertEquals(7777, r.tcpPort());
                assertFalse(a.log().contains("are open nodes"), "a host with a certificate gets ACLs of its own:\n" + a.log());

                String farNode = "/fable/hosts/" + hostB + "/names/far";
                try (CuratorFramework rogue = client(connect, rogueStore, clientTrust)) {
                    assertTrue(rogue.blockUntilConnected(20, TimeUnit.SECONDS), "the rogue's certificate is valid: it gets in");
                    assertTrue(new String(rogue.getData().forPath(farNode), StandardCharsets.UTF_8).contains("port=7777"), "and may read");
                    assertThrows(KeeperException.NoAuthException.class, () -> rogue.setData().forPath(farNode, "v1\nport=1\n".getBytes()));
                    assertThrows(KeeperException.NoAuthException.class, () -> rogue.delete().forPath(farNode));
                    assertThrows(KeeperException.NoAuthException.class,
                            () -> rogue.create().withMode(CreateMode.EPHEMERAL).forPath("/fable/hosts/" + hostB + "/names/ledger", "v1\n".getBytes()));
                    assertThrows(KeeperException.NoAuthException.class,
                            () -> rogue.setData().forPath("/fable/hosts/" + hostB + "/live", "v1\nfingerprint=00\n".getBytes()));
                }
                assertEquals(7777, onA.resolve("far", new RouteRequest(true, null), 0).tcpPort(), "B's name is untouched");

                try (CuratorFramework stranger = client(connect, strangerStore, clientTrust);
                     CuratorFramework plain = CuratorFrameworkFactory.builder().connectString(connect).retryPolicy(new RetryOneTime(100))
                             .connectionTimeoutMs(3_000).build()) {
                    plain.start();   // client() started the stranger
                    assertFalse(stranger.blockUntilConnected(4, TimeUnit.SECONDS), "a certificate the server does not trust is refused");
                    assertFalse(plain.blockUntilConnected(1, TimeUnit.SECONDS), "a client without TLS is refused");
                }
            }
        } finally {
            for (PeerProcess p : all) p.close();
        }
    }

    /** Settings of a daemon that reaches ZooKeeper over TLS as the owner of {@code keyStore}. */
    private static String[] daemon(String connect, String self, Path keyStore, Path trustStore, Path stateDir) {
        List<String> s = new ArrayList<>(List.of("fable.host.address=" + self, "fable.zookeeper=" + connect,
                "fable.zookeeper.tls.keyStore=" + keyStore, "fable.zookeeper.tls.keyStorePassword=" + PASSWORD,
                "fable.zookeeper.tls.trustStore=" + trustStore, "fable.zookeeper.tls.trustStorePassword=" + PASSWORD));
        if (stateDir != null) s.add("fable.state.dir=" + stateDir);
        return s.toArray(String[]::new);
    }

    private static CuratorFramework client(String connect, Path keyStore, Path trustStore) {
        ZKClientConfig c = new ZKClientConfig();
        c.setProperty(ZKClientConfig.SECURE_CLIENT, "true");
        c.setProperty(ZKClientConfig.ZOOKEEPER_CLIENT_CNXN_SOCKET, "org.apache.zookeeper.ClientCnxnSocketNetty");
        c.setProperty("zookeeper.ssl.keyStore.location", keyStore.toString());
        c.setProperty("zookeeper.ssl.keyStore.password", PASSWORD);
        c.setProperty("zookeeper.ssl.trustStore.location", trustStore.toString());
        c.setProperty("zookeeper.ssl.trustStore.password", PASSWORD);
        CuratorFramework f = CuratorFrameworkFactory.builder().connectString(connect).retryPolicy(new RetryOneTime(100))
                .connectionTimeoutMs(3_000).zkClientConfig(c).build();
        f.start();
        return f;
    }

    /** A PKCS#12 key store {@code <cn>.p12} with a self-signed certificate for CN={@code cn} (and 127.0.0.1, localhost if a server). */
    private static Path keyPair(Path dir, String cn, boolean server) throws Exception {
        Path store = dir.resolve(cn + ".p12");
        List<String> cmd = new ArrayList<>(List.of("-genkeypair", "-alias", cn, "-keyalg", "EC", "-groupname", "secp256r1", "-dname", "CN=" + cn,
                "-validity", "2", "-keystore", store.toString(), "-storetype", "PKCS12", "-storepass", PASSWORD));
        if (server) cmd.addAll(List.of("-ext", "SAN=ip:127.0.0.1,dns:localhost"));   // the client checks the name it reached
        keytool(cmd);
        return store;
    }

    /** A PKCS#12 trust store {@code <name>.p12} holding the certificates of {@code stores}. */
    private static Path trustStore(Path dir, String name, Path... stores) throws Exception {
        Path trust = dir.resolve(name + ".p12");
        for (Path s : stores) {
            String alias = s.getFileName().toString().replace(".p12", "");
            Path cert = dir.resolve(alias + ".crt");
            if (!Files.exists(cert)) keytool(List.of("-exportcert", "-alias", alias, "-keystore", s.toString(), "-storepass", PASSWORD, "-rfc",
                    "-file", cert.toString()));
            keytool(List.of("-importcert", "-noprompt", "-alias", alias, "-file", cert.toString(), "-keystore", trust.toString(),
                    "-storetype", "PKCS12", "-storepass", PASSWORD));
        }
        return trust;
    }

    private static void keytool(List<String> args) throws Exception {
        List<String> cmd = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "keytool").toString()));
        cmd.addAll(args);
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(p.waitFor(60, TimeUnit.SECONDS) && p.exitValue() == 0, String.join(" ", cmd) + ": " + out);
    }
}
