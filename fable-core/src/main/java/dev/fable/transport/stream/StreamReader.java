package dev.fable.transport.stream;

import dev.fable.buffer.LeakDetector;
import dev.fable.Buffer;
import dev.fable.Connection;
import dev.fable.CorruptChannelException;
import dev.fable.QuotaExceededException;
import dev.fable.buffer.BufferOwner;
import dev.fable.buffer.SlotBuffer;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;

/**
 * Receiving half of a stream connection: one read system call brings as many frames as the kernel
 * has into a receive area of direct memory, and {@link #poll} hands each frame's payload out in
 * place (the kernel's copy is the only one). Read buffers may be held and released in any order.
 *
 * <h2>Receive areas</h2>
 * Frames must be contiguous and held frames must not move. The reader fills one <em>current</em>
 * area linearly: unparsed bytes in {@code [parse, tail)}, reads into {@code [tail, capacity)}.
 * <ul>
 *   <li>When the current area holds no live (handed out, unreleased) frame and nothing is unparsed,
 *       it restarts at 0, so a request/response pattern keeps reading into the same hot lines.</li>
 *   <li>When the frame at {@code parse} cannot complete before the end: with no live frame in the
 *       area, what arrived of it moves to offset 0 (at most one partial frame per lap); with live
 *       frames, the area is retired as it is and reading continues in a free area (the partial
 *       frame is copied there). A retired area becomes free when its last frame is released.</li>
 * </ul>
 * So a buffer held for a long time pins only its own area, not the connection. At most
 * {@link #MAX_AREAS} areas exist, made on first need; a reader that pins them all gets a
 * {@link QuotaExceededException}, as it does past its read quota (the number of buffers it may hold).
 *
 * <p>Single-threaded: the connection's receiving thread owns everything here (plain fields). The
 * bytes come from another process: every header is checked before it is trusted.
 */
final class StreamReader implements BufferOwner, dev.fable.transport.Counted {
    private java.util.function.LongConsumer droppedListener;   // a subscription's reader: hears a frame's count of drops; else null

    /** A subscription's reader: word 1 of a data frame may carry the publisher's count of drops, told to {@code l}. Before use. */
    void readDrops(java.util.function.LongConsumer l) {
        this.droppedListener = l;
    }

    static final int MAX_AREAS = 8;

    private final SocketIo io;
    private final boolean framed;
    private final int maxFragment;
    private final int capacity;
    private final long epoch;
    private final String label;

    private final MemorySegment[] areas = new MemorySegment[MAX_AREAS];
    private final ByteBuffer[] areaBuffers = new ByteBuffer[MAX_AREAS];
    private final int[] live = new int[MAX_AREAS];     // unreleased frames handed out from each area
    private int areaCount;
    private int current;
    private MemorySegment area;                        // areas[current]
    private int parse;
    private int tail;

    private final SlotBuffer[] buffers;
    private final int[] freeBuffers;
    private final int[] areaOf;                        // by buffer index: the area its frame lives in
    private int freeCount;
    private final java.util.function.Supplier<Connection> connection;
    private final LeakDetector leaks;

    private boolean endOfStream;
    private boolean closeSeen;
    private boolean epochEndSeen;   // the END_OF_EPOCH frame was parsed: this leg carries nothing more
    private String resetCause;
    private long fragments;
    private long continued;
    private long bytes;

    StreamReader(SocketIo io, boolean framed, int maxFragment, int quota, java.util.function.Supplier<Connection> connection, long epoch, String label, LeakDetector leaks) {
        this.io = io;
        this.framed = framed;
        this.maxFragment = maxFragment;
        this.epoch = epoch;
        this.label = label;
        int frameMax = framed ? StreamFrame.size(maxFragment) : maxFragment;
        // room for 4 frames, and for 64 small ones up to 256 KiB (many frames per read); small slots keep the area small,
        // so a server with thousands of connections of small messages does not hold 256 KiB of staging for each
        this.capacity = (int) Math.max(4L * frameMax, Math.min(256 * 1024, 64L * frameMax));
        this.area = newArea();
        this.buffers = new SlotBuffer[quota];
        this.freeBuffers = new int[quota];
        this.areaOf = new int[quota];
        this.connection = connection;
        this.leaks = leaks;
        for (int i = 0; i < quota; i++) freeBuffers[i] = quota - 1 - i;   // buffer objects are made as first needed (below)
        freeCount = quota;
    }

    /** Allocates area number {@code areaCount} and makes it current. */
    private MemorySegment newArea() {
        int a = areaCount++;
        areaBuffers[a] = DirectMemory.allocate(capacity);
        areas[a] = MemorySegment.ofBuffer(areaBuffers[a]);
        current = a;
        return areas[a];
    }

