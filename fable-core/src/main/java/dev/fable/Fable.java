package dev.fable;

import dev.fable.buffer.LeakDetector;
import dev.fable.naming.DaemonNameService;
import dev.fable.naming.NameService;

import dev.fable.endpoint.ExternalTcpListener;
import dev.fable.endpoint.FableRuntime;
import dev.fable.endpoint.TripwirePoller;

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

    private static volatile FableRuntime shared;

    private static FableRuntime shared() {
        FableRuntime r = shared;
        if (r == null) {
            synchronized (Fable.class) {
                r = shared;
                if (r == null) shared = r = new FableRuntime(DaemonNameService.get());
            }
        }
        return r;
    }

    /** Registers {@code name} for this process; closing the endpoint unregisters it. */
    public static Endpoint register(String name) {
        return shared().register(name);
    }

    /**
     * Connects from an anonymous endpoint of this process to {@code uri}: {@code xio://name} (the
     * daemon picks the transport), {@code xio+shm|unix|tcp|tls://name} (forced), or a plain
     * external peer {@code tcp://host:port} / {@code unix:///path}.
     */
    public static Connection connect(String uri, ConnectOptions options) {
        return shared().connect(uri, options);
    }

    /**
     * Accepts plain, non-Fable TCP peers on {@code tcp://host:port} (port 0: any free one); see
     * {@link ExternalListener}. No name, no daemon: the address is the rendezvous.
     */
    public static ExternalListener listenExternal(String uri, ConnectOptions options) {
        return new ExternalTcpListener(uri, options);
    }

    /** A poller over shared-memory connections that waits with {@code mode} (spinning up to 20 µs first unless BLOCK). */
    public static Poller poller(WaitMode mode) {
        return new TripwirePoller(mode, 20_000);
    }

    /** The naming layer of this process (the daemon client): names, flows, host identity. */
    public static NameService names() {
        return shared().names();
    }

    /** Buffers reported by the leak detector since the JVM started. */
    public static long leakedBuffers() {
        return LeakDetector.leaksReported();
    }
}
