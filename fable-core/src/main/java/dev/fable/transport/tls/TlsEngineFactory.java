package dev.fable.transport.tls;

import javax.net.ssl.KeyManagerFactory;
import javax.net.ssl.SSLEngine;
import javax.net.ssl.X509ExtendedTrustManager;

/**
 * Makes the {@link SSLEngine} of one tls leg. Fable's own is the JDK's JSSE ({@link #JDK}); an optional module
 * (artifact {@code fable-tls-native}: BoringSSL through netty-tcnative) provides a faster one as a service
 * ({@code provides dev.fable.transport.tls.TlsEngineFactory}), which {@link TlsTransport} takes when it is on the
 * module or class path, unless {@code -Dfable.tls.engine=jdk} asks for the JDK's. Either way the leg uses TLS 1.3
 * only, the suites {@link TlsTransport} names, this host's key and the given trust manager (the pin): an
 * implementation must honour all four, and must call the trust manager on every handshake.
 *
 * <p>Implementations are called from any thread that opens or accepts a connection.
 */
public interface TlsEngineFactory {
    /** Fable's default: the JDK's JSSE provider. */
    TlsEngineFactory JDK = new JdkTlsEngines();

    /** Whether the leg should hand this engine direct buffers (a native engine) rather than heap ones (JSSE's fastest). */
    default boolean directBuffers() {
        return false;
    }

    /** A short name for messages, {@code fable flows} and the bench ({@code jdk}, {@code boringssl}). */
    String name();

    /**
     * A new engine, in client mode for the connector ({@code client}) or in server mode requiring a client
     * certificate for the acceptor, restricted to {@code protocols} and {@code suites}.
     *
     * @param client    the connecting side
     * @param keys      this host's key and certificate
     * @param trust     decides about the peer's certificate (the connector's pin, or the acceptor's known hosts)
     * @param cacheKey  engines with equal keys may share set-up state (the pin and the identity are in it)
     * @throws java.security.GeneralSecurityException if the engine cannot be made with these
     */
    SSLEngine newEngine(boolean client, KeyManagerFactory keys, X509ExtendedTrustManager trust, String[] protocols, String[] suites,
                        Object cacheKey) throws java.security.GeneralSecurityException;
}
