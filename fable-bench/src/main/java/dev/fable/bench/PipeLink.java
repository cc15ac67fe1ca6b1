package dev.fable.bench;

import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.lang.foreign.MemorySegment;

import static java.lang.foreign.ValueLayout.JAVA_INT_UNALIGNED;

/**
 * Baseline, not Fable: a child process's stdin and stdout, as a Java team would use them
 * ({@link Process#getOutputStream()} / {@link Process#getInputStream()} in the parent,
 * {@code System.in} and the stdout file descriptor in the child). Frames are a 4-byte length and the
 * message, written from one {@code byte[]} and flushed per message, read with {@code readNBytes}.
 */
final class PipeLink extends Link {
    private final InputStream in;
    private final OutputStream out;
    private final byte[] outBuf, inBuf;
    private final MemorySegment outSeg, inSeg;

    PipeLink(InputStream in, OutputStream out, int maxSize) {
        this.in = in;
        this.out = out;
        this.outBuf = new byte[NioLink.HEADER + maxSize];
        this.inBuf = new byte[NioLink.HEADER + maxSize];
        this.outSeg = MemorySegment.ofArray(outBuf);
        this.inSeg = MemorySegment.ofArray(inBuf);
    }

    @Override
    void send(long seq, int size) {
        outSeg.set(JAVA_INT_UNALIGNED, 0, size);
        Pattern.write(outSeg, NioLink.HEADER, seq, size, args);
        try {
            out.write(outBuf, 0, NioLink.HEADER + size);
            out.flush();
        } catch (IOException e) {
            throw new Closed("pipe write: " + e.getMessage());
        }
    }

    @Override
    long receive(boolean verify) {
        try {
            readFully(0, NioLink.HEADER);
            int len = inSeg.get(JAVA_INT_UNALIGNED, 0);
            if (len < Pattern.MIN_SIZE || NioLink.HEADER + len > inBuf.length) throw new BenchFailure("pipe: a frame of " + len + " bytes arrived");
            readFully(NioLink.HEADER, len);
            length = len;
            return Pattern.read(inSeg, NioLink.HEADER, len, verify, args);
        } catch (IOException e) {
            throw new Closed("pipe read: " + e.getMessage());
        }
    }

    private void readFully(int off, int n) throws IOException {
        if (in.readNBytes(inBuf, off, n) != n) throw new EOFException("the other process closed the pipe");
    }

    @Override
    String transport() {
        return "pipe";
    }

    @Override
    public void close() {
        try {
            out.close();
        } catch (IOException ignored) {
            // closing: nothing to do
        }
    }
}
