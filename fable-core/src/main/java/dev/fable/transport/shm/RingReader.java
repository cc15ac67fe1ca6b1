package dev.fable.transport.shm;

import dev.fable.Buffer;
import dev.fable.Connection;
import dev.fable.QuotaExceededException;
import dev.fable.buffer.BufferOwner;
import dev.fable.buffer.LeakDetector;
import dev.fable.buffer.SlotBuffer;
import dev.fable.sync.Tripwire;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.invoke.VarHandle;

import static dev.fable.transport.shm.ShmLayout.*;

/**
 * Consumer side of one direction: maps the producer's pool read-only, reads its log, and owns the
 * ring's consumer registers (READ, CONSUMER_PARKED).
 *
 * <p>Single reader: one thread at a time calls {@link #poll} and {@link #release} (the
 * connection's receiving thread). Nothing read from the ring is trusted: headers (tag, kind, length),
 * slot pointers and REF positions are checked before use, and the consumer never reads back its own
 * registers from shared memory (it keeps private copies), so a hostile producer cannot steer it out of
 * bounds. A trusted reader hands out INLINE and REF messages in place in the log (through a read-only
 * view) and SLOT messages in place in the pool; an untrusted one copies each into a private area at poll.
 *
 * <p>Release protocol: READ is the start of the oldest record whose buffer is still held (or the next
 * record to poll when none is), so every record below READ was released. The held buffers form a list in
 * poll order over the buffer objects (plus one node for a HOLE waiting for its REF): a release unlinks its
 * node, O(1) in any order. READ is published with a release store in batches: after {@link #releaseBatch}
 * releases, whenever a poll finds nothing new (so a writer waiting for space is never left waiting on a
 * reader that went idle), at the end-of-epoch marker, and at once when the writer sleeps for space. A buffer
 * held out of order holds back the reuse of everything published after it (log and slots alike).
 *
 * <p>Public only for {@code dev.fable.jmh.RingBench}: the package is exported to Fable's own modules alone.
 */
public final class RingReader implements BufferOwner, dev.fable.transport.Counted {
    private static final VarHandle RECYCLED_TOP = dev.fable.internal.FieldHandles.of(java.lang.invoke.MethodHandles.lookup(), "recycledTop", int.class);

    private final MemorySegment ring;
    private final MemorySegment logView;   // the ring file read-only: what INLINE and REF buffers read
    private final MemorySegment pool;      // the producer's pool, read-only
    private MemorySegment[] slots;   // read-only views of the producer's slots, for Buffer.segment() and copies; then the fan-out pool's
    private final int slotSize;
    private final int slotCount;
    private final int logBytes;
    private final int logMask;
    private final int inlineMax;
    private final boolean trusted;
    private final Faults faults;
    private final Tripwire dataWire;    // wait side:   the log / CONSUMER_PARKED
    private final Tripwire spaceWire;   // signal side: READ / PRODUCER_PARKED
    private final boolean producerMayPark;
    private final String label;

    private boolean[] held;          // by slot (fan-out slot s at slotCount + s): a SLOT buffer of it is out
    private MemorySegment fanout;    // a subscription: the publisher's fan-out pool, read-only (pool id 1); else null
    private int fanoutSlotSize;
    private int fanoutSlotCount;
    private long dropped;            // messages the publisher dropped for this side, as its DROPPED records told (plain: receiving thread)
    private java.util.function.LongConsumer droppedListener = n -> { };
    private final SlotBuffer[] recycled;
    // Every buffer object of this reader, held weakly: a strong reference would hide a dropped buffer from the leak detector.
    private final java.lang.ref.WeakReference<SlotBuffer>[] all;
    private int recycledTop;
    private final LeakDetector.Token[] leakTokens;
    private MemorySegment[] copies;      // untrusted: private copy areas (writable)
    private MemorySegment[] copyViews;   // untrusted: their read-only views handed to the application

    // The list of held records in poll order: node i < n is buffer object i, node n the pending HOLE.
    private final long[] heldAt;   // by node: the record's position
    private final int[] next;      // by node: the next newer node, or -1
    private final int[] prev;      // by node: the next older node, or -1
    private int oldest = -1;
    private int newest = -1;
    private final int holeNode;
    private long holeAt = -1;      // the pending HOLE's position (its REF not polled yet), else -1
    private int holeLength;

    private boolean inputFinished;   // the producer's end-of-epoch marker was polled: nothing follows on this log
    private long position;   // next record to poll
    private long published;  // READ as last published
    private int unpublished; // releases since
    private final int releaseBatch;
    private final long epoch;
    private long fragments;
    private long continued;
    private long bytes;

