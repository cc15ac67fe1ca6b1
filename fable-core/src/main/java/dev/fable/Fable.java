package dev.fable;

import dev.fable.flow.LeakDetector;
import dev.fable.naming.Rendezvous;
import dev.fable.naming.UdsRendezvous;

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
 * <p>The JVM needs {@code --enable-native-access=ALL-UNNAMED} (futex, membarrier and fallocate are
 * called through the FFM linker).
 */
public final class Fable {
    private Fable() {}

    private static final AtomicLong ANONYMOUS = new AtomicLong();
    private static volatile Rendezvous rendezvous;

    private static Rendezvous rendezvous() {
        Rendezvous r = rendezvous;
        if (r == null) {
            synchronized (Fable.class) {
                r = rendezvous;
                if (r == null) rendezvous = r = new UdsRendezvous();
            }
        }
        return r;
    }

    /** Registers {@code name} for this process; closing the endpoint unregisters it. */
    public static Endpoint register(String name) {
        return new LocalEndpoint(name, rendezvous(), true);
    }

    /** Connects from an anonymous endpoint of this process. */
    public static Connection connect(String uri, ConnectOptions options) {
        String anon = "anon-" + ProcessHandle.current().pid() + "-" + ANONYMOUS.incrementAndGet();
        return new LocalEndpoint(anon, rendezvous(), false).connect(uri, options);
    }

    /** Buffers reported by the leak detector since the JVM started. */
    public static long leakedBuffers() {
        return LeakDetector.leaksReported();
    }
}
