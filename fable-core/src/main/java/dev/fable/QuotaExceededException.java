package dev.fable;

/** The reader holds its whole quota of read buffers; release some (or copy and release) before polling again. */
public class QuotaExceededException extends FableException {
    public QuotaExceededException(String message) {
        super(message);
    }

    public QuotaExceededException(String message, Throwable cause) {
        super(message, cause);
    }
}