    public RingReader(MemorySegment pool, MemorySegment ring, int slotSize, int slotCount, int logBytes, boolean trusted, int quota,
                      java.util.function.Supplier<Connection> connection, long epoch, Faults faults, boolean producerMayPark, String label,
                      LeakDetector leaks) {
        this.epoch = epoch;
        this.ring = ring;
        this.logView = ring.asReadOnly();
        this.pool = pool;
        this.slotSize = slotSize;
        this.slotCount = slotCount;
        this.logBytes = logBytes;
        this.logMask = logBytes - 1;
        this.inlineMax = inlineMaxFor(slotSize);
        this.trusted = trusted;
        this.faults = faults;
        this.producerMayPark = producerMayPark;
        this.label = label;
        this.dataWire = consumerParkedTripwire(ring);
        this.spaceWire = producerParkedTripwire(ring);
        this.releaseBatch = releaseBatchFor(slotCount);
        this.slots = new MemorySegment[slotCount];
        for (int i = 0; i < slotCount; i++) {
            slots[i] = pool.asSlice(slotOffset(i, slotSize), slotSize);
        }
        this.held = new boolean[slotCount];
        int n = quota > 0 ? Math.min(quota, slotCount) : trusted ? slotCount : Math.min(32, slotCount);
        this.recycled = new SlotBuffer[n];
        this.leakTokens = new LeakDetector.Token[n];
        Buffer.Kind kind = trusted ? Buffer.Kind.SHM_SLOT : Buffer.Kind.PRIVATE_COPY;
        for (int i = 0; i < n; i++) {
            recycled[i] = new SlotBuffer(this, n - 1 - i, connection, kind, true, label, leaks);
            leakTokens[i] = recycled[i].leakToken();
        }
        recycledTop = n;
        @SuppressWarnings("unchecked")
        java.lang.ref.WeakReference<SlotBuffer>[] refs = new java.lang.ref.WeakReference[n];
        for (int i = 0; i < n; i++) refs[i] = new java.lang.ref.WeakReference<>(recycled[i]);
        all = refs;
        this.holeNode = n;
        this.heldAt = new long[n + 1];
        this.next = new int[n + 1];
        this.prev = new int[n + 1];
        if (trusted) {
            copies = null;
            copyViews = null;
        } else {
            Arena arena = Arena.ofAuto();
            copies = new MemorySegment[n];
            copyViews = new MemorySegment[n];
            for (int i = 0; i < n; i++) {
                copies[i] = arena.allocate(slotSize, 64);
                copyViews[i] = copies[i].asReadOnly();
            }
        }
    }

    /**
     * Makes this reader a subscription's: SLOT records may name slots of {@code pool} (pool id
     * {@link ShmLayout#POOL_FANOUT}, the publisher's fan-out pool, mapped read-only and validated by the caller);
     * {@code onDropped} hears each DROPPED record's count. Once, before the reader is used.
     */
    void readFanout(MemorySegment pool, int poolSlotSize, int poolSlotCount, java.util.function.LongConsumer onDropped) {
        this.fanout = pool;
        this.fanoutSlotSize = poolSlotSize;
        this.fanoutSlotCount = poolSlotCount;
        this.droppedListener = onDropped;
        MemorySegment[] all = java.util.Arrays.copyOf(slots, slotCount + poolSlotCount);
        for (int i = 0; i < poolSlotCount; i++) all[slotCount + i] = pool.asSlice(slotOffset(i, poolSlotSize), poolSlotSize);
        this.slots = all;
        this.held = new boolean[slotCount + poolSlotCount];
        if (!trusted && poolSlotSize > slotSize) {   // copies must hold a whole fan-out slot
            Arena arena = Arena.ofAuto();
            for (int i = 0; i < copies.length; i++) {
                copies[i] = arena.allocate(poolSlotSize, 64);
                copyViews[i] = copies[i].asReadOnly();
            }
        }
    }

    /** Messages the publisher dropped for this side because its queue was full, as told so far. Receiving thread. */
    long dropped() {
        return dropped;
    }

