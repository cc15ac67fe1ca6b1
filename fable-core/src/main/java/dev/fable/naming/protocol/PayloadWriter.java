package dev.fable.naming.protocol;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;

/** Builds one frame (length prefix included); refuses to exceed {@link Wire#MAX_FRAME}. */
final class PayloadWriter {
    private byte[] buf = new byte[128];
    private int pos = 4;   // room for the length

    PayloadWriter(int type, int id) {
        u8(Wire.VERSION);
        u8(type);
        i32(id);
    }

    private void ensure(int n) {
        if (pos + n > buf.length) buf = Arrays.copyOf(buf, Math.max(buf.length * 2, pos + n));
    }

    int size() {
        return pos - 4;
    }

    PayloadWriter u8(int v) {
        ensure(1);
        buf[pos++] = (byte) v;
        return this;
    }

    PayloadWriter bool(boolean v) {
        return u8(v ? 1 : 0);
    }

    PayloadWriter i32(int v) {
        ensure(4);
        ByteBuffer.wrap(buf, pos, 4).putInt(v);
        pos += 4;
        return this;
    }

    PayloadWriter i64(long v) {
        ensure(8);
        ByteBuffer.wrap(buf, pos, 8).putLong(v);
        pos += 8;
        return this;
    }

    /** Writes a nullable string; longer than {@link Wire#MAX_STRING} bytes is a caller bug. */
    PayloadWriter str(String s) {
        if (s == null) {
            ensure(2);
            buf[pos++] = (byte) 0xFF;
            buf[pos++] = (byte) 0xFF;
            return this;
        }
        byte[] bytes = s.getBytes(StandardCharsets.UTF_8);
        if (bytes.length > Wire.MAX_STRING) {
            throw new IllegalArgumentException("string of " + bytes.length + " bytes exceeds the protocol's " + Wire.MAX_STRING + ": " + s.substring(0, 40) + "…");
        }
        ensure(2 + bytes.length);
        buf[pos++] = (byte) (bytes.length >>> 8);
        buf[pos++] = (byte) bytes.length;
        System.arraycopy(bytes, 0, buf, pos, bytes.length);
        pos += bytes.length;
        return this;
    }

    /** Overwrites an int written earlier at payload offset {@code at}. */
    void patchI32(int at, int v) {
        ByteBuffer.wrap(buf, 4 + at, 4).putInt(v);
    }

    /** The frame, length prefix included, ready to write. */
    ByteBuffer frame() {
        int len = pos - 4;
        if (len > Wire.MAX_FRAME) throw new IllegalStateException("message of " + len + " bytes exceeds the frame limit " + Wire.MAX_FRAME);
        ByteBuffer.wrap(buf, 0, 4).putInt(len);
        return ByteBuffer.wrap(buf, 0, pos);
    }
}
