package dev.fable;

/** The peer died or its control connection broke before closing cleanly. */
public class PeerGoneException extends FableException {
    /**
     * Makes the exception with its message.
     *
     * @param message what happened and, where it helps, what to do about it
     */
    public PeerGoneException(String message) {
        super(message);
    }

    /**
     * Makes the exception with its message and the exception that caused it.
     *
     * @param message what happened and, where it helps, what to do about it
     * @param cause   the underlying exception (may be null)
     */
    public PeerGoneException(String message, Throwable cause) {
        super(message, cause);
    }
}
