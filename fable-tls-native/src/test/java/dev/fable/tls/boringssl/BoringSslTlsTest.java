package dev.fable.tls.boringssl;

import dev.fable.ConnectOptions;
import dev.fable.Connection;
import dev.fable.Endpoint;
import dev.fable.Fable;
import dev.fable.transport.tls.HostIdentity;
import dev.fable.transport.tls.TlsEngineFactory;
import dev.fable.transport.tls.TlsTransport;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import javax.net.ssl.KeyManagerFactory;
import javax.net.ssl.SSLEngine;
import javax.net.ssl.SSLEngineResult;
import javax.net.ssl.SSLException;
import javax.net.ssl.X509ExtendedTrustManager;
import java.net.Socket;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.security.cert.CertificateException;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.util.Random;
import java.util.ServiceLoader;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

import static org.junit.jupiter.api.Assertions.*;

/**
 * The BoringSSL engine behind real tls legs, and its duty to the pin: the trust manager Fable gives it decides every
 * handshake (a refusing one fails it on both sides).
 */
class BoringSslTlsTest {
    private static final Duration WAIT = Duration.ofSeconds(30);
    private static final String[] PROTOCOLS = {"TLSv1.3"};
    private static final String[] SUITES = {"TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384"};

    @TempDir
    static Path dir;

    private static Fable.Context context() {
        return new Fable.Context().runtimeDir(dir.resolve("run")).stateDir(dir.resolve("state")).shmDir(dir.resolve("shm"));
    }

    @Test
    void tlsLegsUseBoringSslWhenTheModuleIsThereAndCarryEveryByte() throws Exception {
        assertTrue(ServiceLoader.load(TlsEngineFactory.class).stream().anyMatch(p -> p.type() == BoringSslEngines.class), "the service is declared");
        assertEquals("boringssl", TlsTransport.engineName(), "with the module on the path, tls legs take BoringSSL");
        try (Fable f = Fable.launch(context())) {
            String name = "boringssl-" + ProcessHandle.current().pid();
            try (Endpoint ep = f.endpoint(name).listen(ConnectOptions.trusted())) {
                CompletableFuture<Connection> accepted = CompletableFuture.supplyAsync(() -> ep.accept(WAIT));
                try (Connection c = f.open("xio+tls://" + name, ConnectOptions.trusted());
                     Connection s = accepted.get(WAIT.toSeconds(), TimeUnit.SECONDS)) {
                    assertEquals("tls", c.transport());
                    Random r = new Random(7);
                    for (int size : new int[] {1, 100, 4096, 64 * 1024, 1 << 20}) {
                        byte[] m = new byte[size];
                        r.nextBytes(m);
                        c.send(m);
                        assertArrayEquals(m, s.receiveMessage(WAIT), size + " B connector -> acceptor");
                        s.send(m);
                        assertArrayEquals(m, c.receiveMessage(WAIT), size + " B acceptor -> connector");
                    }
                }
            }
        }
    }

    /** Two engines of the factory shake hands in memory: the trust managers are asked, and a refusal ends the handshake. */
    @Test
    void theTrustManagerDecidesEveryHandshake() throws Exception {
        try (Fable f = Fable.launch(context())) {   // the daemon creates this host's identity in the state directory
            f.endpoint("identity-" + ProcessHandle.current().pid()).listen(ConnectOptions.trusted()).close();
        }
        HostIdentity id = HostIdentity.load(dir.resolve("state"));
        KeyManagerFactory kmf = KeyManagerFactory.getInstance(KeyManagerFactory.getDefaultAlgorithm());
        kmf.init(id.keyStore(), id.password());
        BoringSslEngines engines = new BoringSslEngines();

        Trust pinOk = new Trust(id.fingerprint());
        Trust clientOk = new Trust(id.fingerprint());
        SSLEngine client = engines.newEngine(true, kmf, pinOk, PROTOCOLS, SUITES, "ok-client");
        SSLEngine server = engines.newEngine(false, kmf, clientOk, PROTOCOLS, SUITES, "ok-server");
        handshake(client, server);
        assertEquals(1, pinOk.serverChecks.get(), "the connector's pin was asked");
        assertEquals(1, clientOk.clientChecks.get(), "the acceptor asked about the client's certificate");
        assertEquals("TLSv1.3", client.getSession().getProtocol());

        Trust wrongPin = new Trust("00".repeat(32));
        SSLEngine c2 = engines.newEngine(true, kmf, wrongPin, PROTOCOLS, SUITES, "bad-client");
        SSLEngine s2 = engines.newEngine(false, kmf, new Trust(id.fingerprint()), PROTOCOLS, SUITES, "ok-server");
        assertThrows(SSLException.class, () -> handshake(c2, s2), "a certificate that is not the pinned one ends the handshake");
        assertEquals(1, wrongPin.serverChecks.get());

        Trust unknownClient = new Trust("11".repeat(32));
        SSLEngine c3 = engines.newEngine(true, kmf, new Trust(id.fingerprint()), PROTOCOLS, SUITES, "ok-client");
        SSLEngine s3 = engines.newEngine(false, kmf, unknownClient, PROTOCOLS, SUITES, "bad-server");
        assertThrows(SSLException.class, () -> handshake(c3, s3), "a client of a host the acceptor does not know is refused");
        assertEquals(1, unknownClient.clientChecks.get());
    }

