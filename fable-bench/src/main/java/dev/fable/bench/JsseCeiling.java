package dev.fable.bench;

import dev.fable.daemon.HostKeys;
import dev.fable.transport.tls.HostIdentity;

import java.lang.management.ManagementFactory;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.cert.X509Certificate;
import javax.net.ssl.KeyManagerFactory;
import javax.net.ssl.SSLEngine;
import javax.net.ssl.SSLEngineResult;

/**
 * The ceiling JSSE sets for the tls transport on this machine: one thread wraps and unwraps 64 KiB
 * messages between two in-memory SSLEngines (TLS 1.3, AES-128-GCM), no sockets, with heap and with
 * direct buffers, and reports GB/s and bytes allocated per message. Run:
 * {@code java -cp 'fable-cli/target/fable-cli.jar:fable-cli/target/lib/*' dev.fable.bench.JsseCeiling}
 */
public final class JsseCeiling {
    private JsseCeiling() {}

    public static void main(String[] args) throws Exception {
        Path dir = Files.createTempDirectory("fable-jsse-");
        HostIdentity id = HostKeys.loadOrCreate(dir);
        java.util.List<dev.fable.transport.tls.TlsEngineFactory> engines = new java.util.ArrayList<>();
        engines.add(dev.fable.transport.tls.TlsEngineFactory.JDK);
        java.util.ServiceLoader.load(dev.fable.transport.tls.TlsEngineFactory.class).forEach(engines::add);   // fable-tls-native, if here
        for (dev.fable.transport.tls.TlsEngineFactory engine : engines) {
            for (boolean direct : new boolean[] {false, true}) {
                SSLEngine[] pair = handshaken(id, engine);
                ByteBuffer msg = alloc(direct, 64 * 1024), net = alloc(direct, 200_000), out = alloc(direct, 70_000);
                for (int round = 0; round < 4; round++) {
                    long a0 = allocated(), t0 = System.nanoTime();
                    int n = 20_000;
                    for (int i = 0; i < n; i++) {
                        msg.clear();
                        net.clear();
                        while (msg.hasRemaining()) pair[0].wrap(msg, net);
                        net.flip();
                        out.clear();
                        while (net.hasRemaining()) pair[1].unwrap(net, out);
                    }
                    long t = System.nanoTime() - t0;
                    if (round > 0) {   // round 0 is warm-up (C2 compiles the AES/GHASH intrinsics)
                        System.out.printf("%s engine, %s buffers: wrap+unwrap on one thread %.2f GB/s, %d B allocated per 64 KiB message%n",
                                engine.name(), direct ? "direct" : "heap", (double) n * 65536 / t, (allocated() - a0) / n);
                    }
                }
            }
        }
    }

    private static SSLEngine[] handshaken(HostIdentity id, dev.fable.transport.tls.TlsEngineFactory engines) throws Exception {
        KeyManagerFactory kmf = KeyManagerFactory.getInstance(KeyManagerFactory.getDefaultAlgorithm());
        kmf.init(id.keyStore(), id.password());
        javax.net.ssl.X509ExtendedTrustManager any = new javax.net.ssl.X509ExtendedTrustManager() {
            @Override public void checkClientTrusted(X509Certificate[] c, String a) { }
            @Override public void checkServerTrusted(X509Certificate[] c, String a) { }
            @Override public void checkClientTrusted(X509Certificate[] c, String a, java.net.Socket s) { }
            @Override public void checkServerTrusted(X509Certificate[] c, String a, java.net.Socket s) { }
            @Override public void checkClientTrusted(X509Certificate[] c, String a, SSLEngine e) { }
            @Override public void checkServerTrusted(X509Certificate[] c, String a, SSLEngine e) { }
            @Override public X509Certificate[] getAcceptedIssuers() { return new X509Certificate[0]; }
        };
        String[] protocols = {"TLSv1.3"}, suites = {"TLS_AES_128_GCM_SHA256"};
        SSLEngine c = engines.newEngine(true, kmf, any, protocols, suites, "ceiling-client");
        SSLEngine s = engines.newEngine(false, kmf, any, protocols, suites, "ceiling-server");
        ByteBuffer c2s = ByteBuffer.allocate(1 << 20), s2c = ByteBuffer.allocate(1 << 20), app = ByteBuffer.allocate(1 << 20);
        c.beginHandshake();
        s.beginHandshake();
        for (int i = 0; i < 100 && (busy(c) || busy(s)); i++) {
            step(c, s2c, c2s, app);
            step(s, c2s, s2c, app);
        }
        return new SSLEngine[] {c, s};
    }

    private static boolean busy(SSLEngine e) {
        return e.getHandshakeStatus() != SSLEngineResult.HandshakeStatus.NOT_HANDSHAKING;
    }

    private static void step(SSLEngine e, ByteBuffer in, ByteBuffer outNet, ByteBuffer app) throws Exception {
        while (true) {
            switch (e.getHandshakeStatus()) {
                case NEED_TASK -> {
                    Runnable r;
                    while ((r = e.getDelegatedTask()) != null) r.run();
                }
                case NEED_WRAP -> e.wrap(ByteBuffer.allocate(0), outNet);
                case NEED_UNWRAP, NEED_UNWRAP_AGAIN -> {
                    in.flip();
                    SSLEngineResult r = e.unwrap(in, app);
                    in.compact();
                    if (r.getStatus() == SSLEngineResult.Status.BUFFER_UNDERFLOW) return;
                }
                default -> {
                    return;
                }
            }
        }
    }

    private static long allocated() {
        return ((com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean()).getCurrentThreadAllocatedBytes();
    }

    private static ByteBuffer alloc(boolean direct, int n) {
        return direct ? ByteBuffer.allocateDirect(n) : ByteBuffer.allocate(n);
    }
}
