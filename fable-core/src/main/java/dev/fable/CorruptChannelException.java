package dev.fable;

/** The peer wrote values into shared memory that break the protocol; the connection is failed. */
public class CorruptChannelException extends FableException {
    public CorruptChannelException(String message) {
        super(message);
    }

    public CorruptChannelException(String message, Throwable cause) {
        super(message, cause);
    }
}
