package dev.fable.buffer;

import dev.fable.Buffer;
import dev.fable.Connection;

import java.lang.foreign.MemorySegment;
import java.nio.ReadOnlyBufferException;
import java.util.Objects;

import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_LONG_UNALIGNED;

/**
 * The one {@link Buffer} implementation, for every transport: a recyclable view of one shared-memory
 * slot, one private copy of a slot, or one frame of a socket's staging or receive area (its
 * {@link Kind} says which). Objects are created when a connection is set up and recycled by their
 * {@link BufferOwner}; handing one out and taking it back allocates nothing.
 *
 * <p>Not thread-safe: owned by one thread between hand-out and commit/release (see {@link Buffer}).
 * The fields below are plain because the owning connection side is single-threaded.
 */
public final class SlotBuffer implements Buffer {
    private static final int DEAD = 0;
    private static final int WRITABLE = 1;
    private static final int READABLE = 2;

    private BufferOwner owner;   // replaced by DETACHED when a drain timeout copies the buffer off its transport
    private final java.util.function.Supplier<Connection> home;   // the application's connection, as its transport knows it now
    private Kind kind;   // PRIVATE_COPY once detach() copied it off its transport
    private final boolean readOnly;
    private final LeakDetector.Token leakToken;
    private final int index;
    private final String label;   // what owns it, for messages when it names no connection (a publisher's buffers)

    private MemorySegment segment;
    private long base;        // where this buffer starts in segment (0 for a whole slot)
    private MemorySegment view;    // what segment() returns: viewCapacity bytes of viewOf at viewBase (the owner's or the last slice made)
    private MemorySegment viewOf;
    private long viewBase;
    private int viewCapacity;
    private boolean sliceEachTime;   // the range moves at every binding (a record in a log): segment() keeps no view
    private int capacity;
    private int state = DEAD;
    private int slot = -1;
    private int length;
    private boolean more;
    private long descriptor;
    private long epoch;

    /** @param index the owner's number for this object (e.g. which private copy area it owns) */
    public SlotBuffer(BufferOwner owner, int index, java.util.function.Supplier<Connection> home, Kind kind, boolean readOnly, String leakLabel,
                      LeakDetector leaks) {
        this.owner = owner;
        this.index = index;
        this.home = home;
        this.kind = kind;
        this.readOnly = readOnly;
        this.label = leakLabel;
        this.leakToken = leaks.track(this, leakLabel);
    }

    // ---- owner side (transport) ----

    /** Hands the buffer out as writable slot {@code slot}, the whole of {@code slotSegment}. */
    public SlotBuffer bindWritable(int slot, MemorySegment slotSegment, int length, long epoch) {
        return bindWritable(slot, slotSegment, 0, (int) slotSegment.byteSize(), slotSegment, length, epoch);
    }

    /**
     * Hands the buffer out as writable slot {@code slot} at {@code [base, base + capacity)} of
     * {@code memory} (a whole pool): the accessors address the pool directly, so the data path touches
     * no per-slot object. {@code whole} is that range as a segment of its own, returned by
     * {@link #segment()} (or null: made there on demand).
     */
    public SlotBuffer bindWritable(int slot, MemorySegment memory, long base, int capacity, MemorySegment whole, int length, long epoch) {
        this.slot = slot;
        this.segment = memory;
        this.base = base;
        this.capacity = capacity;
        bindView(memory, base, whole);
        this.length = length;
        this.more = false;
        this.epoch = epoch;
        this.state = WRITABLE;
        leakToken.handedOut();
        return this;
    }

    /**
     * The {@code whole} an owner passes for a range that moves at every binding (a record in a log):
     * {@link #segment()} then returns a fresh slice and keeps none, so that a caller that does not let it
     * escape allocates nothing (the JIT's escape analysis removes it).
     */
    public static final MemorySegment SLICE_EACH_TIME = MemorySegment.ofArray(new byte[0]);

    /**
     * Hands the buffer out again as writable at {@code [base, base + capacity)} of the memory, slot and
     * epoch of its last {@link #bindWritable} (a log's one inline buffer: five stores instead of a whole
     * binding, on the path every small message takes). The buffer must be dead.
     */
    public SlotBuffer rebindWritable(long base, int capacity) {
        this.base = base;
        this.capacity = capacity;
        this.length = capacity;
        this.state = WRITABLE;
        leakToken.handedOut();
        return this;
    }

