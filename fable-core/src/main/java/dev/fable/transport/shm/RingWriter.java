package dev.fable.transport.shm;

import dev.fable.Buffer;
import dev.fable.Connection;
import dev.fable.buffer.BufferOwner;
import dev.fable.buffer.LeakDetector;
import dev.fable.buffer.SlotBuffer;
import dev.fable.sync.Tripwire;

import java.lang.foreign.MemorySegment;
import java.lang.invoke.VarHandle;

import static dev.fable.transport.shm.ShmLayout.*;

/**
 * Producer side of one direction: owns the pool and the log (read-write) and the ring's producer registers.
 *
 * <p>Single writer: one thread at a time calls {@link #claim}, {@link #commit} and
 * {@link #commitEndOfEpoch} (the connection's sending thread). The free queue and the
 * record of which slot went out where live here in private memory, never in shared memory, so the
 * consumer cannot forge them: the only value it writes that this side reads is READ, checked against
 * {@code [readCache, position]} before use.
 *
 * <p>Records ({@link ShmLayout}): a claim of at most {@code inlineMax} bytes is written in place in the
 * log (INLINE), when no other inline claim is out and the log has room; any other claim takes a slot,
 * published as a 16-byte SLOT record at commit. Messages leave in commit order: a slot committed while
 * an inline claim is out turns that claim's reserved record into a HOLE, and the inline claim, when
 * committed, is published as a REF naming it.
 *
 * <p>Invariants: {@code room() >= 0}: {@code position + promised + 8 <= readCache + logBytes}, where
 * {@code promised} counts the log bytes promised to claims still out (16 per slot claim, the record plus
 * 16 for a possible REF per inline claim); hence a commit never waits, and the 0 written after each record lands on released
 * log. Every slot in {@code published} is named by exactly one SLOT record below
 * {@code position}; it is freed when READ passes that record. {@code outstandingSlots} counts slots
 * claimed or published and not freed, at most {@code slotCount}.
 *
 * <p>Public only for {@code dev.fable.jmh.RingBench}: the package is exported to Fable's own modules alone.
 */
public final class RingWriter implements BufferOwner, dev.fable.transport.Counted {
    private static final VarHandle FRAGMENTS = dev.fable.internal.FieldHandles.of(java.lang.invoke.MethodHandles.lookup(), "fragments", long.class);

    private final MemorySegment ring;
    private final MemorySegment pool;
    private final MemorySegment[] slots;   // each slot as a segment of its own, for Buffer.segment() only (the data path addresses the pool)
    private final int slotSize;
    private final int slotCount;
    private final int logBytes;
    private final int logMask;
    private final int inlineMax;
    private final Faults faults;
    private final Tripwire dataWire;    // signal side: the log / CONSUMER_PARKED
    private final Tripwire spaceWire;   // wait side:   READ / PRODUCER_PARKED
    private final boolean consumerMayPark;

    private final int[] freeSlots;     // FIFO queue of the slotCount - outstandingSlots free slots: reused in release
    private int freeHead;              // order, so an in-order reader walks the pool sequentially (hardware prefetch follows it)
    private final int[] published;     // FIFO queue of published slots, in publication order
    private final long[] publishedAt;  // by slot: the position of the SLOT record that named it
    private int publishedHead;

    // A subscription's ring: references to the publisher's fan-out pool (pool id 1), each given back to it when READ
    // passes its record. At most `limit` (the subscriber's quota, FanoutPool.quota) are out at once: a reference beyond
    // it is refused (the publisher drops the message for this subscriber).
    private dev.fable.transport.FanoutSlots fanout;   // null: not a subscription (offerShared refuses)
    private int sharedQuota;  // the subscriber's quota: the most references this ring holds
    private int[] shared;         // FIFO of fan-out slots referenced, in publication order
    private long[] sharedAt;      // parallel: the position of each one's SLOT record
    private int sharedHead;
    private int sharedCount;
    private int publishedCount;

    // A subscription whose reader also reads the publisher's broadcast log: before each record (of a message, a drop) that
    // follows broadcast messages this ring has not yet been ordered after, a BSYNC record names the broadcast sequence
    // reached, so the reader delivers those first. Each claim out promises the 16 bytes of one BSYNC (syncExtra).
    private dev.fable.transport.BroadcastSource broadcast;   // null: none
    private long syncedTo;     // the broadcast sequence the last BSYNC (or the BSTART) named
    private int syncExtra;     // RECORD_ALIGN with a broadcast log, else 0

