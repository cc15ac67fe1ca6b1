package dev.fable.transport.shm;

import dev.fable.Buffer;
import dev.fable.Connection;
import dev.fable.QuotaExceededException;
import dev.fable.buffer.BufferOwner;
import dev.fable.buffer.Lender;
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
public final class RingReader implements BufferOwner, dev.fable.transport.Counted, Lender {
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
    private java.util.function.LongConsumer droppedListener = n -> { };

    // Pools the producer forwards read buffers from (POOL records, ids 2..127): mapped read-only on first announcement.
    /** Maps a pool the producer announced: descriptor {@code fd} of the producer's process, {@code bytes} long, read-only. */
    @FunctionalInterface
    interface PoolMapper {
        MemorySegment map(int fd, long bytes);
    }

    private PoolMapper poolMapper;          // null: POOL records are refused
    private long forwardedBudget;           // bytes of forwarded pools this reader may still map
    private final MemorySegment[] forwarded = new MemorySegment[MAX_POOL_ID + 1];   // by pool id
    private final int[] forwardedSlotSize = new int[MAX_POOL_ID + 1];
    private final int[] forwardedSlotCount = new int[MAX_POOL_ID + 1];
    private final int[] forwardedBase = new int[MAX_POOL_ID + 1];                   // index of its slot 0 in held[] and slots[]

    // Lending (this reader's buffers forwarded in place to another connection): see dev.fable.buffer.Lender.
    // All of it the receiving thread's: lent buffers come back when their target's READ passes their record (LentWatch).
    private Lender.LentPool poolRef;        // our pool 0 as a target's peer maps it (null: not lendable)
    private Lender.LentPool fanoutRef;      // the fan-out pool, likewise
    private final int lentCap;              // at most this many lent at once: the producer keeps slots to write into
    private final SlotBuffer[] lentBuffer;  // the lent buffers, lentOut of them, in no order
    private final Lender.LentWatch[] lentWatch;
    private final long[] lentAt;            // parallel: each one's record position in its target's queue
    private int lentOut;
    private long stranded;                  // lent buffers whose target closed under a live peer: never reused (its peer may hold them)
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

