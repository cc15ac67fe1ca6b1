package dev.fable;

/** The reader holds its whole quota of read buffers; release some (or copy and release) before polling again. */
public class QuotaExceededException extends FableException {
    /**
     * Makes the exception with its message.
     *
     * @param message what happened and, where it helps, what to do about it
     */
    public QuotaExceededException(String message) {
        super(message);
    }

    /**
     * Makes the exception with its message and the exception that caused it.
     *
     * @param message what happened and, where it helps, what to do about it
     * @param cause   the underlying exception (may be null)
     */
    public QuotaExceededException(String message, Throwable cause) {
        super(message, cause);
    }
}
