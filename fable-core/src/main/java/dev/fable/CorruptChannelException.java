package dev.fable;

/** The peer wrote values into shared memory that break the protocol; the connection is failed. */
public class CorruptChannelException extends FableException {
    /**
     * Makes the exception with its message.
     *
     * @param message what happened and, where it helps, what to do about it
     */
    public CorruptChannelException(String message) {
        super(message);
    }

    /**
     * Makes the exception with its message and the exception that caused it.
     *
     * @param message what happened and, where it helps, what to do about it
     * @param cause   the underlying exception (may be null)
     */
    public CorruptChannelException(String message, Throwable cause) {
        super(message, cause);
    }
}
