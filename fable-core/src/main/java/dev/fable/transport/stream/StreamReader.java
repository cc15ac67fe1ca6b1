package dev.fable.transport.stream;

import dev.fable.Buffer;
import dev.fable.Connection;
import dev.fable.CorruptChannelException;
import dev.fable.QuotaExceededException;
import dev.fable.flow.BufferOwner;
import dev.fable.flow.SlotBuffer;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;

/**
 * Receiving half of a stream connection: one read system call brings as many frames as the kernel
 * has into a receive area of direct memory, and {@link #poll} hands each frame's payload out in
 * place (the kernel's copy is the only one). Read buffers may be held and released in any order.
 *
 * <h2>The receive area (a bipartite buffer)</h2>
 * Frames must be contiguous, and held frames must not move. So the area is used as two regions:
 * <ul>
 *   <li>not wrapped: held frames in {@code [head, parse)}, unparsed bytes in {@code [parse, tail)},
 *       reads go to {@code [tail, capacity)};</li>
 *   <li>wrapped: the {@code oldCount} frames held before the wrap stay where they are, from
 *       {@code head} (the oldest of them) on; the rest continues from 0: held in {@code [0, parse)},
 *       unparsed in {@code [parse, tail)}, reads go to {@code [tail, head)}. When the last old frame
 *       is released the reader is no longer wrapped.</li>
 * </ul>
 * A frame that would cross the region's end is moved (what arrived of it) to offset 0: at most one
 * partial frame per lap of the area. With nothing held in the region and nothing unparsed the
 * region restarts at 0, so a request/response pattern keeps reading into the same hot lines.
 *
 * <p>Held frames are a FIFO in the order they were handed out ({@code heldStart/heldEnd}, capacity
 * = the read quota); a release marks its entry, and the FIFO's released prefix is reclaimed.
 *
 * <p>Single-threaded: the connection's receiving thread owns everything here (plain fields). The
 * bytes come from another process: every header is checked before it is trusted.
 */
final class StreamReader implements BufferOwner {
    private final SocketIo io;
    private final boolean framed;
    private final int maxFragment;
    private final MemorySegment area;
    private final ByteBuffer areaBuffer;
    private final int capacity;
    private final long epoch;
    private final String label;

    private int parse;
    private int tail;
    private boolean wrapped;
    private int oldCount;                   // FIFO entries (from the FIFO head) that lie in the old region

    private final SlotBuffer[] buffers;     // by FIFO position
    private final int[] heldStart;
    private final boolean[] released;
    private int heldHead;
    private int heldCount;

    private boolean endOfStream;
    private boolean closeSeen;
    private long messages;
    private long bytes;

    StreamReader(SocketIo io, boolean framed, int maxFragment, int quota, Arena arena, Connection connection, long epoch, String label) {
        this.io = io;
        this.framed = framed;
        this.maxFragment = maxFragment;
        this.epoch = epoch;
        this.label = label;
        int frameMax = (framed ? StreamFrame.HEADER : 0) + maxFragment;
        this.capacity = (int) Math.max(4L * frameMax, 256 * 1024);
        this.area = arena.allocate(capacity, 4096);
        this.areaBuffer = area.asByteBuffer();
        this.buffers = new SlotBuffer[quota];
        this.heldStart = new int[quota];
        this.released = new boolean[quota];
        for (int i = 0; i < quota; i++) {
            buffers[i] = new SlotBuffer(this, i, connection, Buffer.Kind.SOCKET_STAGING, true, label);
        }
    }

    long messages() { return messages; }

    long bytes() { return bytes; }

    /** The peer's stream ended (EOF, or its close marker was parsed) and everything before it was handed out. */
    boolean ended() {
        return closeSeen || (endOfStream && tail == parse);
    }

    /** True if the peer said goodbye (a CLOSE frame, or EOF of a plain external peer) rather than vanished. */
    boolean endedCleanly() {
        return closeSeen || (!framed && endOfStream);
    }

    /** Bytes read but not handed out (a frame cut short by the peer's death shows here). */
    int unparsed() {
        return tail - parse;
    }

    /** The next frame, reading from the socket once if none is parsed yet; null if nothing complete arrived. */
    Buffer poll() throws IOException {
        if (closeSeen) return null;
        if (heldCount == buffers.length) {
            throw new QuotaExceededException("the reader of " + label + " holds all " + heldCount
                    + " buffers of its read quota; release some before polling again (ConnectOptions.readQuota)");
        }
        Buffer b = next();
        if (b != null || endOfStream) return b;
        fill();
        return next();
    }

    /** True if a poll would find a frame or the end without waiting (reads once when nothing is parsed). */
    boolean readable() throws IOException {
        if (closeSeen || endOfStream || complete()) return true;
        fill();
        return complete() || endOfStream || closeSeen;
    }