    private int outstandingSlots;      // claimed or published and not freed; at most slotCount
    private final SlotBuffer[] recycled;   // for slot claims: at most slotCount are out at once
    private int recycledTop;
    private final LeakDetector.Token[] leakTokens;

    private long position;     // next record's position (private copy of WRITE)
    private long readCache;    // READ as last read and checked
    private SlotBuffer inlineIdle;   // the one buffer of inline claims, always bound to the log; null while it is out
                                     // (an inline claim is out exactly then), so only the application references it
                                     // then (a dropped one is reported as a leak)
    private final int inlineIndex;   // its index: commit() knows it by that
    private int inlineCapacity;  // its capacity; its record starts at position unless holed
    private boolean inlineHoled; // a later commit made its record a HOLE at inlineAt: it is published as a REF
    private long inlineAt;
    private int missedBytes = 1;   // maxBytes of the last claim that found no space (spaceAvailable tests it)
    private final long epoch;
    private long fragments;
    private long continued;   // fragments with MORE (plain: statistics)
    private long bytes;

    public RingWriter(MemorySegment pool, MemorySegment ring, int slotSize, int slotCount, int logBytes,
                      java.util.function.Supplier<Connection> connection, long epoch, Faults faults, boolean consumerMayPark,
                      String label, LeakDetector leaks) {
        this.epoch = epoch;
        this.ring = ring;
        this.pool = pool;
        this.slotSize = slotSize;
        this.slotCount = slotCount;
        this.logBytes = logBytes;
        this.logMask = logBytes - 1;
        this.inlineMax = inlineMaxFor(slotSize);
        this.faults = faults;
        this.consumerMayPark = consumerMayPark;
        this.dataWire = consumerParkedTripwire(ring);
        this.spaceWire = producerParkedTripwire(ring);
        this.slots = new MemorySegment[slotCount];
        this.freeSlots = new int[slotCount];
        this.published = new int[slotCount];
        this.publishedAt = new long[slotCount];
        this.recycled = new SlotBuffer[slotCount];
        this.leakTokens = new LeakDetector.Token[slotCount + 1];
        for (int i = 0; i < slotCount; i++) {
            slots[i] = pool.asSlice(slotOffset(i, slotSize), slotSize);
            freeSlots[i] = i;
            recycled[i] = new SlotBuffer(this, i, connection, Buffer.Kind.SHM_SLOT, false, label, leaks);
            leakTokens[i] = recycled[i].leakToken();
        }
        inlineIndex = slotCount;
        inlineIdle = new SlotBuffer(this, inlineIndex, connection, Buffer.Kind.SHM_SLOT, false, label, leaks);
        leakTokens[slotCount] = inlineIdle.leakToken();
        inlineIdle.bindWritable(-1, ring, LOG + RECORD_HEADER, 0, SlotBuffer.SLICE_EACH_TIME, 0, epoch).kill();   // memory, slot and epoch for rebindWritable
        recycledTop = slotCount;
    }

    // Forwarded read buffers (zero-copy forwarding): lent by another connection's reader (its Lender), referenced here as
    // SLOT records of a pool announced once by a POOL record. The lender watches READ itself (this writer is its LentWatch)
    // and takes a buffer back when READ passes its record; this writer keeps only the announcements.
    private final dev.fable.buffer.Lender.LentPool[] announced = new dev.fable.buffer.Lender.LentPool[MAX_POOL_ID + 1];   // by pool id
    private final long[] announcedAt = new long[MAX_POOL_ID + 1];   // by pool id: its POOL record's position; -1 once READ passed it
    private int nextPoolId = FIRST_FORWARDED_POOL;
    private final dev.fable.buffer.Lender.LentWatch watch = new dev.fable.buffer.Lender.LentWatch() {   // one object: a forward allocates nothing
        @Override public long releasedUpTo() { return RingWriter.this.releasedUpTo(); }
        @Override public boolean abandoned() { return ended == ENDED_PEER_LIVE; }
    };
    private long lastLentAt = -1;   // sending role: the position of the last SLOT record naming a lent slot, -1 none
    private long finalRead = -1;   // READ when the leg closed under a live peer (what lenders get back); written before ended
    private volatile int ended;   // 0 open; ENDED_PEER_DONE / ENDED_PEER_LIVE once the leg closed (the LentWatch answer)
    private static final int ENDED_PEER_DONE = 1, ENDED_PEER_LIVE = 2;

