package dev.fable.transport.shm;

/**
 * Byte layout of the two files of one direction, shared by writer and reader. Layout version 1.
 *
 * <h2>Pool file ({@code *.pool}): written by the producer, mapped read-only by the consumer</h2>
 * <pre>
 *   0  long  magic "FABLPOOL"      8 int version     12 int slotSize     16 int slotCount
 *   4096     slot 0, slot 1, ... each slotSize bytes (a multiple of 64, so every slot is cache-aligned)
 * </pre>
 *
 * <h2>Ring file ({@code *.ring}): the consumer queue, mapped read-write by both</h2>
 * Each register sits alone in a 128-byte block (Zen fetches adjacent line pairs), written by one side:
 * <pre>
 *     0  header (producer, written once): magic "FABLRING", version, capacity, slotSize, slotCount
 *   128  WRITE           long  producer: positions published (the WRITE register; for monitoring)
 *   256  CONSUMER_PARKED int   consumer: a generation while it sleeps (its futex word); the producer CASes it to 0 to wake it
 *   384  READ            long  consumer: positions released
 *   512  PRODUCER_PARKED int   producer: a generation while it sleeps for space (its futex word); the consumer CASes it to 0
 *   640  PRODUCER_STATE  int   producer: 0 open, 1 closed cleanly (set after its last commit)
 *  1024  entries[capacity], 16 bytes each: long stamp, long slot pointer
 * </pre>
 * Entry {@code p mod capacity} holds position {@code p}. The producer writes the slot pointer, then
 * the stamp {@code p + 1} with a release store; the consumer polls the stamp of its next position,
 * never a shared tail counter (which would bounce a cache line per message). Entries behind READ
 * carry released slot pointers back: the consumer rewrites an entry only when it released out of order.
 *
 * <h2>Slot pointer (64 bits)</h2>
 * {@code length:32 | more:1 | poolId:7 | slotIndex:24} (from the high bit down). Pool id 127 with
 * length 0 and slot 0 is the end-of-epoch marker ({@link #END_OF_EPOCH}): the producer's last entry
 * on a connection leg that a reconfiguration retires; it names no slot and is never released.
 */
public final class ShmLayout {
    private ShmLayout() {}

    public static final int VERSION = 1;

    public static final long POOL_MAGIC = 0x4C4F4F504C424146L;   // "FABLPOOL" little-endian
    public static final long RING_MAGIC = 0x474E49524C424146L;   // "FABLRING" little-endian
    public static final long POOL_HEADER = 4096;

    public static final long HDR_MAGIC = 0;
    public static final long HDR_VERSION = 8;
    public static final long HDR_CAPACITY = 12;   // ring only
    public static final long HDR_SLOT_SIZE = 16;
    public static final long HDR_SLOT_COUNT = 20;

    public static final long WRITE = 128;
    public static final long CONSUMER_PARKED = 256;
    public static final long READ = 384;
    public static final long PRODUCER_PARKED = 512;
    public static final long PRODUCER_STATE = 640;
    public static final long ENTRIES = 1024;
    public static final int ENTRY_SIZE = 16;

    public static final int STATE_OPEN = 0;
    public static final int STATE_CLOSED = 1;

    private static final long MORE_BIT = 1L << 31;
    /** The end-of-epoch marker entry (pool 127, slot 0, length 0). */
    public static final long END_OF_EPOCH = 127L << 24;

    public static long poolBytes(int slotSize, int slotCount) {
        return POOL_HEADER + (long) slotSize * slotCount;
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

    public static long entryOffset(long position, int mask) {
        return ENTRIES + (position & mask) * ENTRY_SIZE;
    }

    public static long pointer(int slot, int length, boolean more) {
        return ((long) length << 32) | (more ? MORE_BIT : 0) | (slot & 0xFF_FFFFL);   // pool id 0
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
}
