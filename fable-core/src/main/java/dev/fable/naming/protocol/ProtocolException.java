package dev.fable.naming.protocol;

/** Input that is not a valid frame or message of this protocol version; the connection that sent it is closed. */
public final class ProtocolException extends Exception {
    /** One of the {@code Wire.E_*} codes (serialized with the exception). */
    private final int code;

    /**
     * Makes the exception.
     *
     * @param code    one of the {@code Wire.E_*} codes, for the error frame sent before closing
     * @param message what was wrong with the input
     */
    public ProtocolException(int code, String message) {
        super(message);
        this.code = code;
    }

    /**
     * One of the {@code Wire.E_*} codes, for the error frame sent before closing.
     *
     * @return the error code
     */
    public int code() {
        return code;
    }
}
