package dev.fable;

/** The name is already registered by a live process. */
public class NameInUseException extends FableException {
    public NameInUseException(String message) {
        super(message);
    }

    public NameInUseException(String message, Throwable cause) {
        super(message, cause);
    }
}