    /**
     * Hands the buffer out as readable at {@code [base, base + length)} of {@code log}, a segment whose
     * ranges move with every binding ({@link #SLICE_EACH_TIME}): when its last binding was in that same
     * log, only what changes is stored (the path every small message takes), else it is bound in full.
     */
    public SlotBuffer bindReadableInLog(MemorySegment log, long base, int length, boolean more, long descriptor, long epoch) {
        if (segment != log || !sliceEachTime || this.epoch != epoch) {
            return bindReadable(-1, log, base, length, SLICE_EACH_TIME, length, more, descriptor, epoch);
        }
        this.base = base;
        this.capacity = length;
        this.length = length;
        this.more = more;
        this.descriptor = descriptor;
        this.state = READABLE;
        leakToken.handedOut();
        return this;
    }

    /** segment()'s answer for this binding: {@code whole} if the owner has one, else a slice made on demand. */
    private void bindView(MemorySegment memory, long base, MemorySegment whole) {
        sliceEachTime = whole == SLICE_EACH_TIME;
        if (whole != null && !sliceEachTime) {
            this.view = whole;
            this.viewOf = memory;
            this.viewBase = base;
            this.viewCapacity = capacity;
        }
    }

    /** Hands the buffer out as a readable fragment; {@code descriptor} is the raw slot pointer to release. */
    public SlotBuffer bindReadable(int slot, MemorySegment memory, int length, boolean more, long descriptor, long epoch) {
        return bindReadable(slot, memory, 0, (int) memory.byteSize(), memory, length, more, descriptor, epoch);
    }

    /**
     * Hands the buffer out as a readable fragment at {@code [base, base + capacity)} of {@code memory}
     * (a whole pool, or a stream transport's receive area), without making a slice object. {@code whole}
     * is that range as a segment of its own for {@link #segment()}, or null (made there on demand; a
     * request/response pattern, whose frames land at the same offset each time, makes one).
     */
    public SlotBuffer bindReadable(int slot, MemorySegment memory, long base, int capacity, MemorySegment whole, int length, boolean more,
                                   long descriptor, long epoch) {
        this.slot = slot;
        this.segment = memory;
        this.base = base;
        this.capacity = capacity;
        bindView(memory, base, whole);
        this.length = length;
        this.more = more;
        this.descriptor = descriptor;
        this.epoch = epoch;
        this.state = READABLE;
        leakToken.handedOut();
        return this;
    }

    /** The owner of buffers copied off a transport that was closed: releasing one only ends it. */
    private static final BufferOwner DETACHED = new BufferOwner() {
        @Override
        public void commit(SlotBuffer buffer, boolean more) {
            throw new IllegalStateException("commit() is for claimed buffers; release() a polled buffer");
        }

        @Override
        public void release(SlotBuffer buffer) {
            buffer.kill();
        }
    };

    /**
     * Drain timeout of a reconfiguration: if this is a read buffer the application still holds, moves
     * it onto a private copy of its bytes (from {@code arena}) and detaches it from its transport, which
     * is about to close; {@link #release()} then only ends it. Returns whether it was held. Receiving role.
     */
    /** Owner side, before a binding: what the next binding's memory is (a reader whose objects carry both kinds). */
    public void kind(Kind k) {
        this.kind = k;
    }

    public boolean detach(java.lang.foreign.Arena arena) {
        if (state != READABLE) return false;
        MemorySegment copy = arena.allocate(capacity, 64);
        MemorySegment.copy(segment, base, copy, 0, capacity);
        this.segment = copy.asReadOnly();
        this.base = 0;
        this.view = this.segment;   // the whole copy: segment() returns it as for a shm slot
        this.viewOf = this.segment;
        this.viewBase = 0;
        this.viewCapacity = capacity;
        this.owner = DETACHED;
        this.kind = Kind.PRIVATE_COPY;   // it no longer lives where its transport put it: say so
        return true;
    }

    /** Marks the buffer dead before it goes back to the owner's recycle stack. */
    public void kill() {
        state = DEAD;   // the segment reference stays: every accessor checks the state first
        leakToken.returned();
    }

    /** The leak-detection token; the owner keeps it to stop tracking when the connection closes. */
    public LeakDetector.Token leakToken() {
        return leakToken;
    }

    public int slot() { return slot; }

    public int index() { return index; }

    public long descriptor() { return descriptor; }