    /**
     * Publishes a SLOT record naming slot {@code slot} of a lender's {@code pool} (first a POOL record announcing the
     * pool, the first time this ring carries it) and tells the lender where. {@link dev.fable.buffer.ForwardTarget#FULL}
     * when the log has no room now, {@link dev.fable.buffer.ForwardTarget#COPY} when this ring cannot name another pool.
     * Sending role.
     */
    int offerLent(SlotBuffer b, dev.fable.buffer.Lender lender, dev.fable.buffer.Lender.LentPool pool, int slot, int length, boolean more) {
        int id = poolIdOf(pool);
        if (id < 0 && nextPoolId > MAX_POOL_ID) return dev.fable.buffer.ForwardTarget.COPY;   // every id taken: forward by copy
        if (inlineIdle == null && !inlineHoled) hole();   // an inline claim is out: it must not hold this commit back
        boolean sync = syncDue();
        int need = RECORD_ALIGN + (id < 0 ? recordBytes(POOL_RECORD_PAYLOAD) : 0) + (sync ? RECORD_ALIGN : 0);
        if (!hasRoom(need)) return dev.fable.buffer.ForwardTarget.FULL;
        if (sync) sync();
        long p = position;
        if (id < 0) {
            id = nextPoolId++;
            announced[id] = pool;
            announcedAt[id] = p;
            pool.retain();   // its descriptor stays open until our peer has read this record (and so mapped the pool)
            long at = logOffset(p, logMask) + RECORD_HEADER;
            putLogWordPlain(ring, at, (id & 0xFFFF_FFFFL) | ((long) pool.fd() << 32));   // plain: published by the header's release
            putLogWordPlain(ring, at + 8, (pool.slotSize() & 0xFFFF_FFFFL) | ((long) pool.slotCount() << 32));
            publish(p, recordBytes(POOL_RECORD_PAYLOAD), header(p, KIND_POOL, POOL_RECORD_PAYLOAD, false));
            p = position;
        }
        putLogWordPlain(ring, logOffset(p, logMask) + RECORD_HEADER, pointer(id, slot, length, more));   // plain: as above
        lender.lentTo(b, watch, p);   // before the header: the lender never sees a position READ could already have passed
        lastLentAt = p;
        publish(p, RECORD_ALIGN, header(p, KIND_SLOT, RECORD_HEADER, false));
        bytes += length;
        if (more) continued++;
        if (consumerMayPark) {
            dataWire.signal();
        }
        FRAGMENTS.setRelease(this, fragments + 1);   // last, as in commit()
        return dev.fable.buffer.ForwardTarget.OFFERED;
    }

    /**
     * A lender's view of this ring ({@link dev.fable.buffer.Lender.LentWatch}): READ as the consumer published it, any
     * thread. A value the consumer forged only makes the lender give its buffer back early, which only the consumer's
     * own view of it can suffer from; this writer still checks READ before it uses it.
     */
    private long releasedUpTo() {
        int e = ended;   // volatile: finalRead is written before it
        if (e == ENDED_PEER_DONE) return Long.MAX_VALUE;
        if (e == ENDED_PEER_LIVE) return finalRead;
        try {
            return readRegisterAcquire(ring);   // acquire: the consumer's reads of the lent slot happened before
        } catch (IllegalStateException unmappedMeanwhile) {
            e = ended;
            return e == ENDED_PEER_DONE ? Long.MAX_VALUE : e == ENDED_PEER_LIVE ? finalRead : -1;
        }
    }

    private int poolIdOf(dev.fable.buffer.Lender.LentPool pool) {
        for (int i = FIRST_FORWARDED_POOL; i < nextPoolId; i++) if (announced[i] == pool) return i;
        return -1;
    }

    /** Lets go of the pools whose POOL record READ passed: the consumer has mapped them. */
    private void releaseAnnouncements(long read) {
        for (int i = FIRST_FORWARDED_POOL; i < nextPoolId; i++) {
            if (announcedAt[i] >= 0 && announcedAt[i] < read) {
                announcedAt[i] = -1;
                announced[i].release();
            }
        }
    }