    /**
     * Checks the headers of a peer's freshly mapped files against what the handshake announced.
     * Returns null when they agree, else what is wrong.
     */
    public static String validateHeaders(MemorySegment pool, MemorySegment ring, int slotSize, int slotCount, int logBytes) {
        // plain reads: the producer wrote the headers once, before the handshake frame that named the
        // files; the socket round trip orders them. Every value is compared, none is used as an index.
        if (headerMagicPlain(pool) != POOL_MAGIC || headerMagicPlain(ring) != RING_MAGIC) {
            return "bad magic in the peer's pool or ring file";
        }
        if (headerVersionPlain(pool) != VERSION || headerVersionPlain(ring) != VERSION) {
            return "layout version " + headerVersionPlain(pool) + "/" + headerVersionPlain(ring)
                    + " (this side speaks " + VERSION + ")";
        }
        if (headerSlotSizePlain(pool) != slotSize || headerSlotCountPlain(pool) != slotCount
                || headerSlotSizePlain(ring) != slotSize || headerSlotCountPlain(ring) != slotCount
                || headerLogBytesPlain(ring) != logBytes) {
            return "file headers disagree with the handshake (" + slotCount + " slots of " + slotSize + " B, a log of " + logBytes + " B)";
        }
        return null;
    }

    /** Checks a fan-out pool's header against what the handshake announced: null when they agree, else what is wrong. */
    static String validatePoolHeader(MemorySegment pool, int slotSize, int slotCount) {
        // plain reads, as in validateHeaders: written once before the handshake frame that named the file
        if (headerMagicPlain(pool) != POOL_MAGIC || headerVersionPlain(pool) != VERSION) return "bad magic or version in the peer's fan-out pool";
        if (headerSlotSizePlain(pool) != slotSize || headerSlotCountPlain(pool) != slotCount) {
            return "fan-out pool header disagrees with the handshake (" + slotCount + " slots of " + slotSize + " B)";
        }
        return null;
    }

    /** The next fragment, or null if the producer has published nothing new. */
    public SlotBuffer poll() {
        if (inputFinished) return null;
        if (recycledTop == 0) {
            throw new QuotaExceededException("the reader of " + label + " holds all " + recycled.length
                    + " read buffers it may hold; release some (copy what you keep) before polling again");
        }
        for (;;) {
            long p = position;
            long at = logOffset(p, logMask);
            long h = headerAcquire(ring, at);   // acquire: pairs with the producer's release of the header
            if (h == 0) {
                if (published != readPosition()) publishRead();   // going idle: the writer gets every record released so far
                return null;
            }
            int length = headerLength(h);
            int toEnd = logBytes - (int) (p & logMask);
            int kind = headerKind(h);
            if (headerTag(h) != headerTagFor(p)) throw corrupt(p, h, "a stale or forged tag");
            switch (kind) {
                case KIND_INLINE -> {
                    if (length > inlineMax || recordBytes(length) > toEnd) throw corrupt(p, h, "an inline length past " + inlineMax + " B or the log's end");
                    position = p + recordBytes(length);
                    return handOut(-1, logView, at + RECORD_HEADER, length, headerMore(h), p, -1);
                }
                case KIND_SLOT -> {
                    if (length != RECORD_HEADER || toEnd < RECORD_ALIGN) throw corrupt(p, h, "a slot record of the wrong size");
                    long ptr = logWordPlain(ring, at + RECORD_HEADER);   // plain: ordered after the header's acquire
                    int slot = pointerSlot(ptr);
                    long fragment = pointerLength(ptr);
                    if (pointerPool(ptr) != POOL_SLOTS) return fanoutSlot(p, ptr);
                    if (slot >= slotCount || fragment > slotSize) {
                        throw faults.corrupt("slot pointer 0x" + Long.toHexString(ptr) + " at position " + p + " is out of bounds (pool "
                                + pointerPool(ptr) + ", slot " + slot + " of " + slotCount + ", length " + fragment + " of " + slotSize + ")");
                    }
                    if (held[slot]) {
                        throw faults.corrupt("the writer published slot " + slot + " at position " + p + " while this reader still holds it");
                    }
                    position = p + RECORD_ALIGN;
                    return handOut(slot, pool, slotOffset(slot, slotSize), (int) fragment, pointerMore(ptr), p, -1);
                }
                case KIND_REF -> {
                    if (toEnd < RECORD_ALIGN) throw corrupt(p, h, "a REF record past the log's end");
                    long hole = logWordPlain(ring, at + RECORD_HEADER);   // plain: ordered after the header's acquire
                    if (holeAt < 0 || hole != holeAt || length > holeLength) throw corrupt(p, h, "a REF to position " + hole + ", not to the pending HOLE");
                    position = p + RECORD_ALIGN;
                    return handOut(-1, logView, logOffset(hole, logMask) + RECORD_HEADER, length, headerMore(h), hole, holeNode);
                }
                case KIND_PAD -> {
                    if (length != toEnd - RECORD_HEADER) throw corrupt(p, h, "a PAD that does not end at the log's end");
                    position = p + toEnd;
                }
                case KIND_HOLE -> {
                    if (length > inlineMax || recordBytes(length) > toEnd || holeAt >= 0) throw corrupt(p, h, "a HOLE past the log's end or a second HOLE");
                    position = p + recordBytes(length);
                    holeAt = p;
                    holeLength = length;
                    link(holeNode, p);   // its bytes stay unreleased until its REF's buffer is released
                }
                case KIND_DROPPED -> {
                    if (length != RECORD_HEADER || toEnd < RECORD_ALIGN || fanout == null) throw corrupt(p, h, "a DROPPED record of the wrong size or outside a subscription");
                    long n = logWordPlain(ring, at + RECORD_HEADER);   // plain: ordered after the header's acquire
                    if (n <= 0 || n > Integer.MAX_VALUE) throw corrupt(p, h, "a DROPPED count of " + n);
                    position = p + RECORD_ALIGN;
                    dropped += n;
                    droppedListener.accept(n);
                }
                case KIND_END -> {
                    if (length != 0 || holeAt >= 0) throw corrupt(p, h, "an end-of-epoch marker with a length or before a pending REF");
                    position = p + RECORD_ALIGN;
                    inputFinished = true;
                    if (published != readPosition()) publishRead();
                    return null;
                }
                default -> throw corrupt(p, h, "an unknown kind");
            }
        }
    }