    // A subscription that reads its publisher's broadcast log (BroadcastLog): the log, read-only; the next record's position and
    // the next message's sequence there; each message copied into the private area of the buffer object that carries it.
    private MemorySegment broadcast;   // null: none
    private int broadcastBytes;
    private int broadcastMask;
    private int broadcastMax;
    private boolean broadcastStarted;  // the BSTART record was read: broadcastAt and broadcastSeq are set
    private boolean resyncing;         // lapped: broadcastAt is the publisher's TAIL; the next message's sequence says what was lost
    private long broadcastAt;
    private long broadcastSeq;
    private long laps;                 // times this reader was lapped
    private MemorySegment[] broadcastCopies;   // by buffer object, made on first use (then reused: no allocation in steady state)
    private MemorySegment[] broadcastViews;
    private boolean ringFirst;         // pollBroadcast returned null because a record of the ring goes first: look at it again

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
        this(pool, ring, slotSize, slotCount, 0, logBytes, trusted, quota, connection, epoch, faults, producerMayPark, label, leaks);
    }

    /**
     * {@code fanoutSlots}: the slots of the publisher's fan-out pool this reader will map ({@link #readFanout}; 0 for a
     * one-to-one connection): a subscriber may hold as many buffers as both pools have slots.
     */
    RingReader(MemorySegment pool, MemorySegment ring, int slotSize, int slotCount, int fanoutSlots, int logBytes, boolean trusted, int quota,
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
        int holdable = slotCount + fanoutSlots;
        int n = quota > 0 ? Math.min(quota, holdable) : trusted ? holdable : Math.min(32, holdable);
        this.recycled = new SlotBuffer[n];
        this.leakTokens = new LeakDetector.Token[n];
        Buffer.Kind kind = trusted ? Buffer.Kind.SHM_SLOT : Buffer.Kind.PRIVATE_COPY;
        for (int i = 0; i < n; i++) {
            recycled[i] = new SlotBuffer(this, n - 1 - i, connection, kind, true, label, leaks);
            leakTokens[i] = recycled[i].leakToken();
        }
        recycledTop = n;
        this.lentCap = Math.max(1, Math.min(n, holdable) / 2);
        this.lentBuffer = new SlotBuffer[lentCap];
        this.lentWatch = new Lender.LentWatch[lentCap];
        this.lentAt = new long[lentCap];
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

    /**
     * Makes this reader read its publisher's broadcast log too ({@code log}, mapped read-only, checked by the caller):
     * from the position and sequence its BSTART record names, merged with the ring in publication order (BSYNC
     * records). Each message is copied at poll and checked whole after the copy (the publisher may lap a slow
     * reader; what it lost is counted as dropped). Once, before the reader is used; a subscription only.
     */
    void readBroadcast(MemorySegment log, int logBytes, int maxMessage) {
        this.broadcast = log;
        this.broadcastBytes = logBytes;
        this.broadcastMask = logBytes - 1;
        this.broadcastMax = maxMessage;
        this.broadcastCopies = new MemorySegment[recycled.length];
        this.broadcastViews = new MemorySegment[recycled.length];
    }

    /** Times the publisher lapped this reader (it resumed at the publisher's TAIL and counted what it lost as dropped). */
    long broadcastLaps() {
        return laps;
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

    /**
     * Lets this reader lend its buffers (forwarding in place): {@code poolFd}, {@code fanoutFd} (or -1) are this
     * process's descriptors of the producer's pool and fan-out pool, kept open for a target's peer to open.
     * Trusted readers only (an untrusted one hands out private copies). Before the reader is used.
     */
    void lendable(int poolFd, int fanoutFd) {
        if (poolFd >= 0) poolRef = new Lender.LentPool(poolFd, slotSize, slotCount, dev.fable.internal.Libc::close);
        if (fanoutFd >= 0) fanoutRef = new Lender.LentPool(fanoutFd, fanoutSlotSize, fanoutSlotCount, dev.fable.internal.Libc::close);
    }

    /** The leg closes: this reader lends no more; the descriptors close once no target still needs them. */
    void endLending() {
        if (poolRef != null) poolRef.release();
        if (fanoutRef != null) fanoutRef.release();
        poolRef = null;
        fanoutRef = null;
    }

    /** Lets the producer announce pools it forwards from (POOL records), mapped by {@code mapper} within {@code budget} bytes. Before use. */
    void acceptForwardedPools(PoolMapper mapper, long budget) {
        this.poolMapper = mapper;
        this.forwardedBudget = budget;
    }

    @Override
    public Lender.LentPool poolOf(SlotBuffer b) {
        int s = b.slot();
        if (s < 0 || !trusted || lentOut >= lentCap) return null;   // a message in the log (or a copy), or lent enough: copy it
        if (s < slotCount) return poolRef;
        return s < slotCount + fanoutSlotCount ? fanoutRef : null;   // a forwarded pool's slot is not ours to lend on
    }

    @Override
    public int slotInPool(SlotBuffer b) {
        int s = b.slot();
        return s < slotCount ? s : s - slotCount;
    }

    @Override
    public void lent(SlotBuffer b) {
        b.kill();   // dead to the application; still held here (its node stays linked) until its target's peer released it
    }

    @Override
    public void lentTo(SlotBuffer b, Lender.LentWatch watch, long at) {
        lentBuffer[lentOut] = b;   // poolOf() let it through only below lentCap
        lentWatch[lentOut] = watch;
        lentAt[lentOut] = at;
        lentOut++;
    }

    @Override
    public void unlent(SlotBuffer b) {
        b.revive();
    }

    /** Receiving thread: gives back, as released, every lent buffer its target's peer has released; true if any. */
    private boolean checkLent() {
        boolean any = false;
        for (int i = 0; i < lentOut; ) {
            boolean abandoned = lentWatch[i].abandoned();   // first: see LentWatch.abandoned
            long r = lentWatch[i].releasedUpTo();
            long at = lentAt[i];
            if (r > at || abandoned) {
                SlotBuffer b = lentBuffer[i];
                int last = --lentOut;   // swap the last one in
                lentBuffer[i] = lentBuffer[last];
                lentWatch[i] = lentWatch[last];
                lentAt[i] = lentAt[last];
                lentBuffer[last] = null;
                lentWatch[last] = null;
                if (r <= at) {
                    stranded++;   // its slot stays held for good: the target's live peer may still read it
                } else {
                    giveBack(b);
                    any = true;
                }
            } else {
                i++;
            }
        }
        return any;
    }

    /** True while buffers are lent: waits must look at their targets too (a lent buffer's return wakes nobody). */
    boolean lending() {
        return lentOut > 0;
    }

    /** Receiving thread, from a wait: true when a lent buffer came back (and was given back). */
    boolean lentCameBack() {
        return lentOut > 0 && checkLent();
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
        if (lentOut > 0) checkLent();
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
                if (broadcastStarted) {
                    SlotBuffer b = pollBroadcast(Long.MAX_VALUE);
                    if (b != null) return b;
                    if (ringFirst) continue;
                }
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
                    if (pointerPool(ptr) >= FIRST_FORWARDED_POOL) return forwardedSlot(p, ptr);
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
                case KIND_POOL -> {
                    if (length != POOL_RECORD_PAYLOAD || toEnd < recordBytes(POOL_RECORD_PAYLOAD)) throw corrupt(p, h, "a POOL record of the wrong size");
                    long w0 = logWordPlain(ring, at + RECORD_HEADER);       // plain: ordered after the header's acquire
                    long w1 = logWordPlain(ring, at + RECORD_HEADER + 8);
                    mapForwarded(p, (int) w0, (int) (w0 >>> 32), (int) w1, (int) (w1 >>> 32));
                    position = p + recordBytes(POOL_RECORD_PAYLOAD);
                }
                case KIND_DROPPED -> {
                    if (length != RECORD_HEADER || toEnd < RECORD_ALIGN || fanout == null) throw corrupt(p, h, "a DROPPED record of the wrong size or outside a subscription");
                    long n = logWordPlain(ring, at + RECORD_HEADER);   // plain: ordered after the header's acquire
                    if (n <= 0 || n > Integer.MAX_VALUE) throw corrupt(p, h, "a DROPPED count of " + n);
                    position = p + RECORD_ALIGN;
                    droppedListener.accept(n);
                }
                case KIND_BSYNC -> {
                    if (broadcast == null) throw corrupt(p, h, "an unknown kind");   // only a broadcast log's reader knows it
                    if (length != 8 || toEnd < RECORD_ALIGN || !broadcastStarted) throw corrupt(p, h, "a BSYNC record of the wrong size or before BSTART");
                    long before = logWordPlain(ring, at + RECORD_HEADER);   // plain: ordered after the header's acquire
                    if (before > broadcastSeq) {   // broadcast messages first: they were published before the next record
                        SlotBuffer b = pollBroadcast(before);
                        if (b != null) return b;
                        if (ringFirst) continue;   // lapped past them: the sequence moved on
                        if (published != readPosition()) publishRead();
                        return null;
                    }
                    position = p + RECORD_ALIGN;
                }
                case KIND_BSTART -> {
                    if (broadcast == null) throw corrupt(p, h, "an unknown kind");   // as BSYNC
                    if (length != BSTART_PAYLOAD || toEnd < recordBytes(BSTART_PAYLOAD) || broadcastStarted) {
                        throw corrupt(p, h, "a BSTART record of the wrong size, or a second one");
                    }
                    long from = logWordPlain(ring, at + RECORD_HEADER);   // plain: ordered after the header's acquire
                    long seq = logWordPlain(ring, at + RECORD_HEADER + 8);
                    if (from < 0 || (from & (RECORD_ALIGN - 1)) != 0 || seq < 0) throw corrupt(p, h, "a BSTART at position " + from + ", sequence " + seq);
                    broadcastAt = from;
                    broadcastSeq = seq;
                    broadcastStarted = true;
                    position = p + recordBytes(BSTART_PAYLOAD);
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

    /**
     * The next broadcast message, copied into a buffer of ours, if one is there and no ring record must come before it
     * (see {@link #takeBroadcast}). Null: nothing yet, or ({@link #ringFirst}) go back to the ring.
     */
    private SlotBuffer pollBroadcast(long before) {
        ringFirst = false;
        SlotBuffer b = recycled[recycledTop - 1];   // poll() checked that one is left; taken only if a message is
        int node = b.index();
        MemorySegment copy = broadcastCopies[node];
        if (copy == null) copy = newBroadcastCopy(node);
        int len = takeBroadcast(before, copy);
        if (len < 0) {
            ringFirst = len == RING_FIRST;
            return null;
        }
        recycled[--recycledTop] = null;   // only the application references a handed-out buffer (leak detection)
        MemorySegment view = broadcastViews[node];
        b.kind(Buffer.Kind.PRIVATE_COPY);   // a copy, whatever this reader's ring buffers are
        return b.bindReadable(-1, view, 0, (int) view.byteSize(), view, len, false, -1, epoch);
    }

    /** {@link #takeBroadcast}: nothing there yet. */
    private static final int NOTHING = -1;
    /** {@link #takeBroadcast}: a record of the ring goes first. */
    private static final int RING_FIRST = -2;

    /**
     * Copies the next broadcast message into {@code into} and takes it: its length; or {@link #NOTHING}, or
     * {@link #RING_FIRST} when a ring record must come before it. {@code before} is the sequence a BSYNC at the ring's
     * head waits for (messages below it come first), or {@link Long#MAX_VALUE} when the ring was empty, in which case
     * the ring is looked at again after the copy (a record committed before this message shows there by then). A copy
     * counts only if INLINE was still below its position plus the log's size after it: else the publisher lapped this
     * reader, which resumes at TAIL and counts what it lost as dropped.
     */
    private int takeBroadcast(long before, MemorySegment into) {
        MemorySegment log = broadcast;
        for (;;) {
            long q = broadcastAt;
            long at = logOffset(q, broadcastMask);
            long h = headerAcquire(log, at);   // acquire: pairs with the publisher's release of the header
            if (h == 0 || headerTag(h) != headerTagFor(q)) {
                if (!lapped(q)) return NOTHING;   // not written yet
                resync();
                continue;
            }
            int length = headerLength(h);
            int kind = headerKind(h);
            int toEnd = broadcastBytes - (int) (q & broadcastMask);
            boolean message = kind == KIND_INLINE && length >= BROADCAST_SEQ_BYTES && length - BROADCAST_SEQ_BYTES <= broadcastMax;
            if (!(message || kind == KIND_PAD) || recordBytes(length) > toEnd) {
                VarHandle.loadLoadFence();   // the header before INTENT: a lap may have torn it
                if (lapped(q)) {
                    resync();
                    continue;
                }
                throw faults.corrupt("broadcast log record at position " + q + " has header 0x" + Long.toHexString(h)
                        + ": not a message of at most " + broadcastMax + " B or a PAD within the log");
            }
            if (kind == KIND_PAD) {
                VarHandle.loadLoadFence();   // as above
                if (lapped(q)) {
                    resync();
                    continue;
                }
                broadcastAt = q + recordBytes(length);
                continue;
            }
            int len = length - BROADCAST_SEQ_BYTES;
            long seq = logWordPlain(log, at + RECORD_HEADER);   // plain: ordered after the header's acquire, checked below
            MemorySegment.copy(log, at + RECORD_HEADER + BROADCAST_SEQ_BYTES, into, 0, len);
            VarHandle.loadLoadFence();   // the copy (and the sequence) before INTENT
            if (lapped(q)) {   // the publisher may have written over it while we copied
                resync();
                continue;
            }
            checkSequence(q, seq);
            if (seq >= before || (before == Long.MAX_VALUE && seq >= ringHeadBefore())) return RING_FIRST;
            broadcastAt = q + recordBytes(length);
            broadcastSeq = seq + 1;
            fragments++;
            bytes += len;
            putBroadcastReadRelease(ring, broadcastAt);   // release: the copy before (a lossless publisher reuses the log up to it)
            return len;
        }
    }

    private MemorySegment scratch;       // poll(handler): the one area a broadcast message is copied into, or a batch of them
    private MemorySegment scratchView;
    private int[] batchLengths;          // poll(handler): each record's length as its header was checked in the walk
    /** Bytes of broadcast records one {@link #poll(dev.fable.MessageHandler, int)} batch copies at most. */
    private static final int BATCH_BYTES = 16 * 1024;

    /**
     * Up to {@code limit} buffers to {@code handler} ({@link dev.fable.transport.Leg#poll(dev.fable.MessageHandler, int)}):
     * broadcast messages in batches ({@link #takeBroadcastBatch}) with no buffer object; anything else as {@link #poll()}
     * returns it, released after its call.
     */
    public int poll(dev.fable.MessageHandler handler, int limit) {
        int n = 0;
        while (n < limit) {
            if (broadcastStarted && lentOut == 0) {
                if (scratch == null) {
                    scratch = Arena.ofAuto().allocate(Math.max(BATCH_BYTES, recordBytes(BROADCAST_SEQ_BYTES + broadcastMax)), 64);
                    scratchView = scratch.asReadOnly();
                    batchLengths = new int[BATCH_BYTES / RECORD_ALIGN];   // a batch holds at most this many records
                }
                int r = takeBroadcastBatch(handler, limit - n);
                if (r > 0) {
                    n += r;
                    putBroadcastReadRelease(ring, broadcastAt);   // release: our copies before (a lossless publisher reuses the log up to it)
                    continue;
                }
                if (r == NOTHING && headerAcquire(ring, logOffset(position, logMask)) == 0) {   // acquire: as in poll(); nor in the ring
                    if (published != readPosition()) publishRead();   // going idle, as poll() does
                    break;
                }
            }
            SlotBuffer b = poll();   // the ring's records (a BSYNC may hand a broadcast message out here: in order)
            if (b == null) break;
            n++;
            handler.take(b);
        }
        return n;
    }

    /**
     * Hands up to {@code max} broadcast messages to {@code handler}: the headers of the whole message records written
     * from this reader's position on are read (acquire), the records copied in one move into the scratch area, INTENT
     * checked once for all of them (lapped: resume at TAIL and try again), the ring looked at once (a record there was
     * committed before every message read here that a BSYNC does not place before it), then each handed over from the
     * copy. Returns how many; {@link #NOTHING}; or {@link #RING_FIRST} (also for a PAD or a lap to resolve, which the
     * one-message path, {@link #poll()}, takes).
     */
    private int takeBroadcastBatch(dev.fable.MessageHandler handler, int max) {
        MemorySegment log = broadcast;
        for (;;) {
            long q = broadcastAt;
            long room = Math.min(BATCH_BYTES, broadcastBytes - (q & broadcastMask));   // records never wrap
            long end = q;
            int count = 0;
            while (count < max) {
                long h = headerAcquire(log, logOffset(end, broadcastMask));   // acquire: pairs with the publisher's release
                if (h == 0 || headerTag(h) != headerTagFor(end)) break;
                int length = headerLength(h);
                if (headerKind(h) != KIND_INLINE || length < BROADCAST_SEQ_BYTES || length - BROADCAST_SEQ_BYTES > broadcastMax
                        || end + recordBytes(length) - q > room) {
                    break;   // a PAD, the batch's end, or a bad record: the one-message path looks at it
                }
                batchLengths[count++] = length;
                end += recordBytes(length);
            }
            if (count == 0) {
                long h = headerAcquire(log, logOffset(q, broadcastMask));   // acquire: as above
                if ((h == 0 || headerTag(h) != headerTagFor(q)) && !lapped(q)) return NOTHING;   // not written yet
                return RING_FIRST;   // a PAD, a lap, a message that would not fit: one at a time
            }
            MemorySegment.copy(log, logOffset(q, broadcastMask), scratch, 0, end - q);
            VarHandle.loadLoadFence();   // the copy before INTENT
            if (lapped(q)) {   // the publisher may have written over some of it while we copied
                resync();
                continue;
            }
            long before = ringHeadBefore();   // after the headers' acquires above
            int delivered = 0;
            long at = 0;
            for (int i = 0; i < count; i++) {
                int length = batchLengths[i];   // as checked in the walk (the copy's header could differ: a publisher may write anything)
                long seq = logWordPlain(scratch, at + RECORD_HEADER);   // plain: our copy, checked whole above; the sequence checked here
                checkSequence(q + at, seq);
                if (seq >= before) break;
                int len = length - BROADCAST_SEQ_BYTES;
                long next = at + recordBytes(length);
                broadcastAt = q + next;   // taken before its handler runs: one that throws has still read it
                broadcastSeq = seq + 1;
                fragments++;
                bytes += len;
                delivered++;
                handler.onMessage(scratchView, at + RECORD_HEADER + BROADCAST_SEQ_BYTES, len);
                at = next;
            }
            return delivered > 0 ? delivered : RING_FIRST;
        }
    }

    /**
     * The broadcast sequence at which messages must wait for the ring's next record, looked at after the broadcast headers
     * were acquired (a record committed before them shows by then): {@link Long#MAX_VALUE} when the ring has none, a BSYNC's
     * S, else {@link Long#MIN_VALUE} (any other record was committed before them all; poll() checks it).
     */
    private long ringHeadBefore() {
        long p = position;
        long at = logOffset(p, logMask);
        long h = headerAcquire(ring, at);   // acquire: as in poll()
        if (h == 0) return Long.MAX_VALUE;
        if (headerKind(h) != KIND_BSYNC || headerTag(h) != headerTagFor(p) || headerLength(h) != 8) return Long.MIN_VALUE;
        return logWordPlain(ring, at + RECORD_HEADER);   // plain: ordered after the header's acquire
    }

    /** A broadcast message's sequence: the next expected, or (first after a lap) any later one, what lies between counted lost. */
    private void checkSequence(long q, long seq) {
        if (resyncing) {
            if (seq < broadcastSeq) throw faults.corrupt("broadcast message at position " + q + " has sequence " + seq + ", below " + broadcastSeq);
            long lost = seq - broadcastSeq;
            broadcastSeq = seq;
            resyncing = false;
            if (lost > 0) droppedListener.accept(lost);
        } else if (seq != broadcastSeq) {
            throw faults.corrupt("broadcast message at position " + q + " has sequence " + seq + ", expected " + broadcastSeq);
        }
    }

    /** True when the publisher may be writing over position {@code q} of the broadcast log: this reader was lapped. */
    private boolean lapped(long q) {
        return broadcastIntentOpaque(broadcast) - q > broadcastBytes;   // opaque, after the caller's load-load fence
    }

    /** Lapped: resume at the publisher's TAIL; the next message's sequence tells what was lost. */
    private void resync() {
        long t = broadcastTailAcquire(broadcast);   // acquire: the records below it were published before
        if (t <= broadcastAt || (t & (RECORD_ALIGN - 1)) != 0) {
            throw faults.corrupt("the broadcast log's TAIL is " + t + ", not a record start past this reader's position " + broadcastAt);
        }
        broadcastAt = t;
        resyncing = true;
        laps++;
    }

    private MemorySegment newBroadcastCopy(int node) {
        MemorySegment m = Arena.ofAuto().allocate(broadcastMax, 64);
        broadcastCopies[node] = m;
        broadcastViews[node] = m.asReadOnly();
        return m;
    }

    /** A POOL record: pool {@code id} is descriptor {@code fd} of the producer, checked, capped, then mapped read-only (once). */
    private void mapForwarded(long p, int id, int fd, int size, int count) {
        if (poolMapper == null) throw faults.corrupt("a POOL record at position " + p + ", which this connection does not take");   // every POOL failure says "a POOL record"
        if (id < FIRST_FORWARDED_POOL || id > MAX_POOL_ID || forwarded[id] != null) {
            throw faults.corrupt("a POOL record at position " + p + " announces pool id " + id + " (2.." + MAX_POOL_ID + ", each once)");
        }
        if (size < 64 || size > dev.fable.ConnectOptions.MAX_SLOT_SIZE || size % 64 != 0 || count < 2 || count > dev.fable.ConnectOptions.MAX_SLOT_COUNT || fd < 0) {
            throw faults.corrupt("a POOL record at position " + p + " announces " + count + " slots of " + size + " B at descriptor " + fd);
        }
        long bytes = poolBytes(size, count);
        if (bytes > forwardedBudget) {
            throw faults.corrupt("a POOL record at position " + p + " announces a pool of " + bytes + " B, more than the " + forwardedBudget
                    + " B this side still maps for it (Fable.Context.maxPeerPoolBytes, " + dev.fable.transport.PeerLimits.POOL_PROPERTY + ")");
        }
        MemorySegment m;
        try {
            m = poolMapper.map(fd, bytes);
        } catch (RuntimeException e) {
            throw faults.corrupt("a POOL record at position " + p + " announces a pool that cannot be mapped: " + e.getMessage());
        }
        String bad = validatePoolHeader(m, size, count);
        if (bad != null) throw faults.corrupt("a POOL record at position " + p + " announces a pool that fails its check: " + bad);
        forwardedBudget -= bytes;
        int base = slots.length;
        MemorySegment[] all = java.util.Arrays.copyOf(slots, base + count);
        for (int i = 0; i < count; i++) all[base + i] = m.asSlice(slotOffset(i, size), size);
        slots = all;
        held = java.util.Arrays.copyOf(held, base + count);
        forwarded[id] = m;
        forwardedSlotSize[id] = size;
        forwardedSlotCount[id] = count;
        forwardedBase[id] = base;
        if (!trusted && size > copies[0].byteSize()) {   // copies must hold a whole forwarded slot
            Arena arena = Arena.ofAuto();
            for (int i = 0; i < copies.length; i++) {
                copies[i] = arena.allocate(size, 64);
                copyViews[i] = copies[i].asReadOnly();
            }
        }
    }

    /** A SLOT record naming a slot of a forwarded pool: checked against what its POOL record announced. */
    private SlotBuffer forwardedSlot(long p, long ptr) {
        int id = pointerPool(ptr);
        int slot = pointerSlot(ptr);
        long fragment = pointerLength(ptr);
        MemorySegment m = forwarded[id];
        if (m == null || slot >= forwardedSlotCount[id] || fragment > forwardedSlotSize[id]) {
            throw faults.corrupt("slot pointer 0x" + Long.toHexString(ptr) + " at position " + p + " is out of bounds (pool " + id + ", slot " + slot
                    + ", length " + fragment + (m == null ? "; pool " + id + " was never announced)"
                    : "; pool " + id + " has " + forwardedSlotCount[id] + " slots of " + forwardedSlotSize[id] + " B)"));
        }
        int index = forwardedBase[id] + slot;
        if (held[index]) throw faults.corrupt("the producer forwarded slot " + slot + " of pool " + id + " at position " + p + " while this reader still holds it");
        position = p + RECORD_ALIGN;
        return handOut(index, m, slotOffset(slot, forwardedSlotSize[id]), (int) fragment, pointerMore(ptr), p, -1);
    }

    /** A SLOT record naming a fan-out slot: checked against the pool this reader mapped, then handed out in place (or copied). */
    private SlotBuffer fanoutSlot(long p, long ptr) {
        int slot = pointerSlot(ptr);
        long fragment = pointerLength(ptr);
        if (fanout == null || pointerPool(ptr) != POOL_FANOUT || slot >= fanoutSlotCount || fragment > fanoutSlotSize || pointerMore(ptr)) {
            throw faults.corrupt("slot pointer 0x" + Long.toHexString(ptr) + " at position " + p + " is out of bounds (pool " + pointerPool(ptr)
                    + ", slot " + slot + ", length " + fragment + (fanout == null ? "; this connection has no fan-out pool)"
                    : "; the fan-out pool has " + fanoutSlotCount + " slots of " + fanoutSlotSize + " B, a published message is one fragment)"));
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
        if (broadcast != null) b.kind(trusted ? Buffer.Kind.SHM_SLOT : Buffer.Kind.PRIVATE_COPY);   // it may have carried a broadcast copy
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
        b.kill();
        giveBack(b);
    }

    /** A buffer of ours is done with (released, or a lent one came back): its record may go, its object is recycled. */
    private void giveBack(SlotBuffer b) {
        if (trusted && b.descriptor() >= 0) {   // not a broadcast message's copy (nothing in the ring to release)
            if (b.slot() >= 0) held[b.slot()] = false;
            unlink((int) b.descriptor());
            released();
        }
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
        return headerAcquire(ring, logOffset(position, logMask)) != 0   // acquire: as in poll()
                || broadcastStarted && broadcastAvailable();
    }

    private boolean broadcastAvailable() {
        long q = broadcastAt;
        long h = headerAcquire(broadcast, logOffset(q, broadcastMask));   // acquire: as in pollBroadcast()
        return h != 0 && headerTag(h) == headerTagFor(q) || lapped(q);
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