    /**
     * Makes this writer a subscription's: it may publish references to slots of {@code pool}, which its peer
     * mapped as pool {@link ShmLayout#POOL_FANOUT}, at most {@code quota} unreleased at once. Once, before the writer is used.
     */
    void shareFrom(dev.fable.transport.FanoutSlots pool, int quota) {
        this.fanout = pool;
        this.sharedQuota = quota;
        this.shared = new int[quota];
        this.sharedAt = new long[quota];
    }

    /**
     * Publishes a SLOT record naming fan-out slot {@code slot} ({@code length} bytes, one whole message),
     * preceded by a DROPPED record when {@code dropped > 0}. False when the log has no room for them now, or this
     * ring already holds {@code limit} references (the caller counts a drop; nothing was written). Sending role,
     * with no claim of ours out.
     */
    boolean offerShared(int slot, int length, long dropped, int limit) {
        if (inlineIdle == null || outstandingSlots > publishedCount) {
            throw new IllegalStateException("a shared reference with a claimed buffer still out");   // the publisher never claims here
        }
        boolean sync = syncDue();
        int need = (dropped > 0 ? 2 * RECORD_ALIGN : RECORD_ALIGN) + (sync ? RECORD_ALIGN : 0);
        if (sharedCount >= limit) refreshRead();
        if (sharedCount >= limit || !hasRoom(need)) return false;
        if (sync) sync();
        long p = position;
        if (dropped > 0) {
            putLogWordPlain(ring, logOffset(p, logMask) + RECORD_HEADER, Math.min(dropped, Integer.MAX_VALUE));   // plain: published by the header's release
            publish(p, RECORD_ALIGN, header(p, KIND_DROPPED, RECORD_HEADER, false));
            p = position;
        }
        putLogWordPlain(ring, logOffset(p, logMask) + RECORD_HEADER, pointer(POOL_FANOUT, slot, length, false));   // plain: as above
        publish(p, RECORD_ALIGN, header(p, KIND_SLOT, RECORD_HEADER, false));
        int tail = sharedHead + sharedCount;
        if (tail >= sharedQuota) tail -= sharedQuota;
        shared[tail] = slot;
        sharedAt[tail] = p;
        sharedCount++;
        bytes += length;
        if (consumerMayPark) {
            dataWire.signal();
        }
        FRAGMENTS.setRelease(this, fragments + 1);   // last, as in commit()
        return true;
    }

    /**
     * The reader starts on {@code log}: a BSTART record (its position and sequence now), then BSYNC records keep this
     * ring's records after the broadcast messages published before them. Once, first, before anything else is written.
     */
    void startBroadcast(dev.fable.transport.BroadcastSource log) {
        if (position != 0 || inlineIdle == null || outstandingSlots > 0) throw new IllegalStateException("BSTART after other records");
        long seq = log.published();
        long p = position;   // 0: an empty log has room for it
        long at = logOffset(p, logMask) + RECORD_HEADER;
        putLogWordPlain(ring, at, log.startPosition());   // plain: published by the header's release
        putLogWordPlain(ring, at + 8, seq);
        publish(p, recordBytes(BSTART_PAYLOAD), header(p, KIND_BSTART, BSTART_PAYLOAD, false));
        broadcast = log;
        syncedTo = seq;
        syncExtra = RECORD_ALIGN;
        if (consumerMayPark) dataWire.signal();
    }

    /** True when a BSYNC must precede the next record: broadcast messages went out since the last one. */
    private boolean syncDue() {
        return broadcast != null && broadcast.published() != syncedTo;
    }

    /** Writes a BSYNC naming the broadcast sequence reached (room promised: {@link #syncExtra}). */
    private void sync() {
        long s = broadcast.published();
        long p = position;
        putLogWordPlain(ring, logOffset(p, logMask) + RECORD_HEADER, s);   // plain: published by the header's release
        publish(p, RECORD_ALIGN, header(p, KIND_BSYNC, 8, false));
        syncedTo = s;
    }

    /** The reader's position in the broadcast log as it published it (0 before its first): checked by the caller. */
    long broadcastRead() {
        return broadcastReadAcquire(ring);   // acquire: its copies of the records below it are done
    }

