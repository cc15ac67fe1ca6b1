package dev.fable;

/** The name is already registered by a live process. */
public class NameInUseException extends FableException {
    /**
     * Makes the exception with its message.
     *
     * @param message what happened and, where it helps, what to do about it
     */
    public NameInUseException(String message) {
        super(message);
    }

    /**
     * Makes the exception with its message and the exception that caused it.
     *
     * @param message what happened and, where it helps, what to do about it
     * @param cause   the underlying exception (may be null)
     */
    public NameInUseException(String message, Throwable cause) {
        super(message, cause);
    }
}
