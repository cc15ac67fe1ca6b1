package dev.fable;

import java.time.Duration;

/**
 * A registered name: connect from it, or listen on it. Closing it unregisters the name; connections
 * already made stay open until closed themselves.
 */
public interface Endpoint extends AutoCloseable {
    String name();

    /** Starts accepting connections with trusted, adaptive defaults for the accepted side. */
    default Endpoint listen() {
        return listen(ConnectOptions.trusted());
    }

    /** Starts accepting connections; {@code options} shape this side of every accepted connection. */
    Endpoint listen(ConnectOptions options);

    /** Waits for the next incoming connection. */
    Connection accept();

    /** Waits up to {@code timeout} (negative: without limit); {@code null} if nobody connected. */
    Connection accept(Duration timeout);

    /** The next incoming connection if one is waiting, else {@code null}; never blocks. */
    Connection tryAccept();

    /**
     * Connects to {@code uri}: {@code xio://name} (the name daemon picks the transport, see
     * {@code docs/naming.md}), {@code xio+shm|unix|tcp|tls://name} (that transport, forced), or a plain
     * non-Fable peer: {@code tcp://host:port}, {@code unix:///path} (raw bytes, no message boundaries).
     * {@link ConnectOptions#connectTimeout(java.time.Duration)} bounds how long a missing name is awaited.
     */
    Connection connect(String uri, ConnectOptions options);

    @Override
    void close();
}
