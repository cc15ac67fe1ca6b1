package dev.fable.transport;

import dev.fable.sync.Tripwire;

/** What a {@link dev.fable.Poller} needs from a connection's receiving side. */
public interface Pollable {
    /** True when a poll would return a buffer, or the connection ended (so the caller learns it). */
    boolean readReady();

    /** The tripwire the connection's writer fires when it publishes. */
    Tripwire readWire();
}
