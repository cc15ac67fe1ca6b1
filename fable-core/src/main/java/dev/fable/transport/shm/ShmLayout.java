package dev.fable.transport.shm;

import dev.fable.sync.Tripwire;

import java.lang.foreign.MemorySegment;
import java.lang.invoke.VarHandle;

import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

/**
 * Byte layout of the two files of one direction, shared by writer and reader. Layout version 3
 * (docs/shm-transport.md is the byte-exact specification).
 *
 * <h2>Pool file ({@code *.pool}): written by the producer, mapped read-only by the consumer</h2>
 * <pre>
 *   0  long  magic "FABLPOOL"    8 int version    16 int slotSize    20 int slotCount
 *   4096     slot 0, slot 1, ... each slotSize bytes (a multiple of 64, so every slot is cache-aligned)
 * </pre>
 *
 * <h2>Ring file ({@code *.ring}): the consumer queue, mapped read-write by both</h2>
 * Each register sits alone in a 128-byte block (Zen fetches adjacent line pairs), written by one side:
 * <pre>
 *     0  header (producer, written once): magic "FABLRING", version, logBytes, slotSize, slotCount
 *   128  WRITE           long  producer: log position published (monitoring only; the consumer never reads it)
 *   256  CONSUMER_PARKED int   consumer: a generation while it sleeps (its futex word); the producer CASes it to 0 to wake it
 *   384  READ            long  consumer: log position released (every record below it), published in batches
 *   392  BROADCAST_READ  long  consumer (a subscription reading a broadcast log): its position there, published per batch
 *   512  PRODUCER_PARKED int   producer: a generation while it sleeps for space (its futex word); the consumer CASes it to 0
 *   640  PRODUCER_STATE  int   producer: 0 open, 1 closed cleanly (set after its last commit)
 *   768  CONSUMER_CPU    long  consumer: where its waiting thread runs, stamped with the time (AdaptiveSpin); 0 never
 *   776  CONSUMER_TID    int   consumer: that thread's kernel id (the peer reads its run time from /proc); 0 unknown
 *   896  PRODUCER_CPU    long  producer: the same for its thread waiting for space
 *   904  PRODUCER_TID    int   producer: that thread's kernel id
 *  4096  log[logBytes]         producer: records, back to back (logBytes a power of two)
 * </pre>
 *
 * <h2>The log</h2>
 * A position is a byte count that only grows; position {@code p} lives at {@code LOG + (p & (logBytes - 1))}.
 * Records start at multiples of {@value #RECORD_ALIGN} and never wrap (a PAD record fills the log's end
 * instead). Each starts with an 8-byte header:
 * <pre>
 *   bits  0-31  tag     (int) (p >>> 4): tells this lap's record from older bytes at the same offset
 *   bits 32-55  length  payload bytes (INLINE, REF: the message; SLOT: 8; PAD, HOLE: bytes skipped; END: 0)
 *   bits 56-62  kind    INLINE 1, SLOT 2, PAD 3, HOLE 4, REF 5, END 6, DROPPED 7, POOL 8
 *   bit  63     more    INLINE and REF: another fragment of the message follows
 * </pre>
 * A record occupies {@code 8 + length} bytes rounded up to 16. INLINE carries a small message in place;
 * SLOT's 8-byte payload is a slot pointer into the pool; PAD skips to the log's end; HOLE is an inline
 * record whose message was committed after a later one (its REF, later in the log, names the HOLE's
 * position and delivers its bytes in commit order); END is the end-of-epoch marker; DROPPED (8-byte payload: a
 * count from 1 to 2^31 - 1) tells a subscriber how many messages a publisher dropped for it since the last
 * DROPPED because this log was full (only in the ring of a subscription); POOL (16-byte payload: int poolId 2..127,
 * int fd, int slotSize, int slotCount) announces a pool of the producer's process that later SLOT records name by
 * that id: a pool the producer forwards read buffers from (the consumer maps {@code /proc/<producer pid>/fd/<fd>}
 * read-only, once). The producer writes a
 * record's payload, then 0 into the header word after the record (so older bytes there can never read as
 * a record), then the header with a release store; the consumer loads its next header with acquire.
 * READ covers only records whose buffers were all released: a buffer held out of order holds back the
 * reuse of everything published after it.
 *
 * <h2>Slot pointer (64 bits, the payload of a SLOT record)</h2>
 * {@code length:32 | more:1 | poolId:7 | slotIndex:24} (from the high bit down). Pool id 0: the pool of this
 * direction; pool id 1: the publisher's fan-out pool (a subscription's ring only: its file was named in the
 * handshake, and one slot of it may sit in many subscribers' rings at once, never twice in one reader's hands).
 *
 * <h2>Accessors</h2>
 * Every read and write of a header field, register or log word goes through a static accessor
 * below, named for the field and its memory ordering ({@code Plain}, {@code Acquire}, {@code Release});
 * no other class in core adds offsets to a field. They are static and take the segment, so the JIT
 * inlines them into the data path. They check nothing: every value read from memory the peer can write
 * is still checked by the caller before use. The PARKED words are reached only
 * through {@link Tripwire} ({@link #consumerParkedTripwire}, {@link #producerParkedTripwire}).
 */
