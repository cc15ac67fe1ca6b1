package dev.fable;

import dev.fable.flow.LeakDetector;
import dev.fable.naming.DaemonNameService;
import dev.fable.naming.NameService;

import java.util.concurrent.atomic.AtomicLong;

/**
 * Entry point: register a name, connect to a name.
 *
 * <pre>{@code
 * try (Endpoint ep = Fable.register("ledger").listen();
 *      Connection c = ep.accept()) {
 *     Buffer b = c.receive(Duration.ofSeconds(1));
 *     ... b.getLong(0) ...
 *     b.release();
 * }
 *
 * try (Connection c = Fable.connect("xio://ledger", ConnectOptions.trusted())) {
 *     Buffer b = c.claim(64);          // null = back-pressure
 *     b.putLong(0, 42);
 *     b.commit();
 * }
 * }</pre>
 *
 * <p>Names live in this host's name daemon ({@code fabled}), which the first call starts when none
 * runs (unless {@code -Dfable.daemon.autostart=false}); the daemon also picks the transport of an
 * {@code xio://} connect. The JVM needs {@code --enable-native-access=ALL-UNNAMED} (futex,
 * membarrier and fallocate are called through the FFM linker).
 */
public final class Fable {
    private Fable() {}

    private static final AtomicLong ANONYMOUS = new AtomicLong();
    private static volatile Context context;

    private record Context(NameService names, Transports transports) {}

    private static Context context() {
        Context c = context;
        if (c == null) {
            synchronized (Fable.class) {
                c = context;
                if (c == null) {
                    NameService names = DaemonNameService.get();
                    names.flowSource(FlowTable::report);
                    names.reconfigurer(FlowTable::reconfigure);
                    names.policyListener(FlowTable::followPolicy);
                    context = c = new Context(names, new Transports(names));
                }
            }
        }
        return c;
    }

    /** Registers {@code name} for this process; closing the endpoint unregisters it. */
    public static Endpoint register(String name) {
        Context c = context();
        return new LocalEndpoint(name, c.names(), c.transports(), true);
    }

    /**
     * Connects from an anonymous endpoint of this process to {@code uri}: {@code xio://name} (the
     * daemon picks the transport), {@code xio+shm|unix|tcp|tls://name} (forced), or a plain
     * external peer {@code tcp://host:port} / {@code unix:///path}.
     */
    public static Connection connect(String uri, ConnectOptions options) {
        Target t = Target.parse(uri);
        String anon = "anon-" + ProcessHandle.current().pid() + "-" + ANONYMOUS.incrementAndGet();
        if (t.external()) return Transports.external(t, anon, options);
        Context c = context();
        return new LocalEndpoint(anon, c.names(), c.transports(), false).connect(uri, options);
    }

    /**
     * Accepts plain, non-Fable TCP peers on {@code tcp://host:port} (port 0: any free one); see
     * {@link ExternalListener}. No name, no daemon: the address is the rendezvous.
     */
    public static ExternalListener listenExternal(String uri, ConnectOptions options) {
        return new ExternalListener(uri, options);
    }

    /** The naming layer of this process (the daemon client): names, flows, host identity. */
    public static NameService names() {
        return context().names();
    }

    /** Buffers reported by the leak detector since the JVM started. */
    public static long leakedBuffers() {
        return LeakDetector.leaksReported();
    }
}
