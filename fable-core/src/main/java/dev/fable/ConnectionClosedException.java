package dev.fable;

/** The connection was closed (by the peer, cleanly, or by this side). */
public class ConnectionClosedException extends FableException {
    public ConnectionClosedException(String message) {
        super(message);
    }

    public ConnectionClosedException(String message, Throwable cause) {
        super(message, cause);
    }
}
