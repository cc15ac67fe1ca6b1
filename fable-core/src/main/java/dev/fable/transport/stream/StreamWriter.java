package dev.fable.transport.stream;

import dev.fable.Buffer;
import dev.fable.Connection;
import dev.fable.flow.BufferOwner;
import dev.fable.flow.SlotBuffer;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/**
 * Sending half of a stream connection. {@link #claim} hands out a staging slot of direct memory with
 * {@link StreamFrame#HEADER} bytes of room in front, so the application writes its payload where
 * the socket will take it from; {@link #commit} writes the header into that room and queues the
 * slot; {@link #flush} gathers every queued slot into one {@code writev}. A slot is free again once
 * the pipe took all its bytes.
 *
 * <p>Invariants: a slot is in exactly one of {free stack, claimed by the application, send queue};
 * the queue holds slots in commit order, so messages leave in commit order whatever order they were
 * claimed in; only the queue's head may be partly written.
 *
 * <p>Single-threaded: the connection's sending thread owns everything here (plain fields).
 */
final class StreamWriter implements BufferOwner {
    private final SocketIo io;
    private final boolean framed;
    private final int slotSize;
    private final MemorySegment[] payload;
    private final ByteBuffer[] frame;        // header room + payload of each slot, as the socket sees it
    private final SlotBuffer[] buffers;
    private final int[] free;
    private int freeCount;
    private final int[] queue;               // ring of slot numbers in commit order
    private final ByteBuffer[] gather;       // scratch for one writev, reused
    private int queueHead;
    private int queueSize;
    private final long epoch;
    private final StreamFailure failure;
    private final ByteBuffer closeFrame = ByteBuffer.allocateDirect(StreamFrame.HEADER).order(ByteOrder.LITTLE_ENDIAN);
    private boolean closeQueued;
    private long messages;
    private long bytes;

    StreamWriter(SocketIo io, boolean framed, int slotSize, int slots, Arena arena, Connection connection, long epoch,
                 StreamFailure failure, String label) {
        this.io = io;
        this.failure = failure;
        this.framed = framed;
        this.slotSize = slotSize;
        this.epoch = epoch;
        int header = framed ? StreamFrame.HEADER : 0;
        long stride = align(header + (long) slotSize, 64);
        MemorySegment staging = arena.allocate(stride * slots, 4096);
        payload = new MemorySegment[slots];
        frame = new ByteBuffer[slots];
        buffers = new SlotBuffer[slots];
        free = new int[slots];
        queue = new int[slots];
        gather = new ByteBuffer[slots];
        for (int i = 0; i < slots; i++) {
            MemorySegment s = staging.asSlice(i * stride, header + (long) slotSize);
            payload[i] = s.asSlice(header, slotSize);
            frame[i] = s.asByteBuffer().order(ByteOrder.LITTLE_ENDIAN);
            buffers[i] = new SlotBuffer(this, i, connection, Buffer.Kind.SOCKET_STAGING, false, label);
            free[i] = slots - 1 - i;
        }
        freeCount = slots;
    }

    private static long align(long v, long a) {
        return (v + a - 1) & -a;
    }

    int slotSize() { return slotSize; }

    long messages() { return messages; }

    long bytes() { return bytes; }

    /** A free staging slot, or null when every slot is claimed or still waiting for the socket. */
    Buffer claim(int maxBytes) {
        if (freeCount == 0) {
            flush();
            if (freeCount == 0) return null;
        }
        int slot = free[--freeCount];
        int len = Math.max(0, Math.min(maxBytes, slotSize));
        return buffers[slot].bindWritable(slot, payload[slot], len, epoch);
    }

    /** True if a claim would succeed now (after pushing what the socket takes). */
    boolean spaceAvailable() {
        if (freeCount == 0) flush();
        return freeCount > 0;
    }

    /** True if nothing is queued or held by the pipe. */
    boolean drained() {
        return queueSize == 0 && flushPipe();
    }

    @Override
    public void commit(SlotBuffer b, boolean more) {
        int slot = b.slot();
        int len = b.length();
        b.kill();
        ByteBuffer f = frame[slot];
        int header = 0;
        if (framed) {
            header = StreamFrame.HEADER;
            f.putInt(0, more ? (len | StreamFrame.MORE) : len);   // little-endian (set in the constructor)
        }
        f.limit(header + len).position(0);
        queue[(queueHead + queueSize) % queue.length] = slot;
        queueSize++;
        messages++;
        bytes += len;
        flush();
    }

    /**
     * Queues the CLOSE marker behind every committed frame and pushes what the pipe takes now.
     * Returns true when everything, the marker included, has been handed to the pipe.
     */
    boolean pushClose() {
        if (framed && !closeQueued) {
            closeQueued = true;
            closeFrame.putInt(0, StreamFrame.CLOSE);
        }
        flush();
        if (queueSize > 0) return false;
        try {
            if (framed && closeFrame.hasRemaining()) {
                io.write(new ByteBuffer[] {closeFrame}, 0, 1);
                if (closeFrame.hasRemaining()) return false;
            }
            return io.flush();
        } catch (IOException | RuntimeException e) {
            return true;   // the peer is gone: nothing more to push
        }
    }

    /** Stops tracking the buffers for leaks (the connection is closing). */
    void untrackAll() {
        for (SlotBuffer b : buffers) b.leakToken().untrack();
    }

    @Override
    public void release(SlotBuffer buffer) {
        throw new IllegalStateException("release() is for read buffers; commit() a claimed buffer");
    }

    /** Writes as much of the queue as the pipe takes now; frees fully written slots. */
    void flush() {
        try {
            if (!io.flush() || queueSize == 0) return;
            int n = 0;
            for (int i = 0; i < queueSize; i++) gather[n++] = frame[queue[(queueHead + i) % queue.length]];
            io.write(gather, 0, n);
            while (queueSize > 0) {
                int slot = queue[queueHead];
                if (frame[slot].hasRemaining()) break;
                free[freeCount++] = slot;
                queueHead = (queueHead + 1) % queue.length;
                queueSize--;
            }
            io.flush();
        } catch (IOException | RuntimeException e) {
            throw failure.failed("send", e);
        }
    }

    private boolean flushPipe() {
        try {
            return io.flush();
        } catch (IOException | RuntimeException e) {
            throw failure.failed("send", e);
        }
    }
}
