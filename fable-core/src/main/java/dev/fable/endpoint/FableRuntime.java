package dev.fable.endpoint;

import dev.fable.buffer.LeakDetector;
import dev.fable.transport.LegServices;
import dev.fable.transport.Liveness;
import dev.fable.ConnectOptions;
import dev.fable.Connection;
import dev.fable.Endpoint;
import dev.fable.ExternalListener;
import dev.fable.naming.NameService;

import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Supplier;

/**
 * One Fable set-up: its naming client, its transports, its flow table and its leak detector.
 * {@code dev.fable.Fable} builds one per context; none of these is shared with another runtime in
 * the same JVM. The naming client is made on first need: a program that only talks to plain
 * {@code tcp://} peers never needs a daemon.
 */
public final class FableRuntime implements AutoCloseable {
    private final Supplier<NameService> connectNames;
    private volatile NameService names;
    private final TransportRegistry transports;
    private final FlowTable flows = new FlowTable();
    private final AtomicLong anonymous = new AtomicLong();
    private final RuntimeSettings settings;
    private final LegServices services;
    private final Thread exitHook;
    private static final AtomicLong RUNTIMES = new AtomicLong();

    /**
     * {@code connectNames} makes this runtime's naming client when first needed; the runtime takes it
     * over: it reports this runtime's flows and carries out the daemon's orders for them.
     */
    public FableRuntime(Supplier<NameService> connectNames, RuntimeSettings settings) {
        this.connectNames = connectNames;
        this.settings = settings;
        this.services = new LegServices(settings.leakLevel(), Long.toString(RUNTIMES.incrementAndGet()),
                Liveness.ofMillis(settings.peerTimeoutMillis()), settings.peerLimits());
        this.exitHook = Thread.ofPlatform().unstarted(flows::closeAll);
        Runtime.getRuntime().addShutdownHook(exitHook);   // a normal exit (SIGTERM, System.exit, main returning) closes cleanly
        this.transports = new TransportRegistry(cert -> names().isKnownHost(cert), settings.stateDir(), settings.shmDir(), services);
    }

    /** This runtime's naming client, connected (and the daemon started, if allowed) on the first call. */
    public NameService names() {
        NameService n = names;
        if (n == null) {
            synchronized (this) {
                n = names;
                if (n == null) {
                    n = connectNames.get();
                    n.flowSource(flows::report);
                    n.reconfigurer(flows::reconfigure);
                    n.policyListener(flows::followPolicy);
                    names = n;
                }
            }
        }
        return n;
    }

    /** Registers {@code name}; closing the endpoint unregisters it. */
    public Endpoint register(String name) {
        return new LocalEndpoint(name, names(), transports, flows, settings, true);
    }

    /** Connects from an anonymous endpoint to {@code uri} (see {@code Fable.connect}). */
    public Connection connect(String uri, ConnectOptions options) {
        Target t = Target.parse(uri);
        String anon = "anon-" + ProcessHandle.current().pid() + "-" + anonymous.incrementAndGet();
        if (t.external()) {
            Connection c = transports.external(t, anon, options);
            flows.add(c, "plain peer (" + uri + ")");
            return c;
        }
        return new LocalEndpoint(anon, names(), transports, flows, settings, false).connect(uri, options);
    }

    /** Subscribes from an anonymous endpoint to the publisher {@code uri} (see {@code Fable.subscribe}). */
    public Connection subscribe(String uri, ConnectOptions options) {
        Target t = Target.parse(uri);
        if (t.external()) throw new IllegalArgumentException("subscribe(" + uri + "): a publisher is named by xio://name (or xio+TRANSPORT://name), not by an address");
        String anon = "anon-" + ProcessHandle.current().pid() + "-" + anonymous.incrementAndGet();
        return new LocalEndpoint(anon, names(), transports, flows, settings, false).subscribe(uri, options);
    }

    /** Accepts plain TCP peers on {@code uri}. */
    public ExternalListener listenExternal(String uri, ConnectOptions options) {
        return new ExternalTcpListener(uri, options, services, (c, why) -> flows.add(c, why, false));
    }

    /** This runtime's leak detector: every buffer of its connections is tracked by it. */
    public LeakDetector leaks() {
        return services.leaks();
    }

    /** This runtime's leak detector and threads (tests: a closed runtime leaves no thread running). */
    public LegServices services() {
        return services;
    }

    @Override
    public void close() {
        try {
            Runtime.getRuntime().removeShutdownHook(exitHook);
        } catch (IllegalStateException exiting) {
            // the JVM is exiting: the hook runs (or ran) anyway
        }
        NameService n = names;
        if (n != null) n.close();
        services.close();
    }
}
