package dev.fable.transport.shm;

import dev.fable.sync.Tripwire;

import java.lang.foreign.MemorySegment;
import java.lang.invoke.VarHandle;

import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

/**
 * Byte layout of the two files of one direction, shared by writer and reader. Layout version 2.
 *
 * <h2>Pool file ({@code *.pool}): written by the producer, mapped read-only by the consumer</h2>
 * <pre>
 *   0  long  magic "FABLPOOL"    8 int version    16 int slotSize    20 int slotCount
 *                                24 int smallSlotSize (256 or 0)    28 int smallSlotCount (slotCount or 0)
 *   4096     slot 0, slot 1, ... each slotSize bytes (a multiple of 64, so every slot is cache-aligned): pool 0
 *   4096 + slotSize * slotCount
 *            small slot 0, 1, ... each 256 bytes: pool 1, present when slotSize >= 1024
 * </pre>
 * Small messages are packed: a claim of at most {@value #SMALL_SLOT_SIZE} bytes takes a small slot, so
 * consecutive small messages lie 256 bytes apart in one run of memory (16 to a page) instead of one
 * slot (by default 64 KiB, a page or more) apart. Both pools hold {@code slotCount} slots, and the writer
 * keeps at most {@code slotCount} slots of both pools claimed or published at once, so back-pressure
 * and the ring's capacity are those of {@code slotCount} as before.
 *
 * <h2>Ring file ({@code *.ring}): the consumer queue, mapped read-write by both</h2>
 * Each register sits alone in a 128-byte block (Zen fetches adjacent line pairs), written by one side:
 * <pre>
 *     0  header (producer, written once): magic "FABLRING", version, capacity, slotSize, slotCount
 *   128  WRITE           long  producer: positions published (the WRITE register; for monitoring)
 *   256  CONSUMER_PARKED int   consumer: a generation while it sleeps (its futex word); the producer CASes it to 0 to wake it
 *   384  READ            long  consumer: positions released, published in batches (see RingReader)
 *   512  PRODUCER_PARKED int   producer: a generation while it sleeps for space (its futex word); the consumer CASes it to 0
 *   640  PRODUCER_STATE  int   producer: 0 open, 1 closed cleanly (set after its last commit)
 *   768  CONSUMER_CPU    long  consumer: where its waiting thread runs, stamped with the time (AdaptiveSpin); 0 never
 *   776  CONSUMER_TID    int   consumer: that thread's kernel id (the peer reads its run time from /proc); 0 unknown
 *   896  PRODUCER_CPU    long  producer: the same for its thread waiting for space
 *   904  PRODUCER_TID    int   producer: that thread's kernel id
 *  1024  entries[capacity], 16 bytes each: long stamp, long slot pointer
 * </pre>
 * Entry {@code p mod capacity} holds position {@code p}. The producer writes the slot pointer, then
 * the stamp {@code p + 1} with a release store; the consumer polls the stamp of its next position,
 * never a shared tail counter (which would bounce a cache line per message). Entries behind READ
 * carry released slot pointers back: the consumer rewrites an entry only when it released out of order.
 *
 * <h2>Slot pointer (64 bits)</h2>
 * {@code length:32 | more:1 | poolId:7 | slotIndex:24} (from the high bit down). Pool 0 holds the
 * slots of {@code slotSize} bytes, pool 1 the small ones (length at most {@value #SMALL_SLOT_SIZE}). Pool id 127 with
 * length 0 and slot 0 is the end-of-epoch marker ({@link #END_OF_EPOCH}): the producer's last entry
 * on a connection leg that a reconfiguration retires; it names no slot and is never released.
 *
 * <h2>Accessors</h2>
 * Every read and write of a header field, register or entry field goes through a static accessor
 * below, named for the field and its memory ordering ({@code Plain}, {@code Acquire}, {@code Release});
 * no other class in core adds offsets to a field. They are static and take the segment (and an
 * entry's offset from {@link #entryOffset}), so the JIT inlines them into the data path. They check
 * nothing: every value read from memory the peer can write is still checked by the caller before use. The PARKED words are reached only
 * through {@link Tripwire} ({@link #consumerParkedTripwire}, {@link #producerParkedTripwire}).
 */
public final class ShmLayout {
    private ShmLayout() {}

    public static final int VERSION = 2;   // 2: the small-slot pool (pool 1) after the slots

    public static final long POOL_MAGIC = 0x4C4F4F504C424146L;   // "FABLPOOL" little-endian
    public static final long RING_MAGIC = 0x474E49524C424146L;   // "FABLRING" little-endian
    public static final long POOL_HEADER = 4096;

