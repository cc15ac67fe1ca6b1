package dev.fable.endpoint;

import dev.fable.ConnectOptions;
import dev.fable.Connection;
import dev.fable.Endpoint;
import dev.fable.ExternalListener;
import dev.fable.naming.NameService;

import java.util.concurrent.atomic.AtomicLong;

/**
 * One Fable set-up: its naming client, its transports and its flow table. {@code dev.fable.Fable}
 * builds one per context; nothing here is shared with another runtime in the same JVM.
 */
public final class FableRuntime implements AutoCloseable {
    private final NameService names;
    private final TransportRegistry transports;
    private final FlowTable flows = new FlowTable();
    private final AtomicLong anonymous = new AtomicLong();
    private final RuntimeSettings settings;

    /** Takes {@code names} over: it reports this runtime's flows and carries out the daemon's orders for them. */
    public FableRuntime(NameService names, RuntimeSettings settings) {
        this.names = names;
        this.settings = settings;
        this.transports = new TransportRegistry(names);
        names.flowSource(flows::report);
        names.reconfigurer(flows::reconfigure);
        names.policyListener(flows::followPolicy);
    }

    /** Registers {@code name}; closing the endpoint unregisters it. */
    public Endpoint register(String name) {
        return new LocalEndpoint(name, names, transports, flows, settings, true);
    }

    /** Connects from an anonymous endpoint to {@code uri} (see {@code Fable.connect}). */
    public Connection connect(String uri, ConnectOptions options) {
        Target t = Target.parse(uri);
        String anon = "anon-" + ProcessHandle.current().pid() + "-" + anonymous.incrementAndGet();
        if (t.external()) return TransportRegistry.external(t, anon, options);
        return new LocalEndpoint(anon, names, transports, flows, settings, false).connect(uri, options);
    }

    /** Accepts plain TCP peers on {@code uri}. */
    public ExternalListener listenExternal(String uri, ConnectOptions options) {
        return new ExternalTcpListener(uri, options);
    }

    public NameService names() {
        return names;
    }

    @Override
    public void close() {
        names.close();
    }
}