    /** Wakes the reader if it sleeps (a broadcast message reached it). Sending role. */
    void wakeReader() {
        if (consumerMayPark) dataWire.signal();
    }

    /** Fan-out references published and not yet seen released (READ is reread lazily). */
    int sharedHeld() {
        return sharedCount;
    }

    /** Rereads READ now if fan-out references are out, giving back those it passed (the publisher's pool ran dry). */
    void reclaimShared() {
        if (sharedCount > 0) refreshRead();
    }

    /** Gives back every fan-out slot whose record READ passed. */
    private void releaseShared(long read) {
        while (sharedCount > 0 && sharedAt[sharedHead] < read) {
            int slot = shared[sharedHead];
            if (++sharedHead == sharedQuota) sharedHead = 0;
            sharedCount--;
            fanout.released(slot);
        }
    }

    /**
     * True when the peer has released every lent slot this ring named (READ passed the last such record), or none was
     * lent. A value of READ outside what this writer wrote counts as not yet (the caller's wait is bounded). Any thread
     * that may read the ring (the leg not yet closed).
     */
    boolean lentReleased() {
        long at = lastLentAt;
        if (at < 0) return true;
        long r = readRegisterAcquire(ring);   // acquire: the consumer's reads of the lent slots happened before
        return r > at && r <= position;
    }

    /**
     * The leg ends: gives back the fan-out slots whose records READ passed, and, when the peer can no longer
     * read this ring ({@code peerDone}: it died, failed or closed its side), all the others too. A leg retired
     * by a switch while its peer lives keeps the rest held (the peer may still hold their buffers).
     */
    void endShared(boolean peerDone) {
        long r = readRegisterAcquire(ring);   // acquire: as in refreshRead()
        // lenders get back what READ passed by now (checked as in lentReleased; a forged value cannot pass position)
        finalRead = r > 0 && r <= position ? r : -1;
        ended = peerDone ? ENDED_PEER_DONE : ENDED_PEER_LIVE;   // volatile, after finalRead: lenders stop reading the ring
        if (fanout == null && nextPoolId == FIRST_FORWARDED_POOL) return;
        if (fanout != null && r >= readCache && r <= position && (r & (RECORD_ALIGN - 1)) == 0) releaseShared(r);
        if (fanout != null && peerDone) releaseShared(Long.MAX_VALUE);
        releaseAnnouncements(Long.MAX_VALUE);   // nobody reads an announcement of ours any more
    }

    /** Writes the headers of freshly created files (before the peer maps them). */
    public static void initialise(MemorySegment pool, MemorySegment ring, int slotSize, int slotCount, int logBytes) {
        // plain writes: no other process maps these files yet; the handshake frame that names them publishes them
        putHeaderMagicPlain(pool, POOL_MAGIC);
        putHeaderVersionPlain(pool, VERSION);
        putHeaderSlotSizePlain(pool, slotSize);
        putHeaderSlotCountPlain(pool, slotCount);
        putHeaderMagicPlain(ring, RING_MAGIC);
        putHeaderVersionPlain(ring, VERSION);
        putHeaderLogBytesPlain(ring, logBytes);
        putHeaderSlotSizePlain(ring, slotSize);
        putHeaderSlotCountPlain(ring, slotCount);
        VarHandle.releaseFence();   // headers before the handshake message that names the files
    }

    int slotSize() {
        return slotSize;
    }

    /**
     * A writable buffer: in place in the log for at most {@code inlineMax} bytes when it can be, else a
     * free slot; null when neither has room (back-pressure: the consumer holds them).
     */
    public SlotBuffer claim(int maxBytes) {
        if (maxBytes <= inlineMax && inlineIdle != null) {
            SlotBuffer b = claimInline(Math.max(maxBytes, 0));
            if (b != null) return b;
        }
        return claimSlot(maxBytes);
    }

    private SlotBuffer claimInline(int maxBytes) {
        int record = recordBytes(maxBytes);
        int toEnd = logBytes - (int) (position & logMask);
        int pad = record > toEnd ? toEnd : 0;   // the record would wrap: a PAD fills the log's end first
        if (!hasRoom(pad + record + RECORD_ALIGN + syncExtra)) {   // + a REF, should the record become a HOLE (and a BSYNC)
            missedBytes = maxBytes;
            return null;
        }
        if (pad > 0) publish(position, pad, header(position, KIND_PAD, pad - RECORD_HEADER, false));
        // The 0 after the record now, not at commit: its line is fetched while the application fills the
        // payload instead of on the way to the header's release (stores become visible in order on x86).
        putLogWordPlain(ring, logOffset(position + record, logMask), 0);   // plain: published by the header's release
        inlineCapacity = maxBytes;   // the buffer grants what was asked; the record rounds it up
        SlotBuffer b = inlineIdle;
        inlineIdle = null;
        return b.rebindWritable(logOffset(position, logMask) + RECORD_HEADER, maxBytes);
    }

