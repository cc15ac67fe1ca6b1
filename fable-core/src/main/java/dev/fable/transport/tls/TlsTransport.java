package dev.fable.transport.tls;

import dev.fable.transport.LegServices;
import dev.fable.FableException;
import dev.fable.transport.tls.HostIdentity;
import dev.fable.transport.stream.SocketIo;
import dev.fable.transport.stream.StreamTransport;

import java.io.IOException;
import java.net.Socket;
import java.nio.channels.SocketChannel;
import java.security.GeneralSecurityException;
import java.security.cert.CertificateException;
import java.security.cert.X509Certificate;
import java.util.function.Predicate;
import java.util.function.Supplier;
import javax.net.ssl.KeyManagerFactory;
import javax.net.ssl.SSLEngine;
import javax.net.ssl.X509ExtendedTrustManager;
import dev.fable.transport.PeerRef;
import dev.fable.transport.ControlChannel;


/**
 * {@code tls}: the {@code tcp} transport through JSSE (TLS 1.3, AES-GCM). Each side presents its
 * host's certificate ({@link HostIdentity}); the peer is verified, not trusted blindly:
 * <ul>
 *   <li>the connector accepts only the certificate whose SHA-256 the naming layer gave in the route
 *       (the daemon vouches for the peer host, like a known-hosts entry);</li>
 *   <li>the acceptor requires a client certificate and accepts it only if its daemon knows that
 *       host (the {@code knownHost} predicate it is given: the naming client's {@code isKnownHost}).</li>
 * </ul>
 * No certificate authority, host name or expiry is involved: the pin is the trust.
 */
public final class TlsTransport extends StreamTransport {
    public static final String NAME = "tls";
    private static final String[] PROTOCOLS = {"TLSv1.3"};
    private static final String[] SUITES = {"TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384"};

    private final Supplier<HostIdentity> identity;
    private final Predicate<String> knownHost;

    public TlsTransport(Supplier<HostIdentity> identity, Predicate<String> knownHost, LegServices services) {
        super(NAME, true, services);
        this.identity = identity;
        this.knownHost = knownHost;
    }

    @Override
    protected boolean secretInReply() {
        return false;
    }

    @Override
    protected SocketIo pipe(ControlChannel control, boolean connector, PeerRef route, long deadline) throws IOException {
        SocketChannel channel = control.channel();
        String what = connector ? "tls connection to '" + route.name() + "'" : "tls connection accepted";
        String expected = connector ? route.certFingerprint() : null;
        if (connector && (expected == null || expected.isEmpty())) {
            throw new FableException(what + ": the naming layer gave no certificate fingerprint for the peer host, so it cannot be "
                    + "verified; connect through the daemon (xio:// names), not to a bare address");
        }
        if (ENGINE_MISSING != null) throw new FableException(what + ": " + ENGINE_MISSING);
        SSLEngine engine;
        try {
            engine = ENGINES.newEngine(connector, keyManagers(), new PinnedTrust(expected, knownHost), PROTOCOLS, SUITES,
                    new EngineKey(connector, expected, identity.get(), knownHost));
        } catch (GeneralSecurityException | RuntimeException e) {
            throw new FableException(what + ": cannot set up TLS (" + ENGINES.name() + " engine) with this host's identity: " + e
                    + (ENGINES == TlsEngineFactory.JDK ? "" : "; -Dfable.tls.engine=jdk uses the JDK's instead"), e);
        }
        TlsIo io = new TlsIo(channel, engine, ENGINES.directBuffers());
        io.handshake(deadline, what);
        if (connector) io.awaitReady(deadline, what, control); else io.sendReady(what, control);
        return io;
    }

    /**
     * What an engine's set-up state depends on: the side, the pin, this host's identity, and the acceptor's judge of
     * client certificates (one per Fable set-up: two set-ups in one process must not share a cached trust manager).
     */
    private record EngineKey(boolean connector, String expectedServer, HostIdentity identity, Predicate<String> knownHost) {}

    /** The engines' maker: a provided one (fable-tls-native) unless {@code fable.tls.engine=jdk}; the JDK's otherwise. */
    static final TlsEngineFactory ENGINES;
    /** Why the engine asked for by {@code fable.tls.engine} is missing (every tls leg then fails with it), or null. */
    private static final String ENGINE_MISSING;

