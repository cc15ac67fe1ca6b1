package dev.fable.transport;

import dev.fable.sync.Tripwire;

/** What a {@link dev.fable.Poller} needs from a connection's receiving side. */
public interface Pollable {
    /** True when a poll would return a buffer, or the connection ended (so the caller learns it). */
    boolean readReady();

    /**
     * {@link #readReady()} without the receiving role's bookkeeping, safe from a thread that does not read the
     * connection (a Poller's watcher): data, the end of input or of the connection. A stale view only says ready
     * early. Read buffers lent on to another connection coming back are not seen here.
     */
    boolean dataOrEndSeen();

    /** The tripwire the connection's writer fires when it publishes. */
    Tripwire readWire();
}