    private SlotBuffer claimSlot(int maxBytes) {
        if (outstandingSlots == slotCount) refreshRead();   // lazy: READ is read only when the slots or the room run out
        if (outstandingSlots == slotCount || !hasRoom(RECORD_ALIGN + syncExtra)) {
            missedBytes = Math.max(maxBytes, 1);
            return null;
        }
        int slot = freeSlots[freeHead];   // a free one: outstandingSlots < slotCount
        if (++freeHead == slotCount) freeHead = 0;
        outstandingSlots++;
        SlotBuffer b = recycled[--recycledTop];
        recycled[recycledTop] = null;
        return b.bindWritable(slot, pool, slotOffset(slot, slotSize), slotSize, slots[slot], Math.min(Math.max(maxBytes, 0), slotSize), epoch);
    }

    /** True when {@code bytes} more fit in the log besides the promised ones, rereading READ only when the cached room runs out. */
    private boolean hasRoom(int bytes) {
        return room() >= bytes || refreshRead() && room() >= bytes;
    }

    /**
     * Log bytes free for new records: between position and READ's lap, less the 8 of the 0 after the last
     * record and what claims still out were promised (16 per slot claim for its SLOT record; an inline
     * claim's record and 16 for a REF, or only the REF's 16 once it is a HOLE).
     */
    private long room() {
        long promised = (long) (outstandingSlots - publishedCount) * (RECORD_ALIGN + syncExtra);
        if (inlineIdle == null) promised += (inlineHoled ? RECORD_ALIGN : recordBytes(inlineCapacity) + RECORD_ALIGN) + syncExtra;
        return readCache + logBytes - RECORD_HEADER - position - promised;
    }

    /**
     * Reads READ (acquire) and frees the slots of SLOT records below it. True when it moved. READ outside
     * {@code [readCache, position]} or off the record grid fails the connection.
     */
    private boolean refreshRead() {
        long r = readRegisterAcquire(ring);   // acquire: the consumer's last reads of the records below READ are done
        if (r == readCache) return false;
        if (r < readCache || r > position || (r & (RECORD_ALIGN - 1)) != 0) {
            throw faults.corrupt("the reader moved its READ register to " + r + ", outside [" + readCache + ", " + position
                    + "] or off the " + RECORD_ALIGN + "-byte record grid");
        }
        readCache = r;
        publishWrite();
        while (publishedCount > 0 && publishedAt[published[publishedHead]] < r) {
            int slot = published[publishedHead];
            if (++publishedHead == slotCount) publishedHead = 0;
            publishedCount--;
            int tail = freeHead + slotCount - outstandingSlots;   // behind the free ones
            freeSlots[tail >= slotCount ? tail - slotCount : tail] = slot;
            outstandingSlots--;
        }
        if (sharedCount > 0) releaseShared(r);
        if (nextPoolId > FIRST_FORWARDED_POOL) releaseAnnouncements(r);
        return true;
    }

