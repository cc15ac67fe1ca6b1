package dev.fable;

/** The peer died or its control connection broke before closing cleanly. */
public class PeerGoneException extends FableException {
    public PeerGoneException(String message) {
        super(message);
    }

    public PeerGoneException(String message, Throwable cause) {
        super(message, cause);
    }
}