    // ---- Buffer ----

    @Override public Kind kind() { return kind; }

    @Override public Connection connection() { return home == null ? null : home.get(); }

    @Override public long epoch() { return epoch; }

    @Override public boolean isReadOnly() { return readOnly; }

    @Override
    public int capacity() {
        live();
        return capacity;
    }

    @Override
    public int length() {
        live();
        return length;
    }

    @Override
    public Buffer length(int bytes) {
        writable();
        if (bytes < 0 || bytes > capacity) {
            throw new IndexOutOfBoundsException("length " + bytes + " is outside this buffer's 0 … " + capacity + " bytes (a claim grants "
                    + "at most the transport's largest fragment; send a larger message with send(byte[]) or in fragments with commitFragment())");
        }
        this.length = bytes;
        return this;
    }

    @Override
    public boolean more() {
        live();
        return more;
    }

    /**
     * A slot is returned as the segment its owner made for it when the connection was set up. A buffer
     * inside a larger segment without one (a stream transport's receive area) needs a slice object;
     * the last one is kept, so a request/response pattern, whose frames land at the same offset each
     * time, makes none after the first. The accessors below never make one.
     */
    @Override
    public MemorySegment segment() {
        live();
        if (sliceEachTime) return segment.asSlice(base, capacity);
        MemorySegment v = view;   // compared by its recorded bounds: the data path never touches the view object itself
        if (v == null || viewOf != segment || viewBase != base || viewCapacity != capacity) {
            view = v = segment.asSlice(base, capacity);
            viewOf = segment;
            viewBase = base;
            viewCapacity = capacity;
        }
        return v;
    }

    /** Offset in {@code segment} of {@code size} bytes at {@code offset}, checked against this buffer's own capacity. */
    private long at(int offset, int size) {
        return base + Objects.checkFromIndexSize(offset, size, capacity);
    }

    @Override
    public byte getByte(int offset) {
        live();
        return segment.get(JAVA_BYTE, at(offset, 1));
    }

    @Override
    public long getLong(int offset) {
        live();
        return segment.get(LONG_LE, at(offset, 8));
    }

    @Override
    public short getShort(int offset) {
        live();
        return segment.get(SHORT_LE, at(offset, 2));
    }

    @Override
    public int getInt(int offset) {
        live();
        return segment.get(INT_LE, at(offset, 4));
    }

    @Override
    public float getFloat(int offset) {
        live();
        return segment.get(FLOAT_LE, at(offset, 4));
    }

    @Override
    public double getDouble(int offset) {
        live();
        return segment.get(DOUBLE_LE, at(offset, 8));
    }

    @Override
    public void putShort(int offset, short value) {
        writable();
        segment.set(SHORT_LE, at(offset, 2), value);
    }

    @Override
    public void putInt(int offset, int value) {
        writable();
        segment.set(INT_LE, at(offset, 4), value);
    }

    @Override
    public void putFloat(int offset, float value) {
        writable();
        segment.set(FLOAT_LE, at(offset, 4), value);
    }

    @Override
    public void putDouble(int offset, double value) {
        writable();
        segment.set(DOUBLE_LE, at(offset, 8), value);
    }

    @Override
    public java.nio.ByteBuffer asByteBuffer() {
        live();
        java.nio.ByteBuffer b = segment.asSlice(base, length).asByteBuffer().order(java.nio.ByteOrder.LITTLE_ENDIAN);
        return readOnly ? b.asReadOnlyBuffer().order(java.nio.ByteOrder.LITTLE_ENDIAN) : b;
    }

    // Little-endian whatever the platform (Buffer's contract); on x86-64 and aarch64 these are the native layouts.
    private static final java.lang.foreign.ValueLayout.OfLong LONG_LE = JAVA_LONG_UNALIGNED.withOrder(java.nio.ByteOrder.LITTLE_ENDIAN);
    private static final java.lang.foreign.ValueLayout.OfShort SHORT_LE = java.lang.foreign.ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(java.nio.ByteOrder.LITTLE_ENDIAN);
    private static final java.lang.foreign.ValueLayout.OfInt INT_LE = java.lang.foreign.ValueLayout.JAVA_INT_UNALIGNED.withOrder(java.nio.ByteOrder.LITTLE_ENDIAN);
    private static final java.lang.foreign.ValueLayout.OfFloat FLOAT_LE = java.lang.foreign.ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(java.nio.ByteOrder.LITTLE_ENDIAN);
    private static final java.lang.foreign.ValueLayout.OfDouble DOUBLE_LE = java.lang.foreign.ValueLayout.JAVA_DOUBLE_UNALIGNED.withOrder(java.nio.ByteOrder.LITTLE_ENDIAN);

