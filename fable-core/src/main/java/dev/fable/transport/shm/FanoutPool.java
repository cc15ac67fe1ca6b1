package dev.fable.transport.shm;

import dev.fable.Buffer;
import dev.fable.buffer.BufferOwner;
import dev.fable.buffer.LeakDetector;
import dev.fable.buffer.SlotBuffer;
import dev.fable.transport.FanoutSlots;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;

import static dev.fable.transport.shm.ShmLayout.*;

/**
 * A publisher's fan-out pool: one sealed memfd of {@code slotCount} slots of {@code slotSize} bytes
 * (the pool file layout of {@link ShmLayout}, pool id {@link ShmLayout#POOL_FANOUT} in its subscribers'
 * SLOT pointers), written by the publisher and mapped read-only by every subscriber on this host. Its
 * descriptor stays open while the pool lives, so that subscribers joining later can map it
 * ({@code /proc/<pid>/fd/<fd>}, as the one-to-one handshake does).
 *
 * <h2>Holders (the publisher's private memory; no subscriber can write them)</h2>
 * {@code holders[slot]}: 0 free; otherwise the publisher's own hold ({@link #OWN}, from claim until its
 * delivery ends) plus one per leg that published a reference to the slot and has not given it back. Only
 * the publishing thread takes a free slot (0 → OWN) and adds holders; legs give theirs back with an atomic
 * decrement from any thread ({@link #released}). Delivery adds all of a message's holders and ends its own
 * hold in one atomic add ({@code offered - OWN}), so a message costs one atomic operation whatever the
 * number of subscribers; a leg that gives its hold back before that add leaves the count above 0 (the own
 * hold is far larger than any number of legs), so the slot reads 0 exactly once, when it is free.
 *
 * <p>Single writer: one thread at a time calls {@link #claim} and commits its buffers (the publisher's).
 */
public final class FanoutPool implements FanoutSlots, BufferOwner {
    private static final VarHandle HOLDERS = MethodHandles.arrayElementVarHandle(int[].class);
    /** The publisher's own hold of a claimed slot, until its delivery ends: more than legs could ever hold. */
    static final int OWN = 1 << 30;

    /** What a commit does with a claimed slot: hands it to the subscribers and returns how many legs took a reference. */
    @FunctionalInterface
    public interface Delivery {
        /**
         * Delivers {@code length} bytes of slot {@code slot}; returns the references published (each leg that
         * returned {@link dev.fable.transport.Leg#OFFERED}). Throws, having offered nothing, to refuse the commit.
         */
        int deliver(FanoutPool pool, int slot, int length, MemorySegment bytes);
    }

    private final Arena arena;
    private final ShmFiles.Sealed file;
    private final MemorySegment pool;
    private final int slotSize;
    private final int slotCount;
    private final MemorySegment[] slots;
    private final int[] holders;
    private final SlotBuffer[] buffers;   // by slot: the claimed buffer object of that slot
    private final LeakDetector.Token[] leakTokens;
    private final String label;
    private final int quota;
    private int cursor;          // where the next claim looks first
    private Delivery delivery;   // the publisher's; set once before the first claim
    private long published;      // messages committed (plain: the publishing thread's)

    private FanoutPool(Arena arena, ShmFiles.Sealed file, int slotSize, int slotCount, int quota, String label, LeakDetector leaks) {
        this.arena = arena;
        this.quota = quota;
        this.file = file;
        this.pool = file.segment();
        this.slotSize = slotSize;
        this.slotCount = slotCount;
        this.label = label;
        this.slots = new MemorySegment[slotCount];
        this.holders = new int[slotCount];
        this.buffers = new SlotBuffer[slotCount];
        this.leakTokens = new LeakDetector.Token[slotCount];
        for (int i = 0; i < slotCount; i++) {
            slots[i] = pool.asSlice(slotOffset(i, slotSize), slotSize);
            buffers[i] = new SlotBuffer(this, i, () -> null, Buffer.Kind.SHM_SLOT, false, label, leaks);
            leakTokens[i] = buffers[i].leakToken();
        }
    }

