package dev.fable;

/** No endpoint listens under the name asked for. */
public class NameNotFoundException extends FableException {
    /**
     * Makes the exception with its message.
     *
     * @param message what happened and, where it helps, what to do about it
     */
    public NameNotFoundException(String message) {
        super(message);
    }

    /**
     * Makes the exception with its message and the exception that caused it.
     *
     * @param message what happened and, where it helps, what to do about it
     * @param cause   the underlying exception (may be null)
     */
    public NameNotFoundException(String message, Throwable cause) {
        super(message, cause);
    }
}