public final class ShmLayout {
    private ShmLayout() {}

    public static final int VERSION = 3;   // 3: the log of records replaces the entry array and the small-slot pool

    public static final long POOL_MAGIC = 0x4C4F4F504C424146L;   // "FABLPOOL" little-endian
    public static final long RING_MAGIC = 0x474E49524C424146L;   // "FABLRING" little-endian
    public static final long POOL_HEADER = 4096;

    public static final long HDR_MAGIC = 0;
    public static final long HDR_VERSION = 8;
    public static final long HDR_LOG_BYTES = 12;   // ring only
    public static final long HDR_SLOT_SIZE = 16;
    public static final long HDR_SLOT_COUNT = 20;

    /** Pool id of the slots in a slot pointer (the only pool of layout 3). */
    public static final int POOL_SLOTS = 0;
    /** Pool id of a publisher's fan-out pool (shared by all its subscribers) in a subscription's SLOT pointers. */
    public static final int POOL_FANOUT = 1;

    public static final long WRITE = 128;
    public static final long CONSUMER_PARKED = 256;
    public static final long READ = 384;
    public static final long BROADCAST_READ = READ + 8;
    public static final long PRODUCER_PARKED = 512;
    public static final long PRODUCER_STATE = 640;
    public static final long CONSUMER_CPU = 768;
    public static final long PRODUCER_CPU = 896;
    public static final long CONSUMER_TID = CONSUMER_CPU + 8;
    public static final long PRODUCER_TID = PRODUCER_CPU + 8;
    public static final long LOG = 4096;

    /** Records start at multiples of this many bytes. */
    public static final int RECORD_ALIGN = 16;
    /** Bytes of a record header. */
    public static final int RECORD_HEADER = 8;
    /** Largest message written inline in the log (also never more than the slot size). */
    public static final int INLINE_MAX = dev.fable.ConnectOptions.INLINE_MAX_BYTES;
    /** Smallest and largest log ({@code ConnectOptions.logBytes}). */
    public static final int MIN_LOG_BYTES = dev.fable.ConnectOptions.MIN_LOG_BYTES;
    public static final int MAX_LOG_BYTES = dev.fable.ConnectOptions.MAX_LOG_BYTES;

    public static final int KIND_INLINE = 1;
    public static final int KIND_SLOT = 2;
    public static final int KIND_PAD = 3;
    public static final int KIND_HOLE = 4;
    public static final int KIND_REF = 5;
    public static final int KIND_END = 6;
    public static final int KIND_DROPPED = 7;
    public static final int KIND_POOL = 8;
    /** Pool ids a writer may announce with POOL records (forwarded pools): 2 .. 127. */
    public static final int FIRST_FORWARDED_POOL = 2;
    public static final int MAX_POOL_ID = 127;
    /** A POOL record's payload: int poolId, int fd, int slotSize, int slotCount. */
    public static final int POOL_RECORD_PAYLOAD = 16;
    /**
     * BSYNC (a subscription reading its publisher's broadcast log): 8-byte payload, a broadcast sequence S; every
     * broadcast message with a sequence below S comes before the record after this one.
     */
    public static final int KIND_BSYNC = 9;
    /** BSTART (the same): 16-byte payload, the broadcast log position and sequence this subscriber reads from. Once, first. */
    public static final int KIND_BSTART = 10;
    /** A BSTART record's payload: long position, long sequence. */
    public static final int BSTART_PAYLOAD = 16;

