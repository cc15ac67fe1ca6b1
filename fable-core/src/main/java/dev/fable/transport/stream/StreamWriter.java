package dev.fable.transport.stream;

import dev.fable.transport.LegServices;
import dev.fable.transport.PendingFlusher;
import dev.fable.Buffer;
import dev.fable.Connection;
import dev.fable.buffer.BufferOwner;
import dev.fable.buffer.SlotBuffer;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.concurrent.atomic.AtomicInteger;

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
 * <h2>Threads</h2>
 * The connection's sending thread does all the work. One other thread may touch this object: the
 * {@link PendingFlusher}, which pushes frames still queued when the sending thread went quiet (the
 * socket was full at its last commit; without it those frames would wait for the next commit, and a
 * sender that now waits for an answer would wait forever). Both take {@link #lock}, a CAS flag: the
 * sending thread spins for it (the flusher holds it only for one non-blocking write), the flusher
 * only tries it. The CAS acquires and the release store publishes, so the fields below are plain.
 */
final class StreamWriter implements BufferOwner, dev.fable.transport.Counted, PendingFlusher.Writer {
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
    private final PendingFlusher flusher;     // this set-up's: finishes what a quiet sender left queued
    private final dev.fable.transport.ZeroWindowGuard zeroWindow;   // TCP with a liveness bound, else null; flusher thread only
    private final ByteBuffer closeFrame = ByteBuffer.allocateDirect(StreamFrame.HEADER).order(ByteOrder.LITTLE_ENDIAN);
    private boolean closeQueued;
    private boolean armed;                   // registered with the PendingFlusher; guarded by lock
    private final AtomicInteger lock = new AtomicInteger();
    private long fragments;
    private long continued;
    private long bytes;

    StreamWriter(SocketIo io, boolean framed, int slotSize, int slots, java.util.function.Supplier<Connection> connection, long epoch,
                 StreamFailure failure, String label, LegServices services) {
        this.io = io;
        this.flusher = services.pendingFlusher();
        this.zeroWindow = dev.fable.transport.ZeroWindowGuard.of(io.channel(), services.liveness());
        this.failure = failure;
        this.framed = framed;
        this.slotSize = slotSize;
        this.epoch = epoch;
        int header = framed ? StreamFrame.HEADER : 0;
        long stride = align(header + (long) slotSize + 8, 64);
        ByteBuffer staging = DirectMemory.allocate(stride * slots);
        payload = new MemorySegment[slots];
        frame = new ByteBuffer[slots];
        buffers = new SlotBuffer[slots];
        free = new int[slots];
        queue = new int[slots];
        gather = new ByteBuffer[slots];
        for (int i = 0; i < slots; i++) {
            frame[i] = staging.slice((int) (i * stride), framed ? StreamFrame.size(slotSize) : slotSize).order(ByteOrder.LITTLE_ENDIAN);
            payload[i] = MemorySegment.ofBuffer(frame[i]).asSlice(header, slotSize);
            buffers[i] = new SlotBuffer(this, i, connection, Buffer.Kind.SOCKET_STAGING, false, label, services.leaks());
            free[i] = slots - 1 - i;
        }
        freeCount = slots;
    }

    private static long align(long v, long a) {
        return (v + a - 1) & -a;
    }

    int slotSize() { return slotSize; }

    @Override
    public long fragments() { return fragments; }
    @Override
    public long continued() { return continued; }

    @Override
    public long bytes() { return bytes; }

    /** A free staging slot, or null when every slot is claimed or still waiting for the socket. */
    Buffer claim(int maxBytes) {
        lock();
        try {
            if (freeCount == 0) {
                flush();
                if (freeCount == 0) return null;
            }
            int slot = free[--freeCount];
            int len = Math.max(0, Math.min(maxBytes, slotSize));
            return buffers[slot].bindWritable(slot, payload[slot], len, epoch);
        } finally {
            unlock();
        }
    }

    /**
     * Accepting side of a reconfiguration leg, before anything else is sent on it: the
     * {@link StreamFrame#INSTALLED} frame, written out now. False if the socket did not take it by
     * {@code deadline} or broke (the connector's switch then fails on its side).
     */
    boolean pushInstalled(long deadline) {
        ByteBuffer frame = ByteBuffer.allocate(StreamFrame.HEADER).order(ByteOrder.LITTLE_ENDIAN).putInt(0, StreamFrame.INSTALLED);
        lock();
        try {
            while (true) {
                if (frame.hasRemaining()) io.write(new ByteBuffer[] {frame}, 0, 1);
                if (!frame.hasRemaining() && io.flush()) return true;
                if (System.nanoTime() - deadline >= 0) return false;
                Thread.onSpinWait();   // a fresh socket's buffer is empty: this does not loop in practice
            }
        } catch (IOException | RuntimeException e) {
            return false;
        } finally {
            unlock();
        }
    }

    private void lock() {
        while (!lock.compareAndSet(0, 1)) Thread.onSpinWait();   // CAS: acquire; contended only by one flusher write
    }

    private void unlock() {
        lock.setRelease(0);   // release: publishes the queue and free stack to the next holder
    }

    /**
     * Called by the {@link PendingFlusher} once per tick: pushes what is queued if the sending thread
     * is not in here. Returns true when nothing is left (the flusher forgets this writer), false to
     * be called again.
     */
    @Override
    public boolean flushPending() {
        if (zeroWindow != null) zeroWindow.stalled(System.nanoTime());   // a slow reader is no dead peer: see ZeroWindowGuard
        if (!lock.compareAndSet(0, 1)) return false;   // the sending thread is active: it flushes itself
        try {
            flush();
            boolean done = queueSize == 0 && io.flush();
            if (done) {
                armed = false;
                if (zeroWindow != null) zeroWindow.drained();
            }
            return done;
        } catch (IOException | RuntimeException e) {
            armed = false;
            return true;   // the connection has ended (flush reported it); nothing more to push
        } finally {
            unlock();
        }
    }



    /**
     * Pushes what the socket takes now; true when every committed frame has been handed to the kernel (nothing is
     * left here for {@code close()} to push), or the connection has ended (nothing more can be pushed). False while
     * frames wait for a slow reader, or while another thread is in here (ask again).
     */
    boolean allHandedToKernel() {
        if (!lock.compareAndSet(0, 1)) return false;
        try {
            flush();
            return queueSize == 0 && io.flush();
        } catch (IOException | RuntimeException e) {
            return true;   // the connection has ended (flush reported it): nothing more will go out
        } finally {
            unlock();
        }
    }

    /** True if a claim would succeed now (after pushing what the socket takes). */
    boolean spaceAvailable() {
        lock();
        try {
            if (freeCount == 0) flush();
            return freeCount > 0;
        } finally {
            unlock();
        }
    }

    @Override
    public void commit(SlotBuffer b, boolean more) {
        lock();
        try {
            enqueue(b, more);
            flush();
            if (!armed && (queueSize > 0 || !flushPipe())) {
                armed = true;   // the socket is full: if this thread goes quiet now, the flusher finishes the job
                flusher.arm(this);
            }
        } finally {
            unlock();
        }
    }

    private int droppedNote;   // sending thread: drops to tell in the next frame's word 1 (a publisher's copy to a subscriber)

    /** Sending thread, a buffer claimed: its frame tells the subscriber that {@code n} messages were dropped before it. */
    void noteDropped(long n) {
        droppedNote = (int) Math.min(n, Integer.MAX_VALUE);
    }

    private void enqueue(SlotBuffer b, boolean more) {
        int slot = b.slot();
        int len = b.length();
        b.kill();
        ByteBuffer f = frame[slot];
        int end = len;
        f.clear();   // absolute puts below check against the limit the previous frame of this slot left
        if (framed) {
            f.putLong(0, more ? (len | StreamFrame.MORE) & 0xFFFF_FFFFL : len);   // little-endian (set in the constructor); word 1 = 0
            if (droppedNote != 0) {   // a publisher's note of drops, told before this message (StreamFrame)
                f.putInt(4, droppedNote);
                droppedNote = 0;
            }
            end = StreamFrame.size(len);
            for (int i = StreamFrame.HEADER + len; i < end; i++) f.put(i, (byte) 0);   // padding: never last message's bytes
        }
        f.limit(end).position(0);
        queue[(queueHead + queueSize) % queue.length] = slot;
        queueSize++;
        fragments++;
        if (more) continued++;
        bytes += len;
    }

    /**
     * Queues the CLOSE marker behind every committed frame and pushes what the pipe takes now.
     * Returns true when everything, the marker included, has been handed to the pipe.
     */
    boolean pushClose() {
        return pushLast(StreamFrame.CLOSE);
    }

    /**
     * Queues the END_OF_EPOCH marker behind every committed frame (a reconfiguration retires this
     * leg; nothing is committed after it) and pushes what the pipe takes now; true when all is out.
     * Called again until true, then {@link #pushClose()} only flushes (the marker took its place).
     */
    boolean pushEndOfEpoch() {
        return pushLast(StreamFrame.END_OF_EPOCH);
    }

    private boolean pushLast(int marker) {
        lock();
        try {
            return pushLastLocked(marker);
        } finally {
            unlock();
        }
    }

    private boolean pushLastLocked(int marker) {
        if (framed && !closeQueued) {
            closeQueued = true;
            closeFrame.putLong(0, marker & 0xFFFF_FFFFL);
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
