package dev.fable;

/** Base of Fable's errors. Messages name the endpoint, the transport and what to do. */
public class FableException extends RuntimeException {
    public FableException(String message) {
        super(message);
    }

    public FableException(String message, Throwable cause) {
        super(message, cause);
    }
}
