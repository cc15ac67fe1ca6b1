package dev.fable.transport;

import dev.fable.FableException;

import java.nio.BufferUnderflowException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;

/** Bounds-checked reading and writing of handshake fields (the peer's bytes are never trusted). */
public final class Frames {
    private Frames() {}

    public static void putString(ByteBuffer b, String s) {
        byte[] bytes = s.getBytes(StandardCharsets.UTF_8);
        if (bytes.length > 4096) throw new IllegalArgumentException("string too long for a frame: " + s.length());
        b.putShort((short) bytes.length).put(bytes);
    }

    public static String getString(ByteBuffer b, String what) {
        try {
            int len = Short.toUnsignedInt(b.getShort());
            if (len > 4096 || len > b.remaining()) throw new FableException("malformed handshake: " + what + " is " + len + " bytes long");
            byte[] bytes = new byte[len];
            b.get(bytes);
            return new String(bytes, StandardCharsets.UTF_8);
        } catch (BufferUnderflowException e) {
            throw new FableException("malformed handshake: truncated before " + what, e);
        }
    }

    public static int getInt(ByteBuffer b, String what) {
        try {
            return b.getInt();
        } catch (BufferUnderflowException e) {
            throw new FableException("malformed handshake: truncated before " + what, e);
        }
    }

    public static long getLong(ByteBuffer b, String what) {
        try {
            return b.getLong();
        } catch (BufferUnderflowException e) {
            throw new FableException("malformed handshake: truncated before " + what, e);
        }
    }

    public static byte getByte(ByteBuffer b, String what) {
        try {
            return b.get();
        } catch (BufferUnderflowException e) {
            throw new FableException("malformed handshake: truncated before " + what, e);
        }
    }
}
