package dev.fable;

/** The connection was closed (by the peer, cleanly, or by this side). */
public class ConnectionClosedException extends FableException {
    /**
     * Makes the exception with its message.
     *
     * @param message what happened and, where it helps, what to do about it
     */
    public ConnectionClosedException(String message) {
        super(message);
    }

    /**
     * Makes the exception with its message and the exception that caused it.
     *
     * @param message what happened and, where it helps, what to do about it
     * @param cause   the underlying exception (may be null)
     */
    public ConnectionClosedException(String message, Throwable cause) {
        super(message, cause);
    }
}