    // ---- the broadcast log file (a publisher's; see BroadcastLog): the ring file's layout, its own magic and registers ----

    public static final long BROADCAST_MAGIC = 0x545343424C424146L;   // "FABLBCST" little-endian
    /** Publisher: every position it may be writing lies below this (raised ahead in steps, before it writes there). */
    public static final long BROADCAST_INTENT = 128;
    /** Publisher: a record start at most one step behind INTENT, written just before INTENT (where a lapped reader resumes). */
    public static final long BROADCAST_TAIL = 136;
    /** Bytes of a broadcast message record's payload before the message: its sequence number. */
    public static final int BROADCAST_SEQ_BYTES = 8;

    private static final VarHandle LONG = JAVA_LONG.varHandle();
    private static final VarHandle INT = JAVA_INT.varHandle();

    public static final int STATE_OPEN = 0;
    public static final int STATE_CLOSED = 1;

    private static final long MORE_BIT = 1L << 31;

    public static long poolBytes(int slotSize, int slotCount) {
        return POOL_HEADER + (long) slotSize * slotCount;
    }

    public static long ringBytes(int logBytes) {
        return LOG + logBytes;
    }

    /** True when {@code bytes} is a valid log size: a power of two from {@link #MIN_LOG_BYTES} to {@link #MAX_LOG_BYTES}. */
    public static boolean validLogBytes(int bytes) {
        return bytes >= MIN_LOG_BYTES && bytes <= MAX_LOG_BYTES && Integer.bitCount(bytes) == 1;
    }

    /** Largest message a pool of {@code slotSize} writes inline: {@link #INLINE_MAX}, never more than a slot. */
    public static int inlineMaxFor(int slotSize) {
        return Math.min(INLINE_MAX, slotSize);
    }

    public static long slotOffset(int slot, int slotSize) {
        return POOL_HEADER + (long) slot * slotSize;
    }

    /** Offset in the ring file of log position {@code position}; {@code mask} is logBytes - 1. */
    public static long logOffset(long position, int mask) {
        return LOG + (position & mask);
    }

    /** Bytes a record with {@code length} payload bytes occupies: 8 + length, rounded up to {@link #RECORD_ALIGN}. */
    public static int recordBytes(int length) {
        return (RECORD_HEADER + length + RECORD_ALIGN - 1) & -RECORD_ALIGN;
    }

    /** The header of a record at {@code position}: see the class comment. Never 0 (kind is at least 1). */
    public static long header(long position, int kind, int length, boolean more) {
        return (more ? Long.MIN_VALUE : 0) | ((long) kind << 56) | ((long) (length & 0xFF_FFFF) << 32) | ((position >>> 4) & 0xFFFF_FFFFL);
    }

    /** The tag a header at {@code position} must carry. */
    public static int headerTagFor(long position) {
        return (int) (position >>> 4);
    }

    public static int headerTag(long header) {
        return (int) header;
    }

    public static int headerKind(long header) {
        return (int) (header >>> 56) & 0x7F;
    }

    /** Unsigned, 24 bits: a hostile value can never come out negative. */
    public static int headerLength(long header) {
        return (int) (header >>> 32) & 0xFF_FFFF;
    }

    public static boolean headerMore(long header) {
        return header < 0;
    }

    public static long pointer(int slot, int length, boolean more) {
        return pointer(POOL_SLOTS, slot, length, more);
    }