    /** Accepts exactly the certificate with SHA-256 {@code pin}, either way, and counts the questions. */
    private static final class Trust extends X509ExtendedTrustManager {
        final String pin;
        final AtomicInteger serverChecks = new AtomicInteger();
        final AtomicInteger clientChecks = new AtomicInteger();

        Trust(String pin) {
            this.pin = pin;
        }

        private void check(X509Certificate[] chain, AtomicInteger count) throws CertificateException {
            count.incrementAndGet();
            if (chain == null || chain.length == 0 || !pin.equalsIgnoreCase(HostIdentity.fingerprint(chain[0]))) {
                throw new CertificateException("not the pinned certificate");
            }
        }

        @Override public void checkClientTrusted(X509Certificate[] c, String a, Socket s) throws CertificateException { check(c, clientChecks); }
        @Override public void checkClientTrusted(X509Certificate[] c, String a, SSLEngine e) throws CertificateException { check(c, clientChecks); }
        @Override public void checkClientTrusted(X509Certificate[] c, String a) throws CertificateException { check(c, clientChecks); }
        @Override public void checkServerTrusted(X509Certificate[] c, String a, Socket s) throws CertificateException { check(c, serverChecks); }
        @Override public void checkServerTrusted(X509Certificate[] c, String a, SSLEngine e) throws CertificateException { check(c, serverChecks); }
        @Override public void checkServerTrusted(X509Certificate[] c, String a) throws CertificateException { check(c, serverChecks); }
        @Override public X509Certificate[] getAcceptedIssuers() { return new X509Certificate[0]; }
    }

    /** Runs both engines' handshakes against each other through two in-memory buffers. */
    private static void handshake(SSLEngine client, SSLEngine server) throws SSLException {
        ByteBuffer c2s = ByteBuffer.allocateDirect(1 << 17), s2c = ByteBuffer.allocateDirect(1 << 17);
        ByteBuffer app = ByteBuffer.allocateDirect(1 << 17), empty = ByteBuffer.allocate(0);
        client.beginHandshake();
        server.beginHandshake();
        for (int i = 0; i < 1000; i++) {
            boolean done = true;
            for (SSLEngine e : new SSLEngine[] {client, server}) {
                ByteBuffer out = e == client ? c2s : s2c, in = e == client ? s2c : c2s;
                SSLEngineResult.HandshakeStatus hs = e.getHandshakeStatus();
                switch (hs) {
                    case NEED_WRAP -> e.wrap(empty, out);
                    case NEED_UNWRAP, NEED_UNWRAP_AGAIN -> {
                        in.flip();
                        app.clear();
                        e.unwrap(in, app);
                        in.compact();
                    }
                    case NEED_TASK -> {
                        for (Runnable t; (t = e.getDelegatedTask()) != null; ) t.run();
                    }
                    default -> { }
                }
                if (e.getHandshakeStatus() != SSLEngineResult.HandshakeStatus.NOT_HANDSHAKING
                        && e.getHandshakeStatus() != SSLEngineResult.HandshakeStatus.FINISHED) {
                    done = false;
                }
            }
            if (done && c2s.position() == 0 && s2c.position() == 0) return;
        }
        throw new AssertionError("the handshake did not finish: " + client.getHandshakeStatus() + " / " + server.getHandshakeStatus());
    }
}