    private boolean complete() {
        int avail = tail - parse;
        if (!framed) return avail > 0;
        if (avail < StreamFrame.HEADER) return false;
        int h = area.get(StreamFrame.LAYOUT, parse);   // plain: this thread wrote these bytes (read syscall)
        return (h & StreamFrame.CLOSE) != 0 || avail >= StreamFrame.HEADER + (h & StreamFrame.LENGTH_MASK);
    }

    private Buffer next() {
        int avail = tail - parse;
        if (avail <= 0) return null;
        int start;
        int len;
        boolean more = false;
        if (framed) {
            if (avail < StreamFrame.HEADER) return null;
            int h = area.get(StreamFrame.LAYOUT, parse);   // plain: bytes the read syscall put here; checked below
            if ((h & StreamFrame.CLOSE) != 0) {
                if (h != StreamFrame.CLOSE) throw corrupt("a close marker with payload bits 0x" + Integer.toHexString(h));
                closeSeen = true;
                parse += StreamFrame.HEADER;
                return null;
            }
            len = h & StreamFrame.LENGTH_MASK;
            if (len > maxFragment) {
                throw corrupt("a fragment of " + len + " B, larger than the " + maxFragment + " B the peer announced");
            }
            if (avail < StreamFrame.HEADER + len) return null;
            more = (h & StreamFrame.MORE) != 0;
            start = parse + StreamFrame.HEADER;
        } else {
            start = parse;
            len = Math.min(avail, maxFragment);
        }
        int pos = (heldHead + heldCount) % buffers.length;
        heldStart[pos] = parse;
        released[pos] = false;
        heldCount++;
        parse = start + len;
        messages++;
        bytes += len;
        return buffers[pos].bindReadable(pos, area.asSlice(start, len), len, more, 0, epoch);
    }

    /** One read into the free room, after making room for the frame at {@code parse} if needed. */
    private void fill() throws IOException {
        if (endOfStream) return;
        if (heldCount == oldCount && parse == tail) {
            parse = tail = 0;   // nothing held in this region and nothing pending: restart at its hot start
        }
        makeRoom();
        int limit = regionEnd();
        if (tail >= limit) {
            if (heldCount > 0) {
                throw new QuotaExceededException("the reader of " + label + " holds " + heldCount + " buffers that fill its "
                        + capacity + " B receive area; release some before polling again");
            }
            return;
        }
        areaBuffer.limit(limit).position(tail);
        int n = io.read(areaBuffer);
        if (n < 0) endOfStream = true;
        else tail += n;
    }

    /** Where the current region ends: the area's end, or the oldest frame still held in the old region. */
    private int regionEnd() {
        return wrapped ? heldStart[heldHead] : capacity;
    }

    /** If the frame at {@code parse} cannot complete before the region's end, move what arrived of it to offset 0. */
    private void makeRoom() {
        int end = regionEnd();
        int known = frameSize();
        if (tail < end && (known < 0 || parse + known <= end)) return;
        int partial = tail - parse;
        int full = known >= 0 ? known : (framed ? StreamFrame.HEADER : 0) + maxFragment;
        if (heldCount == oldCount && full <= end) {
            // nothing held in this region: restart it at 0
            MemorySegment.copy(area, parse, area, 0, partial);
        } else if (!wrapped && full <= heldStart[heldHead]) {
            // frames held here: leave them, continue at 0 below the oldest of them
            MemorySegment.copy(area, parse, area, 0, partial);
            wrapped = true;
            oldCount = heldCount;
        } else {
            return;   // held frames leave no room at either end; fill() reports it
        }
        parse = 0;
        tail = partial;
    }

    /** Size of the frame at {@code parse} if its header has arrived, else -1. */
    private int frameSize() {
        if (!framed) return -1;
        if (tail - parse < StreamFrame.HEADER) return -1;
        int h = area.get(StreamFrame.LAYOUT, parse);   // plain: our own read's bytes
        return (h & StreamFrame.CLOSE) != 0 ? StreamFrame.HEADER : StreamFrame.HEADER + Math.min(h & StreamFrame.LENGTH_MASK, maxFragment);
    }

    @Override
    public void commit(SlotBuffer buffer, boolean more) {
        throw new IllegalStateException("commit() is for write buffers; release() a polled buffer");
    }

    @Override
    public void release(SlotBuffer b) {
        released[b.index()] = true;
        b.kill();
        while (heldCount > 0 && released[heldHead]) {
            heldHead = (heldHead + 1) % buffers.length;
            heldCount--;
            if (oldCount > 0 && --oldCount == 0) {
                wrapped = false;   // the old region is free: the new one may grow to the end again
            }
        }
    }

    /** Stops tracking the buffers for leaks (the connection is closing). */
    void untrackAll() {
        for (SlotBuffer b : buffers) b.leakToken().untrack();
    }

    private CorruptChannelException corrupt(String what) {
        return new CorruptChannelException(label + ": the peer sent " + what + "; the connection was shut down. "
                + "Check that both sides run the same Fable version.");
    }
}