    /**
     * Creates the pool's memfd (reserved, sealed, faulted in) and writes its header. {@code quota}: the slots one
     * subscriber may hold unreleased (0: a quarter of the pool), so that a stalled subscriber holds at most that.
     */
    public static FanoutPool create(int slotSize, int slotCount, int quota, String label, LeakDetector leaks) {
        if (quota < 0 || quota > slotCount) {
            throw new IllegalArgumentException("a subscriber's quota of " + quota + " fan-out slots: 1.." + slotCount + " (the pool's slots), or 0 for a quarter");
        }
        Arena arena = Arena.ofShared();
        try {
            ShmFiles.Sealed f = ShmFiles.createSealed(ShmFiles.newName("fanout"), poolBytes(slotSize, slotCount), arena,
                    "fan-out pool of " + label + " (" + slotCount + " slots of " + slotSize + " B)");
            // plain writes: no subscriber maps the file yet; the handshake frame that names it publishes them
            putHeaderMagicPlain(f.segment(), POOL_MAGIC);
            putHeaderVersionPlain(f.segment(), VERSION);
            putHeaderSlotSizePlain(f.segment(), slotSize);
            putHeaderSlotCountPlain(f.segment(), slotCount);
            VarHandle.releaseFence();
            return new FanoutPool(arena, f, slotSize, slotCount, quota == 0 ? Math.max(1, slotCount / 4) : quota, label, leaks);
        } catch (RuntimeException e) {
            arena.close();
            throw e;
        }
    }

    /** Sets what commits do (once, before the first claim). */
    public void delivery(Delivery d) {
        this.delivery = d;
    }

    public int slotSize() {
        return slotSize;
    }

    public int slotCount() {
        return slotCount;
    }

    /**
     * Slots one subscriber may hold unreleased: beyond it, its messages are dropped. A fixed bound, so that the
     * subscribers stalled at once hold at most their quotas between them, whenever they stalled. (Tried and
     * dropped: the whole pool while a quarter of it is free — subscribers that stalled early then kept three
     * quarters of it, and later stalls took the rest.) A subscriber that is only slow for a moment loses
     * messages once it is a quota behind: give it a larger quota (up to the whole pool: then nothing is ever
     * dropped and the slowest subscriber paces the publisher).
     */
    public int quota() {
        return quota;
    }

    /** The descriptor subscribers open through {@code /proc/<pid>/fd}. */
    int fd() {
        return file.fd();
    }

    /**
     * A writable buffer of one free slot, {@code min(maxBytes, slotSize)} bytes, or null when every slot is
     * still held by a subscriber (back-pressure from the slowest holder; subscribers whose queues are full drop
     * instead of holding). Publishing thread only.
     */
    public Buffer claim(int maxBytes) {
        for (int i = 0; i < slotCount; i++) {
            int s = cursor;
            if (++cursor == slotCount) cursor = 0;
            // acquire: the last holder's release (a subscriber's READ, read with acquire, or a closing leg) happened before
            if ((int) HOLDERS.getAcquire(holders, s) == 0) {
                holders[s] = OWN;   // plain: nobody else touches a free slot; the publishing thread's own hold
                return buffers[s].bindWritable(s, pool, slotOffset(s, slotSize), slotSize, slots[s],
                        Math.min(Math.max(maxBytes, 0), slotSize), 0);
            }
        }
        return null;
    }

    @Override
    public void commit(SlotBuffer b, boolean more) {   // only called by b itself, so b is one of ours
        if (more) {
            throw new IllegalStateException("a published message is one buffer of at most " + slotSize + " B (" + label
                    + "): commit() it; commitFragment() is for one-to-one connections");
        }
        int slot = b.slot();
        int offered = delivery.deliver(this, slot, b.length(), slots[slot]);   // throws having offered nothing: b stays claimed
        b.kill();
        published++;
        // the legs' holds and the end of our own, in one atomic add; a leg that already gave its hold back made it lower
        HOLDERS.getAndAdd(holders, slot, offered - OWN);
    }

    @Override
    public void release(SlotBuffer buffer) {
        throw new IllegalStateException("release() is for read buffers; commit() a claimed buffer");
    }

    @Override
    public void released(int slot) {
        HOLDERS.getAndAdd(holders, slot, -1);   // volatile: the leg's last access to the slot before it is free again
    }

    /** True if {@code b} is one of this pool's buffers (claimed from it, whatever its state). */
    public boolean owns(Buffer b) {
        return b instanceof SlotBuffer sb && sb.slot() >= 0 && sb.slot() < slotCount && buffers[sb.slot()] == sb;
    }

    /** Slots held now (claimed, or not yet given back by every subscriber it went to); any thread, a snapshot. */
    public int held() {
        int n = 0;
        for (int i = 0; i < slotCount; i++) if ((int) HOLDERS.getOpaque(holders, i) != 0) n++;
        return n;
    }

    /** Messages committed. */
    public long published() {
        return published;
    }

    /** Unmaps the pool and closes its descriptor: subscribers keep their own mappings until they leave. */
    public void close() {
        LeakDetector.untrackAll(leakTokens);
        file.closeFd();
        arena.close();
    }

    @Override
    public String toString() {
        return "fan-out pool of " + label;
    }
}
