package dev.fable.transport.stream;

import dev.fable.FableException;

/** How a stream half reports a broken pipe: the connection ends and names the exception to throw. */
interface StreamFailure {
    /** Ends the connection because {@code op} failed with {@code cause}; returns what the caller throws. */
    FableException failed(String op, Exception cause);
}
