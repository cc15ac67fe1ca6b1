package dev.fable.transport.stream;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;

/**
 * The byte pipe under a stream connection: plain ({@link PlainIo}) or encrypted
 * ({@code dev.fable.transport.tls.TlsIo}). Non-blocking: reads and writes move what they can now.
 * The reading half is used by the receiving thread only, the writing half by the sending thread only.
 */
public interface SocketIo {
    /** Reads into {@code dst}; returns bytes read, 0 if none now, -1 at the end of the stream. */
    int read(ByteBuffer dst) throws IOException;

    /**
     * Takes up to all remaining bytes of {@code srcs[off..off+len)} and returns how many it took.
     * Bytes taken belong to the pipe (a TLS pipe may hold them encrypted until {@link #flush()}).
     */
    long write(ByteBuffer[] srcs, int off, int len) throws IOException;

    /** Pushes bytes the pipe holds; true when it holds none. */
    boolean flush() throws IOException;

    /** Sends the pipe's own end-of-stream marker, if it has one (TLS close_notify); best effort. */
    void shutdownOutput();

    SocketChannel channel();
}
