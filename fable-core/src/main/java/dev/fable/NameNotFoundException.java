package dev.fable;

/** No endpoint listens under the name asked for. */
public class NameNotFoundException extends FableException {
    public NameNotFoundException(String message) {
        super(message);
    }

    public NameNotFoundException(String message, Throwable cause) {
        super(message, cause);
    }
}