    @Override
    public void commit(SlotBuffer b, boolean more) {   // only called by b itself, so b is one of ours
        int length = b.length();
        if (b.index() == inlineIndex) {
            if (syncDue()) {   // broadcast messages went out since: the BSYNC must precede this record, so it becomes a REF
                if (!inlineHoled) hole();
                sync();
            }
            long p = position;
            if (!inlineHoled) {
                int record = recordBytes(length);
                if (record == recordBytes(inlineCapacity)) {   // the usual case: the 0 after it was written at claim
                    putHeaderRelease(ring, logOffset(p, logMask), header(p, KIND_INLINE, length, more));   // release: payload and that 0 first
                    position = p + record;
                } else {
                    publish(p, record, header(p, KIND_INLINE, length, more));
                }
            } else {
                putLogWordPlain(ring, logOffset(p, logMask) + RECORD_HEADER, inlineAt);   // plain: published by the header's release
                publish(p, RECORD_ALIGN, header(p, KIND_REF, length, more));
                inlineHoled = false;
            }
            b.kill();
            inlineIdle = b;
        } else {
            int slot = b.slot();
            if (inlineIdle == null && !inlineHoled) hole();
            if (syncDue()) sync();
            long p = position;
            putLogWordPlain(ring, logOffset(p, logMask) + RECORD_HEADER, pointer(slot, length, more));   // plain: published by the header's release
            publish(p, RECORD_ALIGN, header(p, KIND_SLOT, RECORD_HEADER, false));
            publishedAt[slot] = p;
            int tail = publishedHead + publishedCount;
            published[tail >= slotCount ? tail - slotCount : tail] = slot;
            publishedCount++;
            b.kill();
            recycled[recycledTop++] = b;
        }
        bytes += length;
        if (consumerMayPark) {
            dataWire.signal();
        }
        // Last, as a release store: a reconfiguration switcher that sees this count (after its heavy fence)
        // knows the commit made its last access to the shared files, so it may retire and unmap them.
        if (more) continued++;
        FRAGMENTS.setRelease(this, fragments + 1);
    }

    /** The inline claim out becomes a HOLE record in its place: a commit after it must not wait for it. */
    private void hole() {
        long p = position;   // an inline claim's record starts at position until it is holed
        publish(p, recordBytes(inlineCapacity), header(p, KIND_HOLE, inlineCapacity, false));
        inlineAt = p;
        inlineHoled = true;   // room() now promises it only the REF's 16 bytes
    }

    /**
     * Publishes a record of {@code size} bytes at {@code p} (payload already written): 0 into the header
     * word after it, then the header with a release store. WRITE is not touched here (see {@link #publishWrite}).
     */
    private void publish(long p, int size, long header) {
        long next = p + size;
        putLogWordPlain(ring, logOffset(next, logMask), 0);     // plain: published by the release below
        putHeaderRelease(ring, logOffset(p, logMask), header);  // release: payload, pointer and the 0 after the record before the header
        position = next;
    }

    /**
     * Updates the WRITE register (monitoring only: nobody on the data path reads it). Lazily, so a small
     * message costs no store to a third line: when READ is reread, at the end-of-epoch marker and at close.
     */
    private void publishWrite() {
        putWriteRegisterRelease(ring, position);   // release: a line only this side writes
    }

    /**
     * Publishes the end-of-epoch marker after every committed record (a reconfiguration retires this
     * leg; nothing may be committed after it). False when the log has no room: wait for the consumer to
     * release some and try again. READ is checked as for claims.
     */
    boolean commitEndOfEpoch() {
        if (inlineIdle == null || outstandingSlots > publishedCount) {
            throw new IllegalStateException("end of epoch with a claimed buffer still out");   // the sending role moves only when none is
        }
        if (!hasRoom(RECORD_ALIGN)) return false;
        publish(position, RECORD_ALIGN, header(position, KIND_END, 0, false));
        publishWrite();
        if (consumerMayPark) {
            dataWire.signal();
        }
        return true;
    }

    @Override
    public void release(SlotBuffer buffer) {
        throw new IllegalStateException("release() is for read buffers; commit() a claimed buffer");
    }

    /** True when the claim that last found no space would succeed now (or READ moved). Used by waiters. */
    boolean spaceAvailable() {
        if (readRegisterAcquire(ring) != readCache) return true;   // acquire: see refreshRead()
        long room = room();
        int want = missedBytes;
        if (want <= inlineMax && inlineIdle != null && room >= 2L * recordBytes(want) + RECORD_ALIGN) return true;   // with a PAD at worst
        return outstandingSlots < slotCount && room >= RECORD_ALIGN;
    }

    Tripwire spaceWire() {
        return spaceWire;
    }

    Tripwire dataWire() {
        return dataWire;
    }

    /** Tells the consumer that nothing more will be published (after the last commit). */
    void markClosed() {
        publishWrite();
        putProducerStateRelease(ring, STATE_CLOSED);   // release: after every published record
        dataWire.wakeAll();
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

    /** Stops leak tracking of every buffer (connection closing). */
    public void untrackAll() {
        LeakDetector.untrackAll(leakTokens);
    }
}