    public static long pointer(int pool, int slot, int length, boolean more) {
        return ((long) length << 32) | (more ? MORE_BIT : 0) | ((long) pool << 24) | (slot & 0xFF_FFFFL);
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

    /** Plain: log size in bytes (ring only); written once by the producer. */
    public static int headerLogBytesPlain(MemorySegment ring) {
        return ring.get(JAVA_INT, HDR_LOG_BYTES);
    }

    /** Plain: log size in bytes (ring only); written once by the producer before the peer maps the file. */
    public static void putHeaderLogBytesPlain(MemorySegment ring, int logBytes) {
        ring.set(JAVA_INT, HDR_LOG_BYTES, logBytes);
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

    /** Release: the WRITE register (log position published; the consumer never reads it); written by the producer. */
    public static void putWriteRegisterRelease(MemorySegment ring, long positions) {
        LONG.setRelease(ring, WRITE, positions);
    }

    /** Acquire: the READ register (log position released); written by the consumer. */
    public static long readRegisterAcquire(MemorySegment ring) {
        return (long) LONG.getAcquire(ring, READ);
    }

    /** Release: the READ register, after the consumer's last reads of the records below it; written by the consumer. */
    public static void putReadRegisterRelease(MemorySegment ring, long positions) {
        LONG.setRelease(ring, READ, positions);
    }

    /** Acquire: BROADCAST_READ (the subscriber's position in its publisher's broadcast log; 0 before its first); written by the consumer. */
    public static long broadcastReadAcquire(MemorySegment ring) {
        return (long) LONG.getAcquire(ring, BROADCAST_READ);
    }

    /** Release: BROADCAST_READ, after the consumer's copies of the broadcast records below it; written by the consumer. */
    public static void putBroadcastReadRelease(MemorySegment ring, long position) {
        LONG.setRelease(ring, BROADCAST_READ, position);
    }

    /** Acquire: PRODUCER_STATE ({@link #STATE_OPEN} / {@link #STATE_CLOSED}); written by the producer. */
    public static int producerStateAcquire(MemorySegment ring) {
        return (int) INT.getAcquire(ring, PRODUCER_STATE);
    }

    /** Release: PRODUCER_STATE, after every record the producer published; written by the producer. */
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

    // ---- log words; offsets from logOffset(position, mask) ----

    /** Acquire: a record header, pairs with {@link #putHeaderRelease}; 0 while nothing is published there. Written by the producer. */
    public static long headerAcquire(MemorySegment ring, long offset) {
        return (long) LONG.getAcquire(ring, offset);
    }

    /** Release: a record header, after its payload and the 0 after the record; written by the producer. */
    public static void putHeaderRelease(MemorySegment ring, long offset, long header) {
        LONG.setRelease(ring, offset, header);
    }

    /**
     * Plain: a log word other than a published header (the 0 written after each record, a SLOT or REF
     * record's payload word), published by the producer's next header release. Written by the producer.
     */
    public static void putLogWordPlain(MemorySegment ring, long offset, long value) {
        ring.set(JAVA_LONG, offset, value);
    }

    /** Plain: the payload word of a SLOT or REF record, ordered after the acquire of its header; written by the producer. */
    public static long logWordPlain(MemorySegment ring, long offset) {
        return ring.get(JAVA_LONG, offset);
    }

    /**
     * Opaque: the broadcast log's INTENT (see {@link #BROADCAST_INTENT}). The publisher follows its store with a
     * store-store fence (INTENT before the log bytes it then writes); a reader precedes its load with a load-load
     * fence (its copy of a record before INTENT), so a record it copied is whole when INTENT is at most its position
     * plus logBytes. Written by the publisher.
     */
    public static long broadcastIntentOpaque(MemorySegment log) {
        return (long) LONG.getOpaque(log, BROADCAST_INTENT);
    }

    /** Opaque, then a store-store fence: see {@link #broadcastIntentOpaque}. Written by the publisher. */
    public static void putBroadcastIntentOpaque(MemorySegment log, long intent) {
        LONG.setOpaque(log, BROADCAST_INTENT, intent);
        VarHandle.storeStoreFence();   // INTENT before the log bytes written after it
    }

    /** Acquire: the broadcast log's TAIL, a record start a lapped reader resumes at (then validated as any record). Publisher. */
    public static long broadcastTailAcquire(MemorySegment log) {
        return (long) LONG.getAcquire(log, BROADCAST_TAIL);
    }

    /** Release: TAIL, stored before INTENT is raised. Written by the publisher. */
    public static void putBroadcastTailRelease(MemorySegment log, long tail) {
        LONG.setRelease(log, BROADCAST_TAIL, tail);
    }

    // ---- slots ----

    /** Plain: the first word of a slot ({@code slot} from {@link #slotOffset}), read only to pull its line in early; written by the producer. */
    public static long slotFirstWordPlain(MemorySegment pool, long slot) {
        return pool.get(JAVA_LONG, slot);
    }
}
