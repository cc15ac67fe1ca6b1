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
 * Producer side of one direction: owns the pool (read-write) and the ring's producer registers.
 *
 * <p>Single writer: one thread at a time calls {@link #claim}, {@link #commit} and
 * {@link #reclaim} (the connection's sending thread). Meta-slots (slot state, the free list) live
 * here in private memory, never in shared memory, so the consumer cannot forge them.
 *
 * <p>Slots are numbered in one index space: {@code [0, slotCount)} the slots of pool 0,
 * {@code [slotCount, slotCount + smallCount)} the small slots of pool 1 ({@link ShmLayout}); a claim
 * of at most {@value ShmLayout#SMALL_SLOT_SIZE} bytes takes a small one when the pool has them.
 *
 * <p>Invariants: every entry in {@code [reclaimed, position)} names a distinct slot in state
 * {@code PUBLISHED}; {@code outstanding} counts the slots of both pools claimed or published and not
 * yet reclaimed, and never exceeds {@code slotCount}; hence {@code position - reclaimed <= slotCount <= capacity}
 * and the ring never overwrites an entry the consumer has not released, and each pool, having
 * {@code slotCount} slots, has a free one whenever {@code outstanding < slotCount}. Released pointers
 * are read only behind the consumer's READ and each is checked against the meta-slots before its slot is reused.
 *
 * <p>Public only for {@code dev.fable.jmh.RingBench}: the package is exported to Fable's own modules alone.
 */
public final class RingWriter implements BufferOwner, dev.fable.transport.Counted {
    private static final VarHandle FRAGMENTS = dev.fable.internal.FieldHandles.of(java.lang.invoke.MethodHandles.lookup(), "fragments", long.class);

    private static final byte FREE = 0;
    private static final byte CLAIMED = 1;
    private static final byte PUBLISHED = 2;

    private final MemorySegment ring;
    private final MemorySegment pool;
    private final MemorySegment[] slots;   // each slot as a segment of its own, for Buffer.segment() only (the data path addresses the pool)
    private final int slotSize;
    private final int slotCount;
    private final int mask;
    private final Faults faults;
    private final Tripwire dataWire;    // signal side: WRITE / CONSUMER_PARKED
    private final Tripwire spaceWire;   // wait side:   READ / PRODUCER_PARKED
    private final boolean consumerMayPark;

    private final int smallCount;    // slots of pool 1: slotCount or 0
    private final byte[] slotState;  // by index (both pools)
    private final int[] freeSlots;   // FIFO queue of free slots of pool 0: reused in release order, so an
    private int freeHead;            // in-order reader walks the pool sequentially (hardware prefetch follows it)
    private int freeCount;
    private final int[] freeSmall;   // the same for pool 1 (indices slotCount + i)
    private int smallHead;
    private int smallFree;
    private int outstanding;         // slots of both pools claimed or published and not reclaimed; at most slotCount
    private final SlotBuffer[] recycled;
    private int recycledTop;
    private final LeakDetector.Token[] leakTokens;

    private long position;    // next position to publish (private copy of WRITE)
    private long reclaimed;   // positions whose released pointers were validated and freed
    private final long epoch;
    private long fragments;
    private long continued;   // fragments with MORE (plain: statistics)
    private long bytes;

    public RingWriter(MemorySegment pool, MemorySegment ring, int slotSize, int slotCount, java.util.function.Supplier<Connection> connection, long epoch,
                      Faults faults, boolean consumerMayPark, String label, LeakDetector leaks) {
        this.epoch = epoch;
        this.ring = ring;
        this.pool = pool;
        this.slotSize = slotSize;
        this.slotCount = slotCount;
        this.mask = capacityFor(slotCount) - 1;
        this.faults = faults;
        this.consumerMayPark = consumerMayPark;
        this.dataWire = consumerParkedTripwire(ring);
        this.spaceWire = producerParkedTripwire(ring);
        this.smallCount = smallSlotsFor(slotSize, slotCount);
        int total = slotCount + smallCount;
        this.slots = new MemorySegment[total];
        this.slotState = new byte[total];
        this.freeSlots = new int[slotCount];
        this.freeSmall = new int[Math.max(1, smallCount)];
        this.recycled = new SlotBuffer[slotCount];   // at most slotCount buffers are out at once (see outstanding)
        this.leakTokens = new LeakDetector.Token[slotCount];
        for (int i = 0; i < total; i++) slots[i] = pool.asSlice(offsetOf(i), sizeOf(i));
        for (int i = 0; i < slotCount; i++) {
            freeSlots[i] = i;
            recycled[i] = new SlotBuffer(this, i, connection, Buffer.Kind.SHM_SLOT, false, label, leaks);
            leakTokens[i] = recycled[i].leakToken();
        }
        for (int i = 0; i < smallCount; i++) freeSmall[i] = slotCount + i;
        freeCount = slotCount;
        smallFree = smallCount;
        recycledTop = slotCount;
    }

    private long offsetOf(int index) {
        return indexOffset(index, slotSize, slotCount);
    }

    private int sizeOf(int index) {
        return indexSize(index, slotSize, slotCount);
    }

    /** Writes the headers of freshly created files (before the peer maps them). */
    public static void initialise(MemorySegment pool, MemorySegment ring, int slotSize, int slotCount) {
        // plain writes: no other process maps these files yet; the handshake frame that names them publishes them
        putHeaderMagicPlain(pool, POOL_MAGIC);
        putHeaderVersionPlain(pool, VERSION);
        putHeaderSlotSizePlain(pool, slotSize);
        putHeaderSlotCountPlain(pool, slotCount);
        putHeaderSmallSlotSizePlain(pool, smallSlotsFor(slotSize, slotCount) == 0 ? 0 : SMALL_SLOT_SIZE);
        putHeaderSmallSlotCountPlain(pool, smallSlotsFor(slotSize, slotCount));
        putHeaderMagicPlain(ring, RING_MAGIC);
        putHeaderVersionPlain(ring, VERSION);
        putHeaderCapacityPlain(ring, capacityFor(slotCount));
        putHeaderSlotSizePlain(ring, slotSize);
        putHeaderSlotCountPlain(ring, slotCount);
        VarHandle.releaseFence();   // headers before the handshake message that names the files
    }

    int slotSize() {
        return slotSize;
    }

    /**
     * A free slot as a writable buffer (a small one for at most {@value ShmLayout#SMALL_SLOT_SIZE} bytes
     * when the pool has them), or null when the consumer holds every slot (back-pressure).
     */
    public SlotBuffer claim(int maxBytes) {
        if (outstanding == slotCount && reclaim() == 0) {
            return null;
        }
        int slot;
        if (maxBytes <= SMALL_SLOT_SIZE && smallCount > 0) {   // smallFree > 0: outstanding < slotCount = smallCount
            slot = freeSmall[smallHead];
            if (++smallHead == smallCount) smallHead = 0;
            smallFree--;
        } else {                                              // freeCount > 0 likewise
            slot = freeSlots[freeHead];
            if (++freeHead == slotCount) freeHead = 0;
            freeCount--;
        }
        outstanding++;
        slotState[slot] = CLAIMED;
        SlotBuffer b = recycled[--recycledTop];
        recycled[recycledTop] = null;   // only the application references a handed-out buffer (leak detection)
        int size = sizeOf(slot);
        return b.bindWritable(slot, pool, offsetOf(slot), size, slots[slot], Math.min(Math.max(maxBytes, 0), size), epoch);
    }

    @Override
    public void commit(SlotBuffer b, boolean more) {   // only called by b itself, so b is one of ours
        int slot = b.slot();
        int length = b.length();
        long p = position;
        long e = entryOffset(p, mask);
        putPointerPlain(ring, e, slot < slotCount ? pointer(slot, length, more)   // plain: published by the release store below
                : pointer(POOL_SMALL, slot - slotCount, length, more));
        putStampRelease(ring, e, p + 1);                         // release: payload and pointer before the stamp
        position = p + 1;
        putWriteRegisterRelease(ring, p + 1);                    // release: the WRITE register (monitoring; a line only this side writes)
        slotState[slot] = PUBLISHED;
        bytes += length;
        b.kill();
        recycled[recycledTop++] = b;
        if (consumerMayPark) {
            dataWire.signal();
        }
        // Last, as a release store: a reconfiguration switcher that sees this count (after its heavy fence)
        // knows the commit made its last access to the shared files, so it may retire and unmap them.
        if (more) continued++;
        FRAGMENTS.setRelease(this, fragments + 1);
    }

    /**
     * Publishes the end-of-epoch marker after every committed entry (a reconfiguration retires this
     * leg; nothing may be committed after it). False when the ring has no free entry: wait for the
     * consumer to release one and try again. The consumer's READ is checked as {@link #reclaim} checks
     * it: outside {@code [reclaimed, position]} the connection fails with a {@link dev.fable.CorruptChannelException}.
     */
    boolean commitEndOfEpoch() {
        long p = position;
        // acquire: the consumer's READ, as in reclaim(); positions in [READ, position) still occupy entries
        long r = readRegisterAcquire(ring);
        if (r < reclaimed || r > p) {
            throw faults.corrupt("the reader moved its READ register to " + r + ", outside [" + reclaimed + ", " + p
                    + "], when this side ended its epoch");
        }
        if (p - r >= mask + 1) return false;
        long e = entryOffset(p, mask);
        putPointerPlain(ring, e, END_OF_EPOCH);   // plain: published by the release store below
        putStampRelease(ring, e, p + 1);          // release: the marker's pointer before its stamp
        position = p + 1;
        putWriteRegisterRelease(ring, p + 1);     // release: the WRITE register (monitoring)
        if (consumerMayPark) {
            dataWire.signal();
        }
        return true;
    }

    @Override
    public void release(SlotBuffer buffer) {
        throw new IllegalStateException("release() is for read buffers; commit() a claimed buffer");
    }

    /**
     * Takes back the slots the consumer released (READ moved). Lazy: called only when the free list is
     * empty, so the consumer's READ line is read rarely. Returns how many slots came back.
     */
    int reclaim() {
        long r = readRegisterAcquire(ring);   // acquire: the consumer's rewritten pointers are visible
        if (r == reclaimed) {
            return 0;
        }
        if (r < reclaimed || r > position) {
            throw faults.corrupt("the reader moved its READ register to " + r + ", outside [" + reclaimed + ", " + position + "]");
        }
        int n = 0;
        for (long p = reclaimed; p < r; p++) {
            long ptr = pointerPlain(ring, entryOffset(p, mask));   // plain: ordered by the acquire of READ
            int pool = pointerPool(ptr), slot = pointerSlot(ptr);
            int index = pool == POOL_SLOTS ? slot : pool == POOL_SMALL && smallCount > 0 ? slotCount + slot : -1;
            if (index < 0 || slot >= slotCount || slotState[index] != PUBLISHED) {
                reclaimed = p;
                throw faults.corrupt("the reader released slot pointer 0x" + Long.toHexString(ptr) + " at position " + p
                        + ", which names a slot it does not hold");
            }
            slotState[index] = FREE;
            if (index < slotCount) {
                int tail = freeHead + freeCount;
                freeSlots[tail >= slotCount ? tail - slotCount : tail] = index;
                freeCount++;
            } else {
                int tail = smallHead + smallFree;
                freeSmall[tail >= smallCount ? tail - smallCount : tail] = index;
                smallFree++;
            }
            outstanding--;
            n++;
        }
        reclaimed = r;
        return n;
    }

    /** True when a claim would succeed now (a free slot, or the consumer released one). Used by waiters. */
    boolean spaceAvailable() {
        return outstanding < slotCount || readRegisterAcquire(ring) != reclaimed;   // acquire: see reclaim()
    }

    Tripwire spaceWire() {
        return spaceWire;
    }

    Tripwire dataWire() {
        return dataWire;
    }

    /** Tells the consumer that nothing more will be published (after the last commit). */
    void markClosed() {
        putProducerStateRelease(ring, STATE_CLOSED);   // release: after every published entry
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
