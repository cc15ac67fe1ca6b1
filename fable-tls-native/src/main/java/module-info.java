/**
 * Optional TLS engine for Fable's tls legs: BoringSSL (netty-tcnative, statically linked) through netty's
 * {@code SSLEngine}. Provides {@code dev.fable.transport.tls.TlsEngineFactory}; fable-core takes it when this module
 * is on the module or class path, unless {@code -Dfable.tls.engine=jdk}.
 */
module dev.fable.tls.boringssl {
    requires dev.fable;
    requires io.netty.handler;
    requires io.netty.buffer;
    requires io.netty.common;
    provides dev.fable.transport.tls.TlsEngineFactory with dev.fable.tls.boringssl.BoringSslEngines;
}