    @Override
    public void putByte(int offset, byte value) {
        writable();
        segment.set(JAVA_BYTE, at(offset, 1), value);
    }

    @Override
    public void putLong(int offset, long value) {
        writable();
        segment.set(LONG_LE, at(offset, 8), value);
    }

    @Override
    public void put(int offset, byte[] src, int srcOff, int len) {
        writable();
        MemorySegment.copy(src, srcOff, segment, JAVA_BYTE, at(offset, len), len);
    }

    @Override
    public void get(int offset, byte[] dst, int dstOff, int len) {
        live();
        MemorySegment.copy(segment, JAVA_BYTE, at(offset, len), dst, dstOff, len);
    }

    @Override
    public void commit() {
        writable();
        owner.commit(this, false);
    }

    @Override
    public void commitFragment() {
        writable();
        owner.commit(this, true);
    }

    /**
     * Zero copy when it can be: a read buffer in a shared-memory pool of this host, forwarded to a connection
     * currently over shared memory, is lent ({@link Lender}) — its slot stays held here until the target's peer
     * released it — else the bytes are copied ({@link Buffer#forward}).
     */
    @Override
    public boolean forward(Connection to) {
        return forwardCounted(to) != NOT_FORWARDED;
    }

    /** {@link #forwardCounted}: {@code to} had no room; the buffer is still held. */
    public static final int NOT_FORWARDED = 0;
    /** {@link #forwardCounted}: lent in place, zero copy. */
    public static final int FORWARDED_IN_PLACE = 1;
    /** {@link #forwardCounted}: the bytes were copied into a buffer of {@code to}. */
    public static final int FORWARDED_BY_COPY = 2;

    /**
     * {@link #forward(Connection)}, telling how: {@link #NOT_FORWARDED} (back-pressure, still held),
     * {@link #FORWARDED_IN_PLACE} (lent: zero copy) or {@link #FORWARDED_BY_COPY}. A relay counts with it.
     */
    public int forwardCounted(Connection to) {
        if (state == READABLE && to instanceof ForwardTarget t && owner instanceof Lender l) {
            Lender.LentPool pool = l.poolOf(this);
            if (pool != null) {
                int n = length, slotInPool = l.slotInPool(this);
                boolean m = more;
                l.lent(this);   // dead to the application before the reference is out: a target that gives it back at once finds it lent
                int r;
                try {
                    r = t.forwardLent(this, l, pool, slotInPool, n, m);
                } catch (RuntimeException e) {
                    l.unlent(this);
                    throw e;
                }
                if (r == ForwardTarget.OFFERED) return FORWARDED_IN_PLACE;
                l.unlent(this);
                if (r == ForwardTarget.FULL) return NOT_FORWARDED;
            }
        }
        return Buffer.super.forward(to) ? FORWARDED_BY_COPY : NOT_FORWARDED;
    }

    /** A lent buffer is the application's again (its lending was refused). Owner side. */
    public void revive() {
        state = READABLE;
        leakToken.handedOut();
    }

    @Override
    public void release() {
        if (state != READABLE) {
            throw new IllegalStateException(state == WRITABLE
                    ? "release() is for read buffers; commit() a claimed buffer (" + describe() + ")"
                    : "buffer already committed or released: buffers are single-use (" + describe() + ")");
        }
        owner.release(this);
    }

    private void live() {
        if (state == DEAD) {
            throw new IllegalStateException("buffer already committed or released: buffers are single-use (" + describe() + ")");
        }
    }

    private void writable() {
        if (state != WRITABLE) {
            if (state == READABLE) throw new ReadOnlyBufferException();
            live();
        }
    }

    private String describe() {
        return kind + " buffer of " + owner();
    }

    private Object owner() {
        Connection c = connection();
        return c != null ? c : label;
    }

    @Override
    public String toString() {
        return "Buffer[" + kind + (state == DEAD ? ", dead" : ", slot " + slot + ", length " + length + (more ? ", more" : ""))
                + ", epoch " + epoch + ", " + owner() + "]";
    }
}