    public static final long HDR_MAGIC = 0;
    public static final long HDR_VERSION = 8;
    public static final long HDR_CAPACITY = 12;   // ring only
    public static final long HDR_SLOT_SIZE = 16;
    public static final long HDR_SLOT_COUNT = 20;
    public static final long HDR_SMALL_SLOT_SIZE = 24;    // pool only
    public static final long HDR_SMALL_SLOT_COUNT = 28;   // pool only

    /** Bytes of a small slot (pool 1): claims of at most this many bytes are packed into them. */
    public static final int SMALL_SLOT_SIZE = 256;
    /** The slot size from which a pool has small slots: below it, packing would save little. */
    public static final int SMALL_SLOTS_FROM = 1024;
    /** Pool ids in a slot pointer. */
    public static final int POOL_SLOTS = 0;
    public static final int POOL_SMALL = 1;

    public static final long WRITE = 128;
    public static final long CONSUMER_PARKED = 256;
    public static final long READ = 384;
    public static final long PRODUCER_PARKED = 512;
    public static final long PRODUCER_STATE = 640;
    public static final long CONSUMER_CPU = 768;
    public static final long PRODUCER_CPU = 896;
    public static final long CONSUMER_TID = CONSUMER_CPU + 8;
    public static final long PRODUCER_TID = PRODUCER_CPU + 8;
    public static final long ENTRIES = 1024;
    public static final int ENTRY_SIZE = 16;
    private static final long ENTRY_STAMP = 0;     // within an entry
    private static final long ENTRY_POINTER = 8;

    private static final VarHandle LONG = JAVA_LONG.varHandle();
    private static final VarHandle INT = JAVA_INT.varHandle();

    public static final int STATE_OPEN = 0;
    public static final int STATE_CLOSED = 1;

    private static final long MORE_BIT = 1L << 31;
    /** The end-of-epoch marker entry (pool 127, slot 0, length 0). */
    public static final long END_OF_EPOCH = 127L << 24;

    /** Small slots of a pool of {@code slotCount} slots of {@code slotSize} bytes: as many as slots from {@link #SMALL_SLOTS_FROM}, else none. */
    public static int smallSlotsFor(int slotSize, int slotCount) {
        return slotSize >= SMALL_SLOTS_FROM ? slotCount : 0;
    }

    public static long poolBytes(int slotSize, int slotCount) {
        return POOL_HEADER + (long) slotSize * slotCount + (long) smallSlotsFor(slotSize, slotCount) * SMALL_SLOT_SIZE;
    }

    public static long ringBytes(int capacity) {
        return ENTRIES + (long) capacity * ENTRY_SIZE;
    }

    /** Ring capacity for a pool: the next power of two ≥ slotCount, so the ring can never overflow. */
    public static int capacityFor(int slotCount) {
        return Integer.highestOneBit(slotCount - 1) << 1;
    }

    public static long slotOffset(int slot, int slotSize) {
        return POOL_HEADER + (long) slot * slotSize;
    }

    /** Offset of small slot {@code slot} (pool 1) in a pool of {@code slotCount} slots of {@code slotSize}. */
    public static long smallSlotOffset(int slot, int slotSize, int slotCount) {
        return POOL_HEADER + (long) slotSize * slotCount + (long) slot * SMALL_SLOT_SIZE;
    }

    /**
     * Offset of slot {@code index} in the one index space the writer and the reader number both pools
     * in: {@code [0, slotCount)} the slots of pool 0, {@code [slotCount, 2 * slotCount)} the small slots of pool 1.
     */
    public static long indexOffset(int index, int slotSize, int slotCount) {
        return index < slotCount ? slotOffset(index, slotSize) : smallSlotOffset(index - slotCount, slotSize, slotCount);
    }

    /** Bytes of slot {@code index} of that index space. */
    public static int indexSize(int index, int slotSize, int slotCount) {
        return index < slotCount ? slotSize : SMALL_SLOT_SIZE;
    }

    public static long entryOffset(long position, int mask) {
        return ENTRIES + (position & mask) * ENTRY_SIZE;
    }

    public static long pointer(int slot, int length, boolean more) {
        return pointer(POOL_SLOTS, slot, length, more);
    }

    public static long pointer(int pool, int slot, int length, boolean more) {
        return ((long) length << 32) | (more ? MORE_BIT : 0) | ((long) (pool & 0x7F) << 24) | (slot & 0xFF_FFFFL);
    }

    public static int pointerSlot(long p) {
        return (int) (p & 0xFF_FFFFL);
    }

