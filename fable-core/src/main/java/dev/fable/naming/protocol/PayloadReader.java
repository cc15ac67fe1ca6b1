package dev.fable.naming.protocol;

import java.nio.ByteBuffer;
import java.nio.CharBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CharsetDecoder;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;

/** Bounds-checked reads from one payload; every failure is a {@link ProtocolException}. */
final class PayloadReader {
    private final ByteBuffer b;
    private final String what;

    PayloadReader(ByteBuffer b, String what) {
        this.b = b;
        this.what = what;
    }

    private void need(int n, String field) throws ProtocolException {
        if (b.remaining() < n) {
            throw new ProtocolException(Wire.E_BAD_REQUEST, what + ": truncated at " + field + " (needs " + n + " bytes, " + b.remaining() + " left)");
        }
    }

    int u8(String field) throws ProtocolException {
        need(1, field);
        return b.get() & 0xFF;
    }

    boolean bool(String field) throws ProtocolException {
        int v = u8(field);
        if (v > 1) throw new ProtocolException(Wire.E_BAD_REQUEST, what + ": " + field + " is " + v + ", not a boolean");
        return v == 1;
    }

    int i32(String field) throws ProtocolException {
        need(4, field);
        return b.getInt();
    }

    long i64(String field) throws ProtocolException {
        need(8, field);
        return b.getLong();
    }

    /** A port 0..65535. */
    int port(String field) throws ProtocolException {
        int p = i32(field);
        if (p < 0 || p > 65535) throw new ProtocolException(Wire.E_BAD_REQUEST, what + ": " + field + " " + p + " is not a port");
        return p;
    }

    /** A nullable string. */
    String str(String field) throws ProtocolException {
        need(2, field);
        int len = b.getShort() & 0xFFFF;
        if (len == 0xFFFF) return null;
        if (len > Wire.MAX_STRING) {
            throw new ProtocolException(Wire.E_BAD_REQUEST, what + ": " + field + " is " + len + " bytes, more than " + Wire.MAX_STRING);
        }
        need(len, field);
        CharsetDecoder dec = StandardCharsets.UTF_8.newDecoder()
                .onMalformedInput(CodingErrorAction.REPORT).onUnmappableCharacter(CodingErrorAction.REPORT);
        ByteBuffer slice = b.slice(b.position(), len);
        b.position(b.position() + len);
        try {
            CharBuffer cb = dec.decode(slice);
            return cb.toString();
        } catch (CharacterCodingException e) {
            throw new ProtocolException(Wire.E_BAD_REQUEST, what + ": " + field + " is not valid UTF-8");
        }
    }

    /** A string that must be present. */
    String text(String field) throws ProtocolException {
        String s = str(field);
        if (s == null) throw new ProtocolException(Wire.E_BAD_REQUEST, what + ": " + field + " is missing");
        return s;
    }

    /** An element count, checked against the bytes left given each element's smallest encoding. */
    int count(String field, int minElementBytes) throws ProtocolException {
        int n = i32(field);
        if (n < 0 || (long) n * minElementBytes > b.remaining()) {
            throw new ProtocolException(Wire.E_BAD_REQUEST, what + ": " + field + " count " + n + " does not fit the " + b.remaining() + " bytes left");
        }
        return n;
    }

    void end() throws ProtocolException {
        if (b.hasRemaining()) throw new ProtocolException(Wire.E_BAD_REQUEST, what + ": " + b.remaining() + " unexpected trailing bytes");
    }
}
