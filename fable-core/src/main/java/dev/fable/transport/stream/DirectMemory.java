package dev.fable.transport.stream;

import java.nio.ByteBuffer;

/**
 * Page-aligned direct memory for socket I/O. Plain direct buffers, not arena segments: NIO has to
 * acquire and release the scope of an arena-backed buffer around every read and write, and a
 * gathering write allocates a releaser per buffer for it (measured: ~10 B and a few atomics per
 * message). These buffers have no scope; the memory goes back when the connection's objects are
 * collected. Segments for {@link dev.fable.Buffer}s are views made with {@code MemorySegment.ofBuffer}.
 */
final class DirectMemory {
    private DirectMemory() {}

    static final int PAGE = 4096;

    /** {@code bytes} of zeroed direct memory starting on a page boundary. */
    static ByteBuffer allocate(long bytes) {
        if (bytes > Integer.MAX_VALUE - PAGE) throw new IllegalArgumentException("a socket staging area of " + bytes + " B is too large");
        int whole = (int) ((bytes + PAGE - 1) & -PAGE);   // alignedSlice also trims the end to whole pages
        return ByteBuffer.allocateDirect(whole + PAGE).alignedSlice(PAGE).limit((int) bytes).slice();
    }
}
