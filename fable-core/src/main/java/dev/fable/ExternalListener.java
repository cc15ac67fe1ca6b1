package dev.fable;

import java.time.Duration;

/**
 * Accepts plain (non-Fable) TCP peers on {@code tcp://host:port}: each accepted socket becomes a
 * {@link Connection} with transport {@code tcp-raw}, like {@code Fable.connect("tcp://…")} gives on
 * the other side of the arrow: {@code send} writes exactly the bytes given, {@code poll} returns the
 * bytes as they arrived (no message boundaries), the peer's end of stream is a clean close. Such
 * connections cannot switch transport.
 *
 * <pre>{@code
 * try (ExternalListener l = Fable.listenExternal("tcp://127.0.0.1:7000", ConnectOptions.trusted());
 *      Connection c = l.accept(Duration.ofSeconds(10))) { ... }
 * }</pre>
 */
public interface ExternalListener extends AutoCloseable {
    /**
     * The port bound (useful with port 0).
     *
     * @return the local TCP port this listener accepts on
     * @throws FableException if the listener is closed
     */
    int port();

    /**
     * The next plain peer, waiting up to {@code timeout} (negative: without limit); null on timeout.
     *
     * @param timeout how long to wait; negative: without limit
     * @return a connection with transport {@code tcp-raw}, or {@code null} if no peer connected in time
     * @throws FableException if accepting fails (for example the listener was closed)
     */
    Connection accept(Duration timeout);

    /** Stops listening and frees the port; connections already accepted stay open. */
    @Override
    void close();
}