    /** A SLOT record naming a fan-out slot: checked against the pool this reader mapped, then handed out in place (or copied). */
    private SlotBuffer fanoutSlot(long p, long ptr) {
        int slot = pointerSlot(ptr);
        long fragment = pointerLength(ptr);
        if (fanout == null || pointerPool(ptr) != POOL_FANOUT || slot >= fanoutSlotCount || fragment > fanoutSlotSize || pointerMore(ptr)) {
            throw faults.corrupt("slot pointer 0x" + Long.toHexString(ptr) + " at position " + p + " names pool " + pointerPool(ptr)
                    + ", slot " + slot + ", length " + fragment + (fanout == null ? ", but this connection has no fan-out pool"
                    : " (the fan-out pool has " + fanoutSlotCount + " slots of " + fanoutSlotSize + " B; a published message is one fragment)"));
        }
        int index = slotCount + slot;
        if (held[index]) {
            throw faults.corrupt("the publisher referenced fan-out slot " + slot + " at position " + p + " while this reader still holds it");
        }
        position = p + RECORD_ALIGN;
        return handOut(index, fanout, slotOffset(slot, fanoutSlotSize), (int) fragment, false, p, -1);
    }

    private dev.fable.CorruptChannelException corrupt(long p, long header, String what) {
        return faults.corrupt("log record at position " + p + " has header 0x" + Long.toHexString(header) + ": " + what);
    }

    /**
     * Hands out the message at {@code offset} of {@code memory}: in place (trusted, its node linked at
     * {@code recordAt}; {@code replaces} is the HOLE node a REF's buffer takes over, or -1), or as a private copy.
     */
    private SlotBuffer handOut(int slot, MemorySegment memory, long offset, int length, boolean more, long recordAt, int replaces) {
        fragments++;
        bytes += length;
        if (more) continued++;
        SlotBuffer b = recycled[--recycledTop];
        recycled[recycledTop] = null;   // only the application references a handed-out buffer (leak detection)
        int node = b.index();
        if (replaces >= 0) holeAt = -1;   // a REF: the pending HOLE is answered
        if (trusted) {
            if (replaces >= 0) {
                replace(replaces, node);   // the REF's buffer holds the HOLE's bytes: it takes the HOLE's place, not the newest
            } else {
                link(node, recordAt);
            }
            if (slot >= 0) {
                held[slot] = true;
                return b.bindReadable(slot, memory, offset, (int) slots[slot].byteSize(), slots[slot], length, more, node, epoch);
            }
            return b.bindReadableInLog(memory, offset, length, more, node, epoch);
        }
        MemorySegment.copy(memory, offset, copies[node], 0, length);
        if (replaces >= 0) unlink(replaces);   // the HOLE's bytes are copied: it goes back with the REF
        released();   // in order: the private copy is taken, the record goes back at once
        return b.bindReadable(-1, copyViews[node], 0, (int) copyViews[node].byteSize(), copyViews[node], length, more, -1, epoch);
    }

    /** Appends {@code node} (a record at {@code at}) as the newest held record. */
    private void link(int node, long at) {
        heldAt[node] = at;
        next[node] = -1;
        prev[node] = newest;
        if (newest >= 0) next[newest] = node; else oldest = node;
        newest = node;
    }

