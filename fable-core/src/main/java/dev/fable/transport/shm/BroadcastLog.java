package dev.fable.transport.shm;

import dev.fable.Buffer;
import dev.fable.buffer.BufferOwner;
import dev.fable.buffer.LeakDetector;
import dev.fable.buffer.SlotBuffer;
import dev.fable.transport.BroadcastSource;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.invoke.VarHandle;

import static dev.fable.transport.shm.ShmLayout.*;

/**
 * A publisher's broadcast log: small messages published to every subscriber are written once, here, and every
 * shared-memory subscriber that joined it reads them (mapped read-only) at its own pace. One sealed memfd laid
 * out as a ring file (magic {@link ShmLayout#BROADCAST_MAGIC}); its records are the ring's (8-byte header with the
 * position's tag), of two kinds: INLINE, whose payload is the message's 8-byte sequence number then the message,
 * and PAD, which skips {@code 8 + length} bytes (a claim that was published to fewer than all, or the log's end).
 *
 * <h2>The publisher never waits</h2>
 * Nothing a subscriber writes is read here. The log is overwritten lap after lap; a subscriber more than a lap
 * behind has lost messages, learns it from {@link ShmLayout#BROADCAST_INTENT} (every position the publisher may be
 * writing lies below it; raised a step ahead, before the bytes are written) and the sequence numbers, and counts
 * them as its drops. So a subscriber copies each message before it hands it out and checks INTENT after the copy:
 * in place it could change under the application (docs/shm-transport.md, "The broadcast log").
 *
 * <p>Single writer: one thread at a time claims and commits (the publisher's). One claim at a time is out.
 */
public final class BroadcastLog implements BufferOwner, BroadcastSource {
    private static final VarHandle PUBLISHED = dev.fable.internal.FieldHandles.of(java.lang.invoke.MethodHandles.lookup(), "published", long.class);

    /**
     * A lossless log's readers: the position of the slowest ({@link Long#MAX_VALUE} with none). Asked only when the publisher
     * would otherwise overwrite what the slowest reader last said it had not read; the answer is checked by the caller.
     */
    @FunctionalInterface
    public interface Readers {
        long slowest();
    }

    /** What a commit does: the publisher decides, and calls {@link #publishToAll} or {@link #skip} before it returns. */
    @FunctionalInterface
    public interface Delivery {
        /** The claimed message of {@code length} bytes ({@link #claimed}); throws, having done nothing, to refuse the commit. */
        void deliver(BroadcastLog log, int length);
    }

    private final Arena arena;
    private final ShmFiles.Sealed file;
    private final MemorySegment log;
    private final MemorySegment readOnly;   // log, for bytes(): made once
    private final int logBytes;
    private final int mask;
    private final int maxMessage;
    private final int step;
    private final SlotBuffer buffer;   // the one claim's
    private final String label;
    private boolean out;       // a claim is out
    private long position;     // next record
    private long claimAt;      // the claimed record's position (after any PAD)
    private int claimCapacity;
    private long intent;       // INTENT as published
    private Readers readers;   // lossless: INTENT never passes the slowest reader's position plus logBytes; null: lapping
    private long limit;        // lossless: that bound as last asked
    private final long[] raisedAt = new long[8];   // the position at each of the last 8 raises of INTENT (record starts)
    private long raises;
    private long published;    // messages published: the next one's sequence (plain writes by the publisher; read opaque)
    private Delivery delivery;

    private BroadcastLog(Arena arena, ShmFiles.Sealed file, int logBytes, int maxMessage, String label, LeakDetector leaks) {
        this.arena = arena;
        this.file = file;
        this.log = file.segment();
        this.readOnly = log.asReadOnly();
        this.logBytes = logBytes;
        this.mask = logBytes - 1;
        this.maxMessage = maxMessage;
        this.step = logBytes / 8;
        this.label = label;
        this.buffer = new SlotBuffer(this, 0, () -> null, Buffer.Kind.SHM_SLOT, false, label, leaks);
        buffer.bindWritable(-1, log, LOG + RECORD_HEADER, 0, SlotBuffer.SLICE_EACH_TIME, 0, 0).kill();   // memory and epoch for rebindWritable
    }

