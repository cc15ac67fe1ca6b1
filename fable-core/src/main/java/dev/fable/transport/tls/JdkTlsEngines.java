package dev.fable.transport.tls;

import javax.net.ssl.KeyManagerFactory;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLEngine;
import javax.net.ssl.SSLParameters;
import javax.net.ssl.TrustManager;
import javax.net.ssl.X509ExtendedTrustManager;
import java.security.GeneralSecurityException;

/** {@link TlsEngineFactory#JDK}: an {@link SSLContext} of the JDK's provider per engine (the trust manager is per connection). */
final class JdkTlsEngines implements TlsEngineFactory {
    @Override
    public String name() {
        return "jdk";
    }

    @Override
    public SSLEngine newEngine(boolean client, KeyManagerFactory keys, X509ExtendedTrustManager trust, String[] protocols, String[] suites,
                               Object cacheKey) throws GeneralSecurityException {
        SSLContext ctx = SSLContext.getInstance("TLSv1.3");
        ctx.init(keys.getKeyManagers(), new TrustManager[] {trust}, null);
        SSLEngine engine = ctx.createSSLEngine();
        engine.setUseClientMode(client);
        SSLParameters p = engine.getSSLParameters();
        p.setProtocols(protocols);
        p.setCipherSuites(suites);
        if (!client) p.setNeedClientAuth(true);
        engine.setSSLParameters(p);
        return engine;
    }
}
