package dev.fable.tls.boringssl;

import dev.fable.transport.tls.TlsEngineFactory;
import io.netty.buffer.ByteBufAllocator;
import io.netty.handler.ssl.ClientAuth;
import io.netty.handler.ssl.OpenSsl;
import io.netty.handler.ssl.SslContext;
import io.netty.handler.ssl.SslContextBuilder;
import io.netty.handler.ssl.SslProvider;

import javax.net.ssl.KeyManagerFactory;
import javax.net.ssl.SSLEngine;
import javax.net.ssl.SSLException;
import javax.net.ssl.X509ExtendedTrustManager;
import java.security.GeneralSecurityException;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Engines of BoringSSL: one netty {@link SslContext} (a native {@code SSL_CTX} holding this host's key and the
 * connection's trust manager) per distinct {@code cacheKey} — the side, the pin and the identity — kept for the
 * last {@link #CACHED} keys, and one engine per connection from it. The engines are netty's non-reference-counted
 * kind: their native state is freed when they are collected, so a leg does not have to release them.
 *
 * <p>If BoringSSL cannot load on this machine ({@link OpenSsl#isAvailable()} false: no native library for this
 * platform), {@link #newEngine} fails with the reason; {@code -Dfable.tls.engine=jdk} then uses the JDK's engine.
 */
public final class BoringSslEngines implements TlsEngineFactory {
    /** Set-up states kept: a host talks to a few peer hosts, each pin one context per side. */
    static final int CACHED = 64;

    private final Map<Object, SslContext> contexts = new LinkedHashMap<>(16, 0.75f, true) {
        @Override
        protected boolean removeEldestEntry(Map.Entry<Object, SslContext> eldest) {
            return size() > CACHED;
        }
    };

    /** For {@code ServiceLoader}. */
    public BoringSslEngines() {
    }

    @Override
    public String name() {
        return "boringssl";
    }

    /** Direct: netty's engine copies heap buffers into direct ones around each native call (2.6 against 3.9 GB/s). */
    @Override
    public boolean directBuffers() {
        return true;
    }

    @Override
    public SSLEngine newEngine(boolean client, KeyManagerFactory keys, X509ExtendedTrustManager trust, String[] protocols, String[] suites,
                               Object cacheKey) throws GeneralSecurityException {
        if (!OpenSsl.isAvailable()) {
            throw new GeneralSecurityException("BoringSSL (netty-tcnative) did not load on this machine: " + OpenSsl.unavailabilityCause());
        }
        SslContext ctx;
        synchronized (contexts) {
            ctx = contexts.get(cacheKey);
            if (ctx == null) {
                ctx = context(client, keys, trust, protocols, suites);
                contexts.put(cacheKey, ctx);
            }
        }
        return ctx.newEngine(ByteBufAllocator.DEFAULT);
    }

    private static SslContext context(boolean client, KeyManagerFactory keys, X509ExtendedTrustManager trust, String[] protocols,
                                      String[] suites) throws GeneralSecurityException {
        SslContextBuilder b = client ? SslContextBuilder.forClient().keyManager(keys) : SslContextBuilder.forServer(keys).clientAuth(ClientAuth.REQUIRE);
        try {
            return b.sslProvider(SslProvider.OPENSSL)
                    .trustManager(trust)
                    .protocols(protocols)
                    .ciphers(Arrays.asList(suites))
                    .build();
        } catch (SSLException e) {
            throw new GeneralSecurityException("cannot make a BoringSSL context for " + (client ? "a connector" : "an acceptor") + ": " + e.getMessage(), e);
        }
    }
}
