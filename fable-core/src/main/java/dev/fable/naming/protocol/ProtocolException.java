package dev.fable.naming.protocol;

/** Input that is not a valid frame or message of this protocol version; the connection that sent it is closed. */
public final class ProtocolException extends Exception {
    private final int code;

    public ProtocolException(int code, String message) {
        super(message);
        this.code = code;
    }

    /** One of the {@code Wire.E_*} codes, for the error frame sent before closing. */
    public int code() {
        return code;
    }
}