    /**
     * Creates the log's memfd ({@code logBytes}: a power of two, as a ring's log) for messages of at most
     * {@code maxMessage} bytes (at most {@link ShmLayout#INLINE_MAX}, at most an eighth of the log).
     */
    public static BroadcastLog create(int logBytes, int maxMessage, String label, LeakDetector leaks) {
        if (!validLogBytes(logBytes)) {
            throw new IllegalArgumentException("a broadcast log of " + logBytes + " B: a power of two from " + MIN_LOG_BYTES + " to " + MAX_LOG_BYTES);
        }
        if (maxMessage < 1 || maxMessage > INLINE_MAX) {
            throw new IllegalArgumentException("broadcast messages of at most " + maxMessage + " B: 1.." + INLINE_MAX);
        }
        Arena arena = Arena.ofShared();
        try {
            ShmFiles.Sealed f = ShmFiles.createSealed(ShmFiles.newName("broadcast"), ringBytes(logBytes), arena,
                    "broadcast log of " + label + " (" + logBytes + " B)");
            // plain writes: no subscriber maps the file yet; the handshake frame that names it publishes them
            putHeaderMagicPlain(f.segment(), BROADCAST_MAGIC);
            putHeaderVersionPlain(f.segment(), VERSION);
            putHeaderLogBytesPlain(f.segment(), logBytes);
            putHeaderSlotSizePlain(f.segment(), maxMessage);
            VarHandle.releaseFence();
            return new BroadcastLog(arena, f, logBytes, maxMessage, label, leaks);
        } catch (RuntimeException e) {
            arena.close();
            throw e;
        }
    }

    /** Sets what commits do (once, before the first claim). */
    public void delivery(Delivery d) {
        this.delivery = d;
    }

    /**
     * Makes this log lossless: the publisher never laps a reader but waits for the slowest ({@link #claim} returns null
     * while the log is full for it), asking {@code r} where the readers are. Once, before the first claim.
     */
    public void lossless(Readers r) {
        this.readers = r;
        this.limit = logBytes;   // nobody has read anything: the first lap is free
    }

    /** The largest message this log carries. */
    public int maxMessage() {
        return maxMessage;
    }

    public int logBytes() {
        return logBytes;
    }

    /** The log's file as mapped here (tests that play a hostile publisher write it directly). */
    MemorySegment segment() {
        return log;
    }

    /** The descriptor subscribers open through {@code /proc/<pid>/fd}. */
    int fd() {
        return file.fd();
    }

    /**
     * A writable buffer in place in the log for a message of at most {@code maxBytes} (at most {@link #maxMessage}),
     * or null while the previous claim is out, or (lossless) while the slowest reader has not read what it would
     * overwrite. Never waits: the log is overwritten lap after lap unless lossless. Publishing thread.
     */
    public Buffer claim(int maxBytes) {
        if (out || maxBytes > maxMessage) return null;
        int capacity = Math.max(maxBytes, 0);
        int record = recordBytes(BROADCAST_SEQ_BYTES + capacity);
        int toEnd = logBytes - (int) (position & mask);
        int pad = record > toEnd ? toEnd : 0;
        long end = position + pad + record + RECORD_HEADER;   // and the 0 after the record
        if (end > intent) {
            long want = end + step;
            if (readers != null && want > limit) {   // lossless: no further than the slowest reader's position plus a lap
                long slowest = readers.slowest();
                limit = slowest == Long.MAX_VALUE ? Long.MAX_VALUE : slowest + logBytes;
                if (end > limit) return null;
                want = Math.min(want, limit);
            }
            raise(want);
        }
        if (pad > 0) {
            putLogWordPlain(log, logOffset(position + pad, mask), 0);   // plain: published by the header's release
            putHeaderRelease(log, logOffset(position, mask), header(position, KIND_PAD, pad - RECORD_HEADER, false));   // release: the 0 first
            position += pad;
        }
        claimAt = position;
        claimCapacity = capacity;
        out = true;
        return buffer.rebindWritable(logOffset(claimAt, mask) + RECORD_HEADER + BROADCAST_SEQ_BYTES, capacity);
    }

