package dev.fable.transport.shm;

import dev.fable.CorruptChannelException;

/** How a ring side reports a peer that broke the protocol: the connection fails, the caller throws the result. */
public interface Faults {
    CorruptChannelException corrupt(String detail);
}