    public static int pointerPool(long p) {
        return (int) ((p >>> 24) & 0x7F);
    }

    public static boolean pointerMore(long p) {
        return (p & MORE_BIT) != 0;
    }

    /** Unsigned: a hostile value can never come out negative. */
    public static long pointerLength(long p) {
        return p >>> 32;
    }

    // ---- headers: plain; the producer writes them once (before the handshake frame that names the files) ----

    /** Plain: magic ({@link #POOL_MAGIC} / {@link #RING_MAGIC}) of a pool or ring; written once by the producer. */
    public static long headerMagicPlain(MemorySegment file) {
        return file.get(JAVA_LONG, HDR_MAGIC);
    }

    /** Plain: magic of a pool or ring; written once by the producer before the peer maps the file. */
    public static void putHeaderMagicPlain(MemorySegment file, long magic) {
        file.set(JAVA_LONG, HDR_MAGIC, magic);
    }

    /** Plain: layout version of a pool or ring; written once by the producer. */
    public static int headerVersionPlain(MemorySegment file) {
        return file.get(JAVA_INT, HDR_VERSION);
    }

    /** Plain: layout version of a pool or ring; written once by the producer before the peer maps the file. */
    public static void putHeaderVersionPlain(MemorySegment file, int version) {
        file.set(JAVA_INT, HDR_VERSION, version);
    }

    /** Plain: small slot size (pool only; 0: no small slots); written once by the producer. */
    public static int headerSmallSlotSizePlain(MemorySegment pool) {
        return pool.get(JAVA_INT, HDR_SMALL_SLOT_SIZE);
    }

    /** Plain: small slot size (pool only); written once by the producer before the peer maps the file. */
    public static void putHeaderSmallSlotSizePlain(MemorySegment pool, int size) {
        pool.set(JAVA_INT, HDR_SMALL_SLOT_SIZE, size);
    }

    /** Plain: small slot count (pool only); written once by the producer. */
    public static int headerSmallSlotCountPlain(MemorySegment pool) {
        return pool.get(JAVA_INT, HDR_SMALL_SLOT_COUNT);
    }

    /** Plain: small slot count (pool only); written once by the producer before the peer maps the file. */
    public static void putHeaderSmallSlotCountPlain(MemorySegment pool, int count) {
        pool.set(JAVA_INT, HDR_SMALL_SLOT_COUNT, count);
    }

    /** Plain: ring capacity (ring only); written once by the producer. */
    public static int headerCapacityPlain(MemorySegment ring) {
        return ring.get(JAVA_INT, HDR_CAPACITY);
    }

    /** Plain: ring capacity (ring only); written once by the producer before the peer maps the file. */
    public static void putHeaderCapacityPlain(MemorySegment ring, int capacity) {
        ring.set(JAVA_INT, HDR_CAPACITY, capacity);
    }

    /** Plain: slot size of a pool or ring; written once by the producer. */
    public static int headerSlotSizePlain(MemorySegment file) {
        return file.get(JAVA_INT, HDR_SLOT_SIZE);
    }

    /** Plain: slot size of a pool or ring; written once by the producer before the peer maps the file. */
    public static void putHeaderSlotSizePlain(MemorySegment file, int slotSize) {
        file.set(JAVA_INT, HDR_SLOT_SIZE, slotSize);
    }

    /** Plain: slot count of a pool or ring; written once by the producer. */
    public static int headerSlotCountPlain(MemorySegment file) {
        return file.get(JAVA_INT, HDR_SLOT_COUNT);
    }

    /** Plain: slot count of a pool or ring; written once by the producer before the peer maps the file. */
    public static void putHeaderSlotCountPlain(MemorySegment file, int slotCount) {
        file.set(JAVA_INT, HDR_SLOT_COUNT, slotCount);
    }

    // ---- registers ----

    /** Release: the WRITE register (positions published; the consumer never reads it); written by the producer. */
    public static void putWriteRegisterRelease(MemorySegment ring, long positions) {
        LONG.setRelease(ring, WRITE, positions);
    }

    /** Acquire: the READ register (positions released), so rewritten pointers behind it are visible; written by the consumer. */
    public static long readRegisterAcquire(MemorySegment ring) {
        return (long) LONG.getAcquire(ring, READ);
    }

    /** Release: the READ register, after the pointers rewritten behind it; written by the consumer. */
    public static void putReadRegisterRelease(MemorySegment ring, long positions) {
        LONG.setRelease(ring, READ, positions);
    }

    /** Acquire: PRODUCER_STATE ({@link #STATE_OPEN} / {@link #STATE_CLOSED}); written by the producer. */
    public static int producerStateAcquire(MemorySegment ring) {
        return (int) INT.getAcquire(ring, PRODUCER_STATE);
    }