    @Override
    public long fragments() { return fragments; }
    @Override
    public long continued() { return continued; }

    @Override
    public long bytes() { return bytes; }

    /** True once the peer's END_OF_EPOCH frame was parsed (everything before it was handed out). */
    boolean epochEnded() {
        return epochEndSeen;
    }

    /** Consumes the END_OF_EPOCH frame if it is the next thing on the stream (reads once); never consumes data. */
    boolean skipEndOfEpoch() throws IOException {
        if (epochEndSeen) return true;
        if (!framed || closeSeen) return false;
        if (tail - parse < StreamFrame.HEADER) readable();
        if (tail - parse < StreamFrame.HEADER || area.get(StreamFrame.LAYOUT, parse) != StreamFrame.END_OF_EPOCH) return false;   // plain: our own read's bytes
        epochEndSeen = true;
        parse += StreamFrame.HEADER;
        return true;
    }

    /**
     * Connecting side of a reconfiguration leg, before the first poll: consumes the peer's
     * {@link StreamFrame#INSTALLED} frame (reading once if it is not complete yet). 1: consumed; 0: not
     * here yet; -1: the stream ended or something else came first.
     */
    int takeInstalled() throws IOException {
        if (tail - parse < StreamFrame.HEADER) fill();
        if (tail - parse < StreamFrame.HEADER) return endOfStream ? -1 : 0;
        if (area.get(StreamFrame.LAYOUT, parse) != StreamFrame.INSTALLED) return -1;   // plain: our own read's bytes
        parse += StreamFrame.HEADER;
        return 1;
    }

    /** Drain timeout: copies every read buffer the application still holds off this stream (see SlotBuffer.detach). */
    int detachHeld(java.lang.foreign.Arena arena) {
        int n = 0;
        for (SlotBuffer b : buffers) if (b != null && b.detach(arena)) n++;
        return n;
    }

    /** Read buffers handed out and not yet released. */
    int held() {
        return buffers.length - freeCount;
    }

    /**
     * The peer's stream ended (EOF, or its close marker was parsed) and every whole frame before it was
     * handed out. What arrived of a frame cut short by the end (a peer killed mid-write) can never
     * complete: it does not hold the end back ({@link #unparsed()} counts it).
     */
    boolean ended() {
        return closeSeen || (endOfStream && !complete());
    }

    /**
     * True if the peer said goodbye (a CLOSE frame, or the orderly end of stream of a plain external peer) rather than
     * vanished. A plain peer's reset (a process killed with unread data, a peer that aborts) is no goodbye.
     */
    boolean endedCleanly() {
        return closeSeen || (!framed && endOfStream && resetCause == null);
    }

    /** Why the stream ended without a close, if the socket said (e.g. "Connection reset"), else null. */
    String resetCause() {
        return resetCause;
    }

    /** Bytes read but not handed out (a frame cut short by the peer's death shows here). */
    int unparsed() {
        return tail - parse;
    }

    /** The next frame, reading from the socket once if none is parsed yet; null if nothing complete arrived. */
    Buffer poll() throws IOException {
        if (closeSeen || epochEndSeen) return null;
        if (freeCount == 0) {
            throw new QuotaExceededException("the reader of " + label + " holds all " + buffers.length
                    + " buffers of its read quota; release some before polling again (ConnectOptions.readQuota)");
        }
        Buffer b = next();
        if (b != null || endOfStream) return b;
        fill();
        return next();
    }

    /** True if a poll would find a frame or the end without waiting (reads once when nothing is parsed). */
    boolean readable() throws IOException {
        if (closeSeen || epochEndSeen || endOfStream || complete()) return true;
        fill();
        return complete() || endOfStream || closeSeen;
    }

