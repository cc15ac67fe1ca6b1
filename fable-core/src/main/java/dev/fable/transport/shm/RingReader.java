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
 * Consumer side of one direction: maps the producer's pool read-only and owns the ring's consumer
 * registers (READ, CONSUMER_PARKED).
 *
 * <p>Single reader: one thread at a time calls {@link #poll} and {@link #release} (the
 * connection's receiving thread). Nothing read from the ring is trusted: stamps, slot pointers
 * and lengths are checked before use, and the consumer never reads back its own registers from
 * shared memory (it keeps private copies), so a hostile producer cannot steer it out of bounds.
 *
 * <p>Release protocol: positions {@code [released, position)} were polled; releasing a buffer
 * writes its slot pointer into entry {@code released} (only if a different pointer is there, i.e.
 * when releasing out of order; the reader compares with its private copy of what it polled there, so
 * an in-order release reads no shared line) and advances its private {@code released}. READ is
 * published with a release store in batches: after {@link #releaseBatch} releases, whenever a poll
 * finds nothing new (so a writer waiting for space is never left waiting on a reader that went idle),
 * at the end-of-epoch marker, and at once when the writer sleeps for space. A reader that stops
 * polling therefore withholds at most {@code releaseBatch - 1} released slots from the writer.
 *
 * <p>Public only for {@code dev.fable.jmh.RingBench}: the package is exported to Fable's own modules alone.
 */
public final class RingReader implements BufferOwner, dev.fable.transport.Counted {
    private static final VarHandle RECYCLED_TOP = dev.fable.internal.FieldHandles.of(java.lang.invoke.MethodHandles.lookup(), "recycledTop", int.class);

    private final MemorySegment ring;
    private final MemorySegment pool;      // the producer's pool, read-only
    private final MemorySegment[] slots;   // read-only views of the producer's slots, for Buffer.segment() and copies
    private final int slotSize;
    private final int slotCount;
    private final int smallCount;          // small slots (pool 1): slotCount or 0
    private final int capacity;
    private final int mask;
    private final boolean trusted;
    private final Faults faults;
    private final Tripwire dataWire;    // wait side:   WRITE / CONSUMER_PARKED
    private final Tripwire spaceWire;   // signal side: READ / PRODUCER_PARKED
    private final boolean producerMayPark;
    private final String label;

    private final boolean[] held;
    private final SlotBuffer[] recycled;
    // Every buffer object of this reader, held weakly: a strong reference would hide a dropped buffer from the leak detector.
    private final java.lang.ref.WeakReference<SlotBuffer>[] all;
    private int recycledTop;
    private final LeakDetector.Token[] leakTokens;
    private final MemorySegment[] copies;      // untrusted: private copy areas (writable)
    private final MemorySegment[] copyViews;   // untrusted: their read-only views handed to the application

    private int nextSlotGuess;   // the writer's FIFO free queue makes this the usual next slot (see dataAvailable)
    private long touched;        // sink for the speculative read, so the JIT keeps it
    private boolean inputFinished;   // the producer's end-of-epoch marker was polled: nothing follows on this ring
    private long position;   // next position to poll
    private long released;   // positions released (READ as it will be published)
    private long published;  // READ as last published; released - published < releaseBatch
    private final int releaseBatch;
    private final long[] polledPointers;   // private: the pointer polled at each entry of [released, position)
    private final long epoch;
    private long fragments;
    private long continued;
    private long bytes;

    public RingReader(MemorySegment pool, MemorySegment ring, int slotSize, int slotCount, boolean trusted, int quota,
                      java.util.function.Supplier<Connection> connection, long epoch, Faults faults, boolean producerMayPark, String label,
                      LeakDetector leaks) {
        this.epoch = epoch;
        this.ring = ring;
        this.pool = pool;
        this.slotSize = slotSize;
        this.slotCount = slotCount;
        this.capacity = capacityFor(slotCount);
        this.mask = capacity - 1;
        this.trusted = trusted;
        this.faults = faults;
        this.producerMayPark = producerMayPark;
        this.label = label;
        this.dataWire = consumerParkedTripwire(ring);
        this.spaceWire = producerParkedTripwire(ring);
        this.releaseBatch = releaseBatchFor(slotCount);
        this.polledPointers = new long[capacity];
        this.smallCount = smallSlotsFor(slotSize, slotCount);
        int total = slotCount + smallCount;   // one index space, as the writer's: [0, slotCount) pool 0, then pool 1
        this.slots = new MemorySegment[total];
        for (int i = 0; i < total; i++) {
            slots[i] = pool.asSlice(offsetOf(i), indexSize(i, slotSize, slotCount));
        }
        this.held = new boolean[total];
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
     * Checks the headers of a peer's freshly mapped files against what the handshake announced.
     * Returns null when they agree, else what is wrong.
     */
    public static String validateHeaders(MemorySegment pool, MemorySegment ring, int slotSize, int slotCount) {
        // plain reads: the producer wrote the headers once, before the handshake frame that named the
        // files; the socket round trip orders them. Every value is compared, none is used as an index.
        if (headerMagicPlain(pool) != POOL_MAGIC || headerMagicPlain(ring) != RING_MAGIC) {
            return "bad magic in the peer's pool or ring file";
        }
        if (headerVersionPlain(pool) != VERSION || headerVersionPlain(ring) != VERSION) {
            return "layout version " + headerVersionPlain(pool) + "/" + headerVersionPlain(ring)
                    + " (this side speaks " + VERSION + ")";
        }
        int small = smallSlotsFor(slotSize, slotCount);
        if (headerSlotSizePlain(pool) != slotSize || headerSlotCountPlain(pool) != slotCount
                || headerSmallSlotCountPlain(pool) != small || headerSmallSlotSizePlain(pool) != (small == 0 ? 0 : SMALL_SLOT_SIZE)
                || headerSlotSizePlain(ring) != slotSize || headerSlotCountPlain(ring) != slotCount
                || headerCapacityPlain(ring) != capacityFor(slotCount)) {
            return "file headers disagree with the handshake (" + slotCount + " slots of " + slotSize + " B)";
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
        long p = position;
        long e = entryOffset(p, mask);
        long stamp = stampAcquire(ring, e);   // acquire: pairs with the producer's release of the stamp
        if (stamp != p + 1) {
            long previousLap = p < capacity ? 0 : p + 1 - capacity;
            if (stamp != previousLap) {
                throw faults.corrupt("ring entry for position " + p + " carries stamp " + stamp + ", expected "
                        + (p + 1) + " or " + previousLap);
            }
            if (published != released) publishRead();   // going idle: the writer gets every slot released so far
            return null;
        }
        long ptr = pointerPlain(ring, e);   // plain: ordered after the stamp's acquire
        if (ptr == END_OF_EPOCH) {   // the producer's last entry on this leg (a reconfiguration retires it); never released
            position = p + 1;
            inputFinished = true;
            if (published != released) publishRead();
            return null;
        }
        int slot = pointerSlot(ptr);
        long length = pointerLength(ptr);
        int poolId = pointerPool(ptr);
        boolean small = poolId == POOL_SMALL && smallCount > 0;
        if ((poolId != POOL_SLOTS && !small) || slot >= slotCount || length > (small ? SMALL_SLOT_SIZE : slotSize)) {
            throw faults.corrupt("slot pointer 0x" + Long.toHexString(ptr) + " at position " + p + " is out of bounds (pool "
                    + poolId + ", slot " + slot + " of " + slotCount + ", length " + length + " of " + (small ? SMALL_SLOT_SIZE : slotSize) + ")");
        }
        int index = small ? slotCount + slot : slot;
        if (held[index]) {
            throw faults.corrupt("the writer published " + (small ? "small slot " : "slot ") + slot + " at position " + p
                    + " while this reader still holds it");
        }
        position = p + 1;
        polledPointers[(int) (p & mask)] = ptr;
        nextSlotGuess = index + 1 == slotCount ? 0 : index + 1 == slots.length ? slotCount : index + 1;
        fragments++;
        bytes += length;
        SlotBuffer b = recycled[--recycledTop];
        recycled[recycledTop] = null;   // only the application references a handed-out buffer (leak detection)
        boolean more = pointerMore(ptr);
        if (more) continued++;
        if (trusted) {
            held[index] = true;
            return b.bindReadable(index, pool, offsetOf(index), small ? SMALL_SLOT_SIZE : slotSize, slots[index], (int) length, more, ptr, epoch);
        }
        int i = b.index();
        MemorySegment.copy(pool, offsetOf(index), copies[i], 0, length);
        giveBack(ptr);   // in order: the private copy is taken, the slot can go back at once
        return b.bindReadable(-1, copyViews[i], (int) length, more, ptr, epoch);
    }

    /** Offset of slot {@code index} of the writer's index space: pool 0 below slotCount, pool 1 from it. */
    private long offsetOf(int index) {
        return indexOffset(index, slotSize, slotCount);
    }

    /** Consumes the end-of-epoch marker if it is the next entry; never consumes data. Receiving role. */
    boolean skipEndOfEpoch() {
        if (inputFinished) return true;
        long p = position;
        long e = entryOffset(p, mask);
        if (stampAcquire(ring, e) != p + 1) return false;          // acquire: as in poll()
        if (pointerPlain(ring, e) != END_OF_EPOCH) return false;   // plain: ordered after the stamp's acquire
        position = p + 1;
        inputFinished = true;
        if (published != released) publishRead();
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
            held[b.slot()] = false;
            giveBack(b.descriptor());
        }
        b.kill();
        int top = recycledTop;
        recycled[top] = b;
        // Last, as a release store: a switcher that sees the buffer back (held(), after its heavy fence) knows
        // the release made its last access to the shared files, so it may retire and unmap them.
        RECYCLED_TOP.setRelease(this, top + 1);
    }

    private void giveBack(long ptr) {
        long r = released;
        int i = (int) (r & mask);
        if (polledPointers[i] != ptr) {                    // released out of order: entry r must name this slot now
            putPointerPlain(ring, entryOffset(r, mask), ptr);   // plain: published by the release store of READ
            polledPointers[i] = ptr;
        }
        released = r + 1;
        if (r + 1 - published >= releaseBatch || (producerMayPark && spaceWire.waiterAdvertised())) {
            publishRead();
        }
    }

    /** Publishes READ up to every release so far, then wakes a writer sleeping for space. */
    private void publishRead() {
        published = released;
        putReadRegisterRelease(ring, released);   // release: the rewritten pointers before READ
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
     * True when {@link #poll} would return a fragment now. Called by waiters in their spin loop: besides
     * the stamp it reads the first line of the slot the writer will most likely use next, so that when
     * the message lands both cache lines travel in parallel instead of one after the other (the slot
     * address is otherwise known only after the entry arrived). A wrong guess costs one wasted load.
     */
    boolean dataAvailable() {
        long stamp = stampAcquire(ring, entryOffset(position, mask));   // acquire: as in poll()
        touched += slotFirstWordPlain(pool, offsetOf(nextSlotGuess));   // plain: speculative, value unused
        return stamp == position + 1;
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
