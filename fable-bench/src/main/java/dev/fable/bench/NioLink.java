package dev.fable.bench;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.SocketChannel;

import static java.lang.foreign.ValueLayout.JAVA_INT_UNALIGNED;

/**
 * Baseline, not Fable: a blocking NIO {@link SocketChannel} (Unix domain socket or TCP loopback),
 * written the way a competent Java team would. Frames are a 4-byte length and the message. The
 * writer builds a frame in one direct buffer and sends it with one {@code write} (more only if the
 * socket takes part of it). The reader reads big chunks into one direct buffer, parses frames in
 * place, and moves a partial frame to the front only when the tail cannot hold a whole one.
 */
final class NioLink extends Link {
    static final int HEADER = 4;
    private final SocketChannel ch;
    private final String transport;
    private final ByteBuffer out, in;
    private final MemorySegment outSeg, inSeg;
    private int start, end;   // unparsed bytes of `in` are [start, end)

    NioLink(SocketChannel ch, String transport, int maxSize) {
        this.ch = ch;
        this.transport = transport;
        this.out = ByteBuffer.allocateDirect(HEADER + maxSize).order(ByteOrder.nativeOrder());
        this.outSeg = MemorySegment.ofBuffer(out);
        this.in = ByteBuffer.allocateDirect(Math.max(256 * 1024, 4 * (HEADER + maxSize))).order(ByteOrder.nativeOrder());
        this.inSeg = MemorySegment.ofBuffer(in);
    }

    @Override
    void send(long seq, int size) {
        outSeg.set(JAVA_INT_UNALIGNED, 0, size);
        Pattern.write(outSeg, HEADER, seq, size, args);
        out.clear().limit(HEADER + size);
        try {
            while (out.hasRemaining()) ch.write(out);
        } catch (IOException e) {
            throw new Closed(transport + " write: " + e.getMessage());
        }
    }

    @Override
    long receive(boolean verify) {
        while (true) {
            if (end - start >= HEADER) {
                int len = inSeg.get(JAVA_INT_UNALIGNED, start);
                if (len < Pattern.MIN_SIZE || HEADER + len > in.capacity()) throw new BenchFailure(transport + ": a frame of " + len + " bytes arrived");
                if (end - start >= HEADER + len) {
                    length = len;
                    long seq = Pattern.read(inSeg, start + HEADER, len, verify, args);
                    start += HEADER + len;
                    if (start == end) start = end = 0;
                    return seq;
                }
                if (in.capacity() - start < HEADER + len) {   // the tail cannot hold this frame: move it to the front
                    MemorySegment.copy(inSeg, start, inSeg, 0, end - start);
                    end -= start;
                    start = 0;
                }
            }
            fill();
        }
    }

    private void fill() {
        in.limit(in.capacity()).position(end);
        try {
            int n = ch.read(in);
            if (n < 0) throw new Closed(transport + ": the peer closed the connection");
            end += n;
        } catch (IOException e) {
            throw new Closed(transport + " read: " + e.getMessage());
        }
    }

    @Override
    String transport() {
        return transport;
    }

    @Override
    public void close() {
        try {
            ch.close();
        } catch (IOException ignored) {
            // closing: nothing to do
        }
    }
}