    /**
     * Raises INTENT a step past {@code end}, TAIL first: the position of four raises ago (a record start about half the log
     * behind), so that a lapped reader resumes where the publisher no longer writes and reads on streaming, well behind it,
     * instead of right at its heels, where every line it reads is one the publisher is writing (each then crosses between
     * the two cores twice: measured, a subscriber at the head got a quarter of the rate). At most five steps below the
     * new INTENT, so never lapped itself.
     */
    private void raise(long newIntent) {
        intent = newIntent;
        raisedAt[(int) (raises++ & 7)] = position;
        long tail = raises > 4 ? raisedAt[(int) ((raises - 5) & 7)] : 0;   // 0: the first record, not yet overwritten
        putBroadcastTailRelease(log, tail);   // release: every record below it was published before
        putBroadcastIntentOpaque(log, intent);    // and a store-store fence: INTENT before the bytes we write below it
    }

    @Override
    public void commit(SlotBuffer b, boolean more) {   // only called by our one buffer
        if (more) {
            throw new IllegalStateException("a published message is one buffer of at most " + maxMessage + " B (" + label
                    + "): commit() it; commitFragment() is for one-to-one connections");
        }
        delivery.deliver(this, b.length());   // throws having done nothing: the buffer stays claimed
        b.kill();
        out = false;
    }

    /** From {@link Delivery#deliver}: the claimed message goes to every subscriber reading this log, with the next sequence. */
    public void publishToAll(int length) {
        long at = logOffset(claimAt, mask);
        int record = recordBytes(BROADCAST_SEQ_BYTES + length);
        // the 0 after the record (older bytes there never read as a record), now rather than at claim: a reader that keeps up
        // polls that word, and its line is better left alone while the application fills the payload
        putLogWordPlain(log, logOffset(claimAt + record, mask), 0);   // plain: published by the header's release
        putLogWordPlain(log, at + RECORD_HEADER, published);   // plain: published by the header's release
        putHeaderRelease(log, at, header(claimAt, KIND_INLINE, BROADCAST_SEQ_BYTES + length, false));   // release: payload, sequence and the 0 after
        position = claimAt + record;
        PUBLISHED.setOpaque(this, published + 1);   // opaque: others read it for statistics only
    }

    /** From {@link Delivery#deliver}: the claimed message went to fewer than all; its record becomes a PAD. */
    public void skip() {
        int record = recordBytes(BROADCAST_SEQ_BYTES + claimCapacity);
        putLogWordPlain(log, logOffset(claimAt + record, mask), 0);   // plain: published by the header's release
        putHeaderRelease(log, logOffset(claimAt, mask), header(claimAt, KIND_PAD, record - RECORD_HEADER, false));   // release: the 0 after it first
        position = claimAt + record;
    }

    /** The log file, read-only: the claimed message lies at {@link #claimedOffset()}, to copy for subscribers that do not read the log. */
    public MemorySegment bytes() {
        return readOnly;
    }

    /** Where the claimed message's bytes start in {@link #bytes()}. */
    public long claimedOffset() {
        return logOffset(claimAt, mask) + RECORD_HEADER + BROADCAST_SEQ_BYTES;
    }

    /** True while the one claim is out. */
    public boolean claimOut() {
        return out;
    }

    /** True if {@code b} is this log's buffer. */
    public boolean owns(Buffer b) {
        return b == buffer;
    }

    @Override
    public long published() {
        return (long) PUBLISHED.getOpaque(this);
    }

    /** The next record's position: no reader can be past it. Publishing thread. */
    public long position() {
        return position;
    }

    /** Where a subscriber joining now starts reading: the claim out, else the next record. Publishing thread. */
    @Override
    public long startPosition() {
        return out ? claimAt : position;
    }

    @Override
    public void release(SlotBuffer b) {
        throw new IllegalStateException("release() is for read buffers; publish a claimed buffer");
    }

    /** Unmaps the log and closes its descriptor: subscribers keep their own mappings until they leave. */
    public void close() {
        LeakDetector.untrackAll(new LeakDetector.Token[] {buffer.leakToken()});
        file.closeFd();
        arena.close();
    }

    @Override
    public String toString() {
        return "broadcast log of " + label;
    }
}
