package dev.fable;

import java.lang.foreign.MemorySegment;

/**
 * A single-use reference to I/O memory owned by one {@link Connection} (its <em>home</em>).
 *
 * <h2>Ownership</h2>
 * A write buffer comes from {@link Connection#claim(int)} and is given back by {@link #commit()}
 * (or {@link #commitFragment()}); a read buffer comes from {@link Connection#poll()} and is given
 * back by {@link #release()}. After that the buffer is dead: every method except the identity
 * getters throws {@link IllegalStateException}. Buffer objects are recycled, so do not keep
 * references (or the {@link #segment()}) past commit/release. A buffer dropped without commit or
 * release is reported by the leak detector and its slot stays held until the connection closes.
 *
 * <h2>Length</h2>
 * {@link #capacity()} is the slot size; {@link #length()} is the number of valid (read) or
 * to-be-sent (write) bytes, starting at {@code min(maxBytes, capacity)} after a claim.
 *
 * <h2>Threads</h2>
 * A buffer is used by one thread at a time; hand it over with the usual happens-before means.
 */
public interface Buffer {
    /** Where the memory behind a buffer lives. */
    enum Kind {
        /** A slot of a shared-memory pool: the peer's memory (read buffers) or ours that the peer maps (write buffers). */
        SHM_SLOT,
        /**
         * This process's private copy of what the peer wrote: every read buffer of an untrusted shared-memory
         * connection, and a read buffer still held when a switch's drain timeout copied it off the old transport.
         */
        PRIVATE_COPY,
        /** Part of a socket transport's staging (write) or receive (read) area: the kernel copies to or from it. */
        SOCKET_STAGING
    }

    Kind kind();

    /** The connection that handed this buffer out. */
    Connection connection();

    /** The connection epoch this buffer belongs to (changes only on reconfiguration). */
    long epoch();

    /** True for read buffers: writes throw {@link java.nio.ReadOnlyBufferException}. */
    boolean isReadOnly();

    int capacity();

    int length();

    /** Sets the number of bytes {@link #commit()} sends (write buffers only), 0 … capacity. */
    Buffer length(int bytes);

    /** Read buffers: true when the next buffer polled continues the same message. */
    boolean more();

    /**
     * The memory: {@link #capacity()} bytes, read-only for read buffers (the OS enforces it for shared
     * memory). Valid only until commit/release; bytes past {@link #length()} are undefined.
     */
    MemorySegment segment();

    // Typed access. Multi-byte values are LITTLE-ENDIAN on every platform and transport (the order of
    // x86-64 and aarch64, so no byte is swapped there); offsets are bytes from the start of the buffer,
    // need no alignment, and are checked against capacity(): a value outside throws
    // IndexOutOfBoundsException. Reads of a released or committed buffer throw IllegalStateException.

    byte getByte(int offset);

    short getShort(int offset);

    int getInt(int offset);

    long getLong(int offset);

    float getFloat(int offset);

    double getDouble(int offset);

    void putByte(int offset, byte value);

    void putShort(int offset, short value);

    void putInt(int offset, int value);

    void putLong(int offset, long value);

    void putFloat(int offset, float value);

    void putDouble(int offset, double value);

    /**
     * The first {@link #length()} bytes as a {@link java.nio.ByteBuffer} (little-endian, read-only for
     * read buffers), for code that speaks NIO. A view, not a copy: valid only until commit/release.
     */
    java.nio.ByteBuffer asByteBuffer();

    /** Copies {@code len} bytes from {@code src[srcOff..]} to this buffer at {@code offset}. */
    void put(int offset, byte[] src, int srcOff, int len);

    /** Copies {@code len} bytes at {@code offset} to {@code dst[dstOff..]}. */
    void get(int offset, byte[] dst, int dstOff, int len);

    /** Sends {@link #length()} bytes as the last (or only) fragment of a message. */
    void commit();

    /** Sends {@link #length()} bytes as a fragment; the message continues in the next commit. */
    void commitFragment();

    /** Gives a read buffer back; any order is allowed. */
    void release();
}
