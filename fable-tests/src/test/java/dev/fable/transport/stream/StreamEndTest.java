package dev.fable.transport.stream;

import dev.fable.Buffer;
import dev.fable.buffer.LeakDetector;
import org.junit.jupiter.api.Test;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.SocketChannel;

import static org.junit.jupiter.api.Assertions.*;

/**
 * The end of a stream whose peer died mid-write ({@code kill -9}, found by KillCampaignTest): what
 * arrived of a frame can never complete, so the stream has ended. A reader that waited for the rest
 * saw its socket readable (at its end) forever, and a blocked receive spun without end.
 */
class StreamEndTest {
    /** A pipe that yields {@code bytes} (in one read) and then the end of the stream. */
    private static final class ThenEnd implements SocketIo {
        private final ByteBuffer left;

        ThenEnd(ByteBuffer bytes) {
            this.left = bytes;
        }

        @Override
        public int read(ByteBuffer dst) {
            if (!left.hasRemaining()) return -1;
            int n = Math.min(dst.remaining(), left.remaining());
            dst.put(left.slice(left.position(), n));
            left.position(left.position() + n);
            return n;
        }

        @Override
        public long write(ByteBuffer[] srcs, int off, int len) {
            throw new UnsupportedOperationException();
        }

        @Override
        public boolean flush() {
            return true;
        }

        @Override
        public void shutdownOutput() {}

        @Override
        public SocketChannel channel() {
            return null;
        }
    }

    private static StreamReader reader(ByteBuffer bytes) {
        return new StreamReader(new ThenEnd(bytes.flip()), true, 4096, 16, () -> null, 0, "test", new LeakDetector(LeakDetector.Level.OFF));
    }

    /** A frame header for {@code payload} bytes, and the payload bytes 0, 1, 2, ... of it that {@code sent} says arrived. */
    private static ByteBuffer frame(ByteBuffer b, int payload, int sent) {
        b.putInt(payload).putInt(0);
        for (int i = 0; i < sent; i++) b.put((byte) i);
        if (sent == payload) b.position(b.position() + StreamFrame.size(payload) - StreamFrame.HEADER - payload);   // padding to 8
        return b;
    }

    private static ByteBuffer bytes() {
        return ByteBuffer.allocate(4096).order(ByteOrder.LITTLE_ENDIAN);
    }

    @Test
    void aFrameCutShortEndsTheStreamAfterTheWholeFramesBeforeIt() throws Exception {
        StreamReader r = reader(frame(frame(bytes(), 10, 10), 100, 20));
        Buffer whole = r.poll();
        assertNotNull(whole, "the whole frame before the cut is delivered");
        assertEquals(10, whole.length());
        assertFalse(r.ended(), "a whole frame was still to be read");
        whole.release();
        assertNull(r.poll(), "the cut frame is never handed out");
        assertTrue(r.ended(), "nothing more can complete the cut frame: the stream has ended");
        assertFalse(r.endedCleanly());
        assertEquals(StreamFrame.HEADER + 20, r.unparsed(), "the bytes of the cut frame, dropped");
        assertTrue(r.readable(), "a receiver waiting on it wakes and finds the end");
    }

    @Test
    void aHeaderCutShortEndsTheStream() throws Exception {
        StreamReader r = reader(bytes().put(new byte[] {5, 0, 0}));
        assertNull(r.poll(), "no whole header");
        assertTrue(r.readable(), "a receiver waiting on it wakes (the end)");
        assertNull(r.poll());
        assertTrue(r.ended(), "three bytes of a header and then the end");
        assertEquals(3, r.unparsed());
    }

    @Test
    void aWholeFrameBeforeTheEndIsDeliveredFirst() throws Exception {
        StreamReader r = reader(frame(bytes(), 10, 10));
        assertTrue(r.readable());
        assertFalse(r.ended(), "the frame is still to be read");
        Buffer b = r.poll();
        assertNotNull(b);
        b.release();
        assertNull(r.poll());
        assertTrue(r.ended());
        assertEquals(0, r.unparsed());
    }
}