    static {
        String wanted = System.getProperty("fable.tls.engine", "");
        TlsEngineFactory chosen = wanted.equals("jdk") ? TlsEngineFactory.JDK : null;
        if (chosen == null) {
            for (TlsEngineFactory f : java.util.ServiceLoader.load(TlsEngineFactory.class, TlsTransport.class.getClassLoader())) {
                if (wanted.isEmpty() || wanted.equals(f.name())) {
                    chosen = f;
                    break;
                }
            }
        }
        ENGINE_MISSING = chosen == null && !wanted.isEmpty()
                ? "-Dfable.tls.engine=" + wanted + " names no TLS engine on the module or class path (jdk always; boringssl with the "
                        + "fable-tls-native module): add the module, or remove the setting"
                : null;
        ENGINES = chosen == null ? TlsEngineFactory.JDK : chosen;
    }

    /** The name of the TLS engine tls legs use ({@code jdk}, {@code boringssl}): for {@code fable flows} and the bench. */
    public static String engineName() {
        return ENGINES.name();
    }

    /** The key managers of one identity (a process that moved hosts gets the new host's identity, and new ones). */
    private record Keys(HostIdentity identity, KeyManagerFactory managers) {}

    private volatile Keys keys;

    private KeyManagerFactory keyManagers() throws GeneralSecurityException {
        HostIdentity id = identity.get();
        Keys k = keys;
        if (k == null || k.identity() != id) {
            synchronized (this) {
                k = keys;
                if (k == null || k.identity() != id) {
                    KeyManagerFactory kmf = KeyManagerFactory.getInstance(KeyManagerFactory.getDefaultAlgorithm());
                    kmf.init(id.keyStore(), id.password());
                    keys = k = new Keys(id, kmf);
                }
            }
        }
        return k.managers();
    }

    /** Trusts exactly the pinned server certificate, or client certificates of hosts the daemon knows. */
    private static final class PinnedTrust extends X509ExtendedTrustManager {
        private final String expectedServer;
        private final Predicate<String> knownHost;

        PinnedTrust(String expectedServer, Predicate<String> knownHost) {
            this.expectedServer = expectedServer;
            this.knownHost = knownHost;
        }

        private void checkServer(X509Certificate[] chain) throws CertificateException {
            String got = leaf(chain);
            if (expectedServer == null || !expectedServer.equalsIgnoreCase(got)) {
                throw new CertificateException("the peer host's certificate (sha256 " + got + ") is not the one the name daemon "
                        + "announced (" + expectedServer + "); refusing the connection: check that both daemons run with their own, "
                        + "unchanged host identity");
            }
        }

        private void checkClient(X509Certificate[] chain) throws CertificateException {
            String got = leaf(chain);
            if (!knownHost.test(got)) {
                throw new CertificateException("a tls client presented a certificate (sha256 " + got + ") of a host this daemon does not "
                        + "know; run both hosts' daemons with fable.zookeeper on one ensemble (docs/cluster.md)");
            }
        }

        private static String leaf(X509Certificate[] chain) throws CertificateException {
            if (chain == null || chain.length == 0) throw new CertificateException("the peer sent no certificate");
            return HostIdentity.fingerprint(chain[0]);
        }

        @Override public void checkClientTrusted(X509Certificate[] c, String a, Socket s) throws CertificateException { checkClient(c); }
        @Override public void checkClientTrusted(X509Certificate[] c, String a, SSLEngine e) throws CertificateException { checkClient(c); }
        @Override public void checkClientTrusted(X509Certificate[] c, String a) throws CertificateException { checkClient(c); }
        @Override public void checkServerTrusted(X509Certificate[] c, String a, Socket s) throws CertificateException { checkServer(c); }
        @Override public void checkServerTrusted(X509Certificate[] c, String a, SSLEngine e) throws CertificateException { checkServer(c); }
        @Override public void checkServerTrusted(X509Certificate[] c, String a) throws CertificateException { checkServer(c); }
        @Override public X509Certificate[] getAcceptedIssuers() { return new X509Certificate[0]; }
    }
}
