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
 * {@link #capacity()} is the slot size, or, for a small message written in place in a shared-memory
 * log (a claim of at most 512 bytes), exactly what was claimed (write) or received (read);
 * {@link #length()} is the number of valid (read) or to-be-sent (write) bytes, starting at
 * {@code min(maxBytes, capacity)} after a claim.
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

    /**
     * Where this buffer's memory lives. An identity getter: it works on a dead buffer too.
     *
     * @return the kind of memory; a read buffer that a switch's drain timeout copied off its old
     *         transport reports {@link Kind#PRIVATE_COPY} from then on
     */
    Kind kind();

    /**
     * The connection that handed this buffer out. An identity getter: it works on a dead buffer too.
     *
     * @return the application's connection this buffer belongs to
     */
    Connection connection();

    /**
     * The connection epoch this buffer belongs to (changes only on reconfiguration). An identity
     * getter: it works on a dead buffer too.
     *
     * @return the epoch of the transport that carried (read) or will carry (write) this buffer
     */
    long epoch();

    /**
     * Whether this is a read buffer. An identity getter: it works on a dead buffer too.
     *
     * @return {@code true} for read buffers, whose writes throw {@link java.nio.ReadOnlyBufferException};
     *         {@code false} for write buffers
     */
    boolean isReadOnly();

    /**
     * The size of this buffer's memory: the upper bound of {@link #length(int)} and of every offset.
     *
     * @return the capacity in bytes
     * @throws IllegalStateException if the buffer was already committed or released
     */
    int capacity();

    /**
     * The number of valid bytes (read buffers) or of bytes {@link #commit()} will send (write buffers).
     *
     * @return the length in bytes, 0 … {@link #capacity()}
     * @throws IllegalStateException if the buffer was already committed or released
     */
    int length();

    /**
     * Sets the number of bytes {@link #commit()} sends (write buffers only), 0 … capacity.
     *
     * @param bytes the new length, 0 … {@link #capacity()}
     * @return this buffer, for chaining ({@code b.length(8).commit()})
     * @throws IndexOutOfBoundsException if {@code bytes} is negative or larger than {@link #capacity()}
     * @throws java.nio.ReadOnlyBufferException if this is a read buffer
     * @throws IllegalStateException if the buffer was already committed or released
     */
    Buffer length(int bytes);

    /**
     * Read buffers: whether the message continues in the next buffer polled (the sender used
     * {@link #commitFragment()}). Always {@code false} for write buffers.
     *
     * @return {@code true} when the next buffer polled continues the same message, {@code false} when
     *         this buffer ends it
     * @throws IllegalStateException if the buffer was already committed or released
     */
    boolean more();

    /**
     * The memory: {@link #capacity()} bytes, read-only for read buffers (the OS enforces it for shared
     * memory). Valid only until commit/release; bytes past {@link #length()} are undefined.
     *
     * <p>A small message in a shared-memory log lies somewhere new each time, so each call makes a new
     * slice of the log (a small object the JIT's escape analysis removes when the caller does not keep
     * it); every other buffer returns the same segment object each time. The typed accessors below
     * never allocate.
     *
     * @return a segment of exactly {@link #capacity()} bytes starting at this buffer's first byte
     * @throws IllegalStateException if the buffer was already committed or released
     */
    MemorySegment segment();

    // Typed access. Multi-byte values are LITTLE-ENDIAN on every platform and transport (the order of
    // x86-64 and aarch64, so no byte is swapped there); offsets are bytes from the start of the buffer,
    // need no alignment, and are checked against capacity(): a value outside throws
    // IndexOutOfBoundsException. Reads of a released or committed buffer throw IllegalStateException.

    /**
     * Reads one byte.
     *
     * @param offset bytes from the start of the buffer, 0 … {@link #capacity()} - 1
     * @return the byte at {@code offset}
     * @throws IndexOutOfBoundsException if the byte is not inside {@link #capacity()}
     * @throws IllegalStateException if the buffer was already committed or released
     */
    byte getByte(int offset);

    /**
     * Reads a little-endian {@code short}; the offset needs no alignment.
     *
     * @param offset bytes from the start of the buffer to the value's first byte
     * @return the value of the 2 bytes at {@code offset}, little-endian
     * @throws IndexOutOfBoundsException if the 2 bytes are not all inside {@link #capacity()}
     * @throws IllegalStateException if the buffer was already committed or released
     */
    short getShort(int offset);

    /**
     * Reads a little-endian {@code int}; the offset needs no alignment.
     *
     * @param offset bytes from the start of the buffer to the value's first byte
     * @return the value of the 4 bytes at {@code offset}, little-endian
     * @throws IndexOutOfBoundsException if the 4 bytes are not all inside {@link #capacity()}
     * @throws IllegalStateException if the buffer was already committed or released
     */
    int getInt(int offset);

    /**
     * Reads a little-endian {@code long}; the offset needs no alignment.
     *
     * @param offset bytes from the start of the buffer to the value's first byte
     * @return the value of the 8 bytes at {@code offset}, little-endian
     * @throws IndexOutOfBoundsException if the 8 bytes are not all inside {@link #capacity()}
     * @throws IllegalStateException if the buffer was already committed or released
     */
    long getLong(int offset);

    /**
     * Reads a little-endian IEEE 754 {@code float}; the offset needs no alignment.
     *
     * @param offset bytes from the start of the buffer to the value's first byte
     * @return the value of the 4 bytes at {@code offset}, little-endian
     * @throws IndexOutOfBoundsException if the 4 bytes are not all inside {@link #capacity()}
     * @throws IllegalStateException if the buffer was already committed or released
     */
    float getFloat(int offset);

    /**
     * Reads a little-endian IEEE 754 {@code double}; the offset needs no alignment.
     *
     * @param offset bytes from the start of the buffer to the value's first byte
     * @return the value of the 8 bytes at {@code offset}, little-endian
     * @throws IndexOutOfBoundsException if the 8 bytes are not all inside {@link #capacity()}
     * @throws IllegalStateException if the buffer was already committed or released
     */
    double getDouble(int offset);

    /**
     * Writes one byte (write buffers only). It does not change {@link #length()}.
     *
     * @param offset bytes from the start of the buffer, 0 … {@link #capacity()} - 1
     * @param value  the byte to write
     * @throws IndexOutOfBoundsException if the byte is not inside {@link #capacity()}
     * @throws java.nio.ReadOnlyBufferException if this is a read buffer
     * @throws IllegalStateException if the buffer was already committed or released
     */
    void putByte(int offset, byte value);

    /**
     * Writes a {@code short}, little-endian (write buffers only); the offset needs no alignment. It does
     * not change {@link #length()}.
     *
     * @param offset bytes from the start of the buffer to the value's first byte
     * @param value  the value to write in 2 bytes
     * @throws IndexOutOfBoundsException if the 2 bytes are not all inside {@link #capacity()}
     * @throws java.nio.ReadOnlyBufferException if this is a read buffer
     * @throws IllegalStateException if the buffer was already committed or released
     */
    void putShort(int offset, short value);

    /**
     * Writes an {@code int}, little-endian (write buffers only); the offset needs no alignment. It does
     * not change {@link #length()}.
     *
     * @param offset bytes from the start of the buffer to the value's first byte
     * @param value  the value to write in 4 bytes
     * @throws IndexOutOfBoundsException if the 4 bytes are not all inside {@link #capacity()}
     * @throws java.nio.ReadOnlyBufferException if this is a read buffer
     * @throws IllegalStateException if the buffer was already committed or released
     */
    void putInt(int offset, int value);

    /**
     * Writes a {@code long}, little-endian (write buffers only); the offset needs no alignment. It does
     * not change {@link #length()}.
     *
     * @param offset bytes from the start of the buffer to the value's first byte
     * @param value  the value to write in 8 bytes
     * @throws IndexOutOfBoundsException if the 8 bytes are not all inside {@link #capacity()}
     * @throws java.nio.ReadOnlyBufferException if this is a read buffer
     * @throws IllegalStateException if the buffer was already committed or released
     */
    void putLong(int offset, long value);

    /**
     * Writes an IEEE 754 {@code float}, little-endian (write buffers only); the offset needs no
     * alignment. It does not change {@link #length()}.
     *
     * @param offset bytes from the start of the buffer to the value's first byte
     * @param value  the value to write in 4 bytes
     * @throws IndexOutOfBoundsException if the 4 bytes are not all inside {@link #capacity()}
     * @throws java.nio.ReadOnlyBufferException if this is a read buffer
     * @throws IllegalStateException if the buffer was already committed or released
     */
    void putFloat(int offset, float value);

    /**
     * Writes an IEEE 754 {@code double}, little-endian (write buffers only); the offset needs no
     * alignment. It does not change {@link #length()}.
     *
     * @param offset bytes from the start of the buffer to the value's first byte
     * @param value  the value to write in 8 bytes
     * @throws IndexOutOfBoundsException if the 8 bytes are not all inside {@link #capacity()}
     * @throws java.nio.ReadOnlyBufferException if this is a read buffer
     * @throws IllegalStateException if the buffer was already committed or released
     */
    void putDouble(int offset, double value);

    /**
     * The first {@link #length()} bytes as a {@link java.nio.ByteBuffer} (little-endian, read-only for
     * read buffers), for code that speaks NIO. A view, not a copy: valid only until commit/release.
     *
     * @return a new view of bytes 0 … {@link #length()} - 1, position 0, limit and capacity {@link #length()};
     *         a later {@link #length(int)} does not change it
     * @throws IllegalStateException if the buffer was already committed or released
     */
    java.nio.ByteBuffer asByteBuffer();

    /**
     * Copies {@code len} bytes from {@code src[srcOff..]} to this buffer at {@code offset} (write buffers
     * only). It does not change {@link #length()}.
     *
     * @param offset where in this buffer the first byte goes
     * @param src    the bytes to copy from
     * @param srcOff index in {@code src} of the first byte to copy
     * @param len    the number of bytes to copy
     * @throws IndexOutOfBoundsException if {@code offset .. offset + len} is not inside {@link #capacity()}
     *                                   or {@code srcOff .. srcOff + len} is not inside {@code src}
     * @throws java.nio.ReadOnlyBufferException if this is a read buffer
     * @throws IllegalStateException if the buffer was already committed or released
     */
    void put(int offset, byte[] src, int srcOff, int len);

    /**
     * Copies {@code len} bytes at {@code offset} to {@code dst[dstOff..]}.
     *
     * @param offset where in this buffer the first byte is read
     * @param dst    the array to copy into
     * @param dstOff index in {@code dst} of the first byte written
     * @param len    the number of bytes to copy
     * @throws IndexOutOfBoundsException if {@code offset .. offset + len} is not inside {@link #capacity()}
     *                                   or {@code dstOff .. dstOff + len} is not inside {@code dst}
     * @throws IllegalStateException if the buffer was already committed or released
     */
    void get(int offset, byte[] dst, int dstOff, int len);

    /**
     * Sends {@link #length()} bytes as the last (or only) fragment of a message. The buffer is dead
     * afterwards.
     *
     * @throws java.nio.ReadOnlyBufferException if this is a read buffer (give those back with {@link #release()})
     * @throws IllegalStateException if the buffer was already committed or released
     */
    void commit();

    /**
     * Sends {@link #length()} bytes as a fragment; the message continues in the next commit. The buffer
     * is dead afterwards.
     *
     * @throws java.nio.ReadOnlyBufferException if this is a read buffer (give those back with {@link #release()})
     * @throws IllegalStateException if the buffer was already committed or released
     */
    void commitFragment();

    /**
     * Sends this read buffer's {@link #length()} bytes on {@code to} as one fragment (a fragment with
     * {@link #more()} stays one: forwarding every buffer of a message forwards the message) and then
     * releases it, as a relay does. Call it on the thread that polled the buffer, as {@link #release()}.
     *
     * <p><b>Zero copy</b> when this buffer lies in a shared-memory slot (a trusted shm connection's message
     * above the inline size, or a publisher's fan-out slot) and {@code to} runs over shared memory now: {@code to}'s
     * peer reads the slot in place (mapping its pool once), and the slot stays held on this buffer's connection
     * until that peer released it (this buffer's sender sees back-pressure meanwhile; at most half its slots are
     * lent at once, beyond that forwards copy). <b>One copy</b> otherwise: small messages of a shared-memory log,
     * private copies, socket buffers, a target on a socket transport. Never blocks: when {@code to} has no room now
     * it returns {@code false} and this buffer stays held (retry, or release it).
     *
     * @param to an open connection whose fragments take {@link #length()} bytes ({@link Connection#maxFragment()})
     * @return {@code true} if the bytes were committed on {@code to} and this buffer released; {@code false} under
     *         {@code to}'s back-pressure
     * @throws IllegalStateException if this is a write buffer (commit those), the buffer is dead, or {@code to} is
     *                               a subscription (it sends nothing)
     * @throws IllegalArgumentException if {@code to}'s fragments are smaller than this buffer
     */
    default boolean forward(Connection to) {
        if (!isReadOnly()) throw new IllegalStateException("forward() is for read buffers; commit() a claimed buffer");
        int n = length();   // throws if dead
        if (to.maxFragment() < n) {
            throw new IllegalArgumentException("cannot forward " + n + " B to " + to + ": its fragments take at most " + to.maxFragment()
                    + " B; give it a larger ConnectOptions.slotSize");
        }
        Buffer out = to.claim(Math.max(n, 1));
        if (out == null) return false;
        if (n > 0) MemorySegment.copy(segment(), 0, out.segment(), 0, n);
        out.length(n);
        if (more()) {
            out.commitFragment();
        } else {
            out.commit();
        }
        release();
        return true;
    }

    /**
     * Gives a read buffer back; any order is allowed. The buffer is dead afterwards.
     *
     * @throws IllegalStateException if this is a write buffer (send those with {@link #commit()}), or if
     *                               the buffer was already committed or released
     */
    void release();
}