    /** {@code node} takes the place of {@code old} in the list (and its position). */
    private void replace(int old, int node) {
        int n = next[old], p = prev[old];
        heldAt[node] = heldAt[old];
        next[node] = n;
        prev[node] = p;
        if (p >= 0) next[p] = node; else oldest = node;
        if (n >= 0) prev[n] = node; else newest = node;
    }

    private void unlink(int node) {
        int n = next[node], p = prev[node];
        if (p >= 0) next[p] = n; else oldest = n;
        if (n >= 0) prev[n] = p; else newest = p;
    }

    /** READ as it would be published now: the oldest held record, else the next to poll. */
    private long readPosition() {
        return oldest >= 0 ? heldAt[oldest] : position;
    }

    /** Consumes the end-of-epoch marker if it is the next record; never consumes data. Receiving role. */
    boolean skipEndOfEpoch() {
        if (inputFinished) return true;
        long p = position;
        long h = headerAcquire(ring, logOffset(p, logMask));   // acquire: as in poll()
        // anything but a well-formed END (as poll() checks it) is left for poll(), which consumes data or fails the connection
        if (h == 0 || headerKind(h) != KIND_END || headerLength(h) != 0 || headerTag(h) != headerTagFor(p) || holeAt >= 0) return false;
        position = p + RECORD_ALIGN;
        inputFinished = true;
        if (published != readPosition()) publishRead();
        return true;
    }

    /** True once the end-of-epoch marker was polled. Receiving thread. */
    boolean inputFinished() {
        return inputFinished;
    }

    /** Drain timeout: copies every read buffer the application still holds off this ring (see SlotBuffer.detach). */
    int detachHeld(Arena arena) {
        int n = 0;
        for (java.lang.ref.WeakReference<SlotBuffer> r : all) {
            SlotBuffer b = r.get();   // null: the application dropped it (a leak, reported as such); nothing to keep readable
            if (b != null && b.detach(arena)) n++;
        }
        return n;
    }

    /** Read buffers handed out and not yet released. Receiving thread. */
    int held() {
        return recycled.length - recycledTop;
    }

    @Override
    public void release(SlotBuffer b) {   // only called by b itself, so b is one of ours
        if (trusted) {
            if (b.slot() >= 0) held[b.slot()] = false;
            unlink((int) b.descriptor());
            released();
        }
        b.kill();
        int top = recycledTop;
        recycled[top] = b;
        // Last, as a release store: a switcher that sees the buffer back (held(), after its heavy fence) knows
        // the release made its last access to the shared files, so it may retire and unmap them.
        RECYCLED_TOP.setRelease(this, top + 1);
    }

    /** One more record released: publishes READ after a batch, or at once for a writer asleep for space. */
    private void released() {
        if (++unpublished >= releaseBatch || (producerMayPark && spaceWire.waiterAdvertised())) {
            publishRead();
        }
    }

    /** Publishes READ up to every release so far, then wakes a writer sleeping for space. */
    private void publishRead() {
        long r = readPosition();
        published = r;
        unpublished = 0;
        putReadRegisterRelease(ring, r);   // release: our reads of the records below r before READ
        if (producerMayPark) {
            spaceWire.signal();
        }
    }

    /** Releases per READ publication: 32, or fewer for a small pool (at most a quarter of it, at least 1). */
    static int releaseBatchFor(int slotCount) {
        return Math.max(1, Math.min(32, slotCount / 4));
    }

    @Override
    public void commit(SlotBuffer buffer, boolean more) {
        throw new IllegalStateException("commit() is for claimed buffers; release() a polled buffer");
    }

    /**
     * True when {@link #poll} has a record to look at now. Called by waiters in their spin loop. (Layout 2
     * also read the line of the slot it guessed came next, so that two lines crossed in parallel; a record
     * carries its payload on its header's line, and reading the line after it only made the writer
     * invalidate it: far-placement 64 B RTT 551–561 ns without it, 751–771 with it, in alternating runs.)
     */
    boolean dataAvailable() {
        return headerAcquire(ring, logOffset(position, logMask)) != 0;   // acquire: as in poll()
    }

    /** True once the producer closed cleanly. Acquire: pairs with its release after the last commit. */
    boolean producerClosed() {
        return producerStateAcquire(ring) == STATE_CLOSED;   // acquire: after its last publication
    }

    Tripwire dataWire() {
        return dataWire;
    }

    Tripwire spaceWire() {
        return spaceWire;
    }

    @Override
    public long fragments() {
        return fragments;
    }

    @Override
    public long continued() {
        return continued;
    }

    @Override
    public long bytes() {
        return bytes;
    }

    public void untrackAll() {
        LeakDetector.untrackAll(leakTokens);
    }
}