    /** Release: PRODUCER_STATE, after every entry the producer published; written by the producer. */
    public static void putProducerStateRelease(MemorySegment ring, int state) {
        INT.setRelease(ring, PRODUCER_STATE, state);
    }

    /** Opaque: CONSUMER_TID, a hint (validated as a positive thread id of the peer's process before use); written by the consumer. */
    public static int consumerTidOpaque(MemorySegment ring) {
        return (int) INT.getOpaque(ring, CONSUMER_TID);
    }

    /** Opaque: CONSUMER_TID; written with CONSUMER_CPU. Written by the consumer. */
    public static void putConsumerTidOpaque(MemorySegment ring, int tid) {
        INT.setOpaque(ring, CONSUMER_TID, tid);
    }

    /** Opaque: PRODUCER_TID, a hint as CONSUMER_TID; written by the producer. */
    public static int producerTidOpaque(MemorySegment ring) {
        return (int) INT.getOpaque(ring, PRODUCER_TID);
    }

    /** Opaque: PRODUCER_TID; written with PRODUCER_CPU. Written by the producer. */
    public static void putProducerTidOpaque(MemorySegment ring, int tid) {
        INT.setOpaque(ring, PRODUCER_TID, tid);
    }

    /** Opaque: CONSUMER_CPU, a hint (compared, never an index); written by the consumer now and then while it waits. */
    public static long consumerCpuOpaque(MemorySegment ring) {
        return (long) LONG.getOpaque(ring, CONSUMER_CPU);
    }

    /** Opaque: CONSUMER_CPU; no ordering needed, a whole word is never torn. Written by the consumer. */
    public static void putConsumerCpuOpaque(MemorySegment ring, long stampedCpu) {
        LONG.setOpaque(ring, CONSUMER_CPU, stampedCpu);
    }

    /** Opaque: PRODUCER_CPU, a hint (compared, never an index); written by the producer now and then while it waits for space. */
    public static long producerCpuOpaque(MemorySegment ring) {
        return (long) LONG.getOpaque(ring, PRODUCER_CPU);
    }

    /** Opaque: PRODUCER_CPU; no ordering needed, a whole word is never torn. Written by the producer. */
    public static void putProducerCpuOpaque(MemorySegment ring, long stampedCpu) {
        LONG.setOpaque(ring, PRODUCER_CPU, stampedCpu);
    }

    /** CONSUMER_PARKED as a tripwire: the consumer sets a generation (volatile) and 0 (opaque); the producer reads it (volatile) and CASes it to 0. */
    public static Tripwire consumerParkedTripwire(MemorySegment ring) {
        return new Tripwire(ring, CONSUMER_PARKED);
    }

    /** PRODUCER_PARKED as a tripwire: the producer sets a generation (volatile) and 0 (opaque); the consumer reads it (volatile) and CASes it to 0. */
    public static Tripwire producerParkedTripwire(MemorySegment ring) {
        return new Tripwire(ring, PRODUCER_PARKED);
    }

    // ---- entry fields; entry = entryOffset(position, mask) ----

    /** Acquire: an entry's stamp (position + 1 once published), pairs with {@link #putStampRelease}; written by the producer. */
    public static long stampAcquire(MemorySegment ring, long entry) {
        return (long) LONG.getAcquire(ring, entry + ENTRY_STAMP);
    }

    /** Release: an entry's stamp, after its slot pointer and the slot's payload; written by the producer. */
    public static void putStampRelease(MemorySegment ring, long entry, long stamp) {
        LONG.setRelease(ring, entry + ENTRY_STAMP, stamp);
    }

    /** Plain: an entry's slot pointer, ordered by the caller's acquire of the stamp or of READ; written by the producer (publish), then the consumer (release). */
    public static long pointerPlain(MemorySegment ring, long entry) {
        return ring.get(JAVA_LONG, entry + ENTRY_POINTER);
    }

    /** Plain: an entry's slot pointer, published by the caller's next release (stamp or READ); written by the producer (publish), then the consumer (release). */
    public static void putPointerPlain(MemorySegment ring, long entry, long pointer) {
        ring.set(JAVA_LONG, entry + ENTRY_POINTER, pointer);
    }

    // ---- slots ----

    /** Plain: the first word of a slot ({@code slot} from {@link #slotOffset}), read only to pull its line in early; written by the producer. */
    public static long slotFirstWordPlain(MemorySegment pool, long slot) {
        return pool.get(JAVA_LONG, slot);
    }
}