    private boolean complete() {
        int avail = tail - parse;
        if (!framed) return avail > 0;
        if (avail < StreamFrame.HEADER) return false;
        int h = area.get(StreamFrame.LAYOUT, parse);   // plain: this thread wrote these bytes (read syscall)
        return (h & StreamFrame.CLOSE) != 0 || avail >= StreamFrame.size(Math.min(h & StreamFrame.LENGTH_MASK, maxFragment));
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
            if (h == StreamFrame.END_OF_EPOCH) {
                epochEndSeen = true;
                parse += StreamFrame.HEADER;
                return null;
            }
            if ((h & StreamFrame.CLOSE) != 0) {
                if (h != StreamFrame.CLOSE) throw corrupt("a close marker with payload bits 0x" + Integer.toHexString(h));
                closeSeen = true;
                parse += StreamFrame.HEADER;
                return null;
            }
            len = h & StreamFrame.LENGTH_MASK;
            int reserved = area.get(StreamFrame.LAYOUT, parse + 4);   // plain: our own read's bytes
            if (reserved != 0) {   // a publisher's count of drops (a subscription only), else a broken peer
                if (droppedListener == null || reserved < 0) throw corrupt("a frame header with reserved word 0x" + Integer.toHexString(reserved));
                droppedListener.accept(reserved);
            }
            if (len > maxFragment) {
                throw corrupt("a fragment of " + len + " B, larger than the " + maxFragment + " B the peer announced");
            }
            if (avail < StreamFrame.size(len)) return null;
            more = (h & StreamFrame.MORE) != 0;
            start = parse + StreamFrame.HEADER;
        } else {
            start = parse;
            len = Math.min(avail, maxFragment);
        }
        int i = freeBuffers[--freeCount];
        areaOf[i] = current;
        live[current]++;
        parse = framed ? parse + StreamFrame.size(len) : start + len;
        fragments++;
        if (more) continued++;
        bytes += len;
        SlotBuffer b = buffers[i];
        if (b == null) {   // the first time this many are held at once: made once, reused from then on (freed indices are reused first)
            b = buffers[i] = new SlotBuffer(this, i, connection, Buffer.Kind.SOCKET_STAGING, true, label, leaks);
        }
        return b.bindReadable(i, area, start, len, null, len, more, 0, epoch);
    }

    /** One read into the free room, after making room for the frame at {@code parse} if needed. */
    private void fill() throws IOException {
        if (endOfStream) return;
        if (live[current] == 0 && parse == tail) {
            parse = tail = 0;   // nothing live here and nothing pending: restart at the hot start
        }
        makeRoom();
        if (tail >= capacity) return;   // makeRoom threw if it could not help; a complete frame waits at parse
        ByteBuffer b = areaBuffers[current];
        b.limit(capacity).position(tail);
        int n;
        try {
            n = io.read(b);
        } catch (IOException e) {
            n = -1;   // reset by the peer (a killed process's kernel may answer with RST): the stream is over
            resetCause = e.getMessage();
        }
        if (n < 0) endOfStream = true;
        else tail += n;
    }

    /** If the frame at {@code parse} cannot complete before the area's end, move what arrived of it. */
    private void makeRoom() {
        int known = frameSize();
        if (tail < capacity && (known < 0 || parse + known <= capacity)) return;
        if (known >= 0 && tail - parse >= known) return;   // complete: next() takes it
        int partial = tail - parse;
        MemorySegment from = area;
        int fromOffset = parse;
        if (live[current] > 0) {
            int next = freeArea();
            if (next < 0) {
                throw new QuotaExceededException("the reader of " + label + " holds buffers in all " + MAX_AREAS + " receive areas ("
                        + capacity + " B each); release some before polling again");
            }
            current = next;
            area = areas[next];
        }
        MemorySegment.copy(from, fromOffset, area, 0, partial);   // may overlap within one area: copy is memmove-safe
        parse = 0;
        tail = partial;
    }

    /** A free area other than the current one (allocating one if fewer than the maximum exist), or -1. */
    private int freeArea() {
        for (int a = 0; a < areaCount; a++) {
            if (a != current && live[a] == 0) return a;
        }
        if (areaCount == MAX_AREAS) return -1;
        MemorySegment keep = area;
        int keepCurrent = current;
        newArea();
        int made = current;
        current = keepCurrent;
        area = keep;
        return made;
    }

    /** Size of the frame at {@code parse} if its header has arrived, else -1. */
    private int frameSize() {
        if (!framed) return -1;
        if (tail - parse < StreamFrame.HEADER) return -1;
        int h = area.get(StreamFrame.LAYOUT, parse);   // plain: our own read's bytes
        return (h & StreamFrame.CLOSE) != 0 ? StreamFrame.HEADER : StreamFrame.size(Math.min(h & StreamFrame.LENGTH_MASK, maxFragment));
    }

    @Override
    public void commit(SlotBuffer buffer, boolean more) {
        throw new IllegalStateException("commit() is for write buffers; release() a polled buffer");
    }

    @Override
    public void release(SlotBuffer b) {
        int i = b.index();
        b.kill();
        live[areaOf[i]]--;
        freeBuffers[freeCount++] = i;
    }

    /** Stops tracking the buffers for leaks (the connection is closing). */
    void untrackAll() {
        for (SlotBuffer b : buffers) if (b != null) b.leakToken().untrack();
    }

    private CorruptChannelException corrupt(String what) {
        return new CorruptChannelException(label + ": the peer sent " + what + "; the connection was shut down. "
                + "Check that both sides run the same Fable version.");
    }
}
