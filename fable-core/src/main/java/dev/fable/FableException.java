package dev.fable;

/** Base of Fable's errors. Messages name the endpoint, the transport and what to do. */
public class FableException extends RuntimeException {
    /**
     * Makes the exception with its message.
     *
     * @param message what happened and, where it helps, what to do about it
     */
    public FableException(String message) {
        super(message);
    }

    /**
     * Makes the exception with its message and the exception that caused it.
     *
     * @param message what happened and, where it helps, what to do about it
     * @param cause   the underlying exception (may be null)
     */
    public FableException(String message, Throwable cause) {
        super(message, cause);
    }
}
