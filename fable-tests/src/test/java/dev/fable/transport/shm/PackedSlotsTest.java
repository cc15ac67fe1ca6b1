package dev.fable.transport.shm;

import dev.fable.CorruptChannelException;
import dev.fable.buffer.SlotBuffer;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Small messages packed into the small-slot pool (pool 1): claims of at most 256 bytes lie 256 bytes
 * apart in one run of memory, zero-copy and single-use like any slot; the two pools together never
 * hold more than {@code slotCount} buffers (back-pressure as before); the reader refuses every pool-1
 * pointer it could not map to a small slot, and the writer every released pointer that names no slot
 * it published.
 */
class PackedSlotsTest {
    private static final int SLOT = 64 * 1024, SLOTS = 16;

    private static long offset(SlotBuffer b, RingPair r) {
        return b.segment().address() - r.pool.address();
    }

    @Test
    void smallClaimsArePackedAndLargeOnesTakeSlots() {
        try (RingPair r = new RingPair(SLOT, SLOTS, false)) {
            long smallBase = ShmLayout.smallSlotOffset(0, SLOT, SLOTS);
            for (int i = 0; i < 4; i++) {
                SlotBuffer b = r.writer.claim(64);
                assertEquals(ShmLayout.SMALL_SLOT_SIZE, b.capacity(), "a 64 B claim gets a small slot");
                assertEquals(smallBase + (long) i * ShmLayout.SMALL_SLOT_SIZE, offset(b, r), "consecutive small claims lie 256 B apart");
                b.putLong(0, 1000 + i);
                b.length(64).commit();
            }
            SlotBuffer big = r.writer.claim(ShmLayout.SMALL_SLOT_SIZE + 1);
            assertEquals(SLOT, big.capacity(), "a claim above 256 B gets a whole slot");
            assertEquals(ShmLayout.slotOffset(0, SLOT), offset(big, r));
            big.putLong(0, 2000);
            big.length(SLOT).commit();

            for (int i = 0; i < 4; i++) {
                SlotBuffer m = r.reader.poll();
                assertEquals(1000 + i, m.getLong(0), "in commit order, read in place");
                assertEquals(64, m.length());
                assertEquals(smallBase + (long) i * ShmLayout.SMALL_SLOT_SIZE, offset(m, r), "zero-copy: the reader sees the writer's small slot");
                m.release();
                assertThrows(IllegalStateException.class, () -> m.getLong(0), "single-use");
            }
            SlotBuffer m = r.reader.poll();
            assertEquals(2000, m.getLong(0));
            assertEquals(SLOT, m.length());
            m.release();
        }
    }

    @Test
    void bothPoolsTogetherHoldAtMostSlotCountAndComeBackInAnyOrder() {
        try (RingPair r = new RingPair(SLOT, SLOTS, false)) {
            for (int lap = 0; lap < 4; lap++) {
                for (int i = 0; i < SLOTS; i++) r.publish(1, i % 3 == 0 ? 4096 : 100);   // a mix of both pools
                assertNull(r.writer.claim(8), "slotCount buffers out: back-pressure, whatever the pool");
                assertNull(r.writer.claim(4096));
                List<SlotBuffer> held = new ArrayList<>();
                for (int i = 0; i < SLOTS; i++) held.add(r.reader.poll());
                for (int i = 0; i < SLOTS; i += 2) held.get(i).release();      // out of order, across pools
                for (int i = SLOTS - 1; i > 0; i -= 2) held.get(i).release();
                assertNull(r.reader.poll());
            }
            r.publish(SLOTS, 100);   // every slot came back
        }
    }

    @Test
    void aPoolWithSmallSlotsOnlyFromOneKibibyte() {
        try (RingPair r = new RingPair(512, SLOTS, false)) {
            SlotBuffer b = r.writer.claim(64);
            assertEquals(512, b.capacity(), "no small slots below 1 KiB slots: the slot itself");
            assertEquals(ShmLayout.poolBytes(512, SLOTS), ShmLayout.POOL_HEADER + 512L * SLOTS);
            b.commit();
        }
        assertEquals(ShmLayout.POOL_HEADER + 1024L * SLOTS + 256L * SLOTS, ShmLayout.poolBytes(1024, SLOTS));
    }

    /** A writer that lies: publishes {@code pointer} at the next position; the reader must refuse it. */
    private static void refusedByTheReader(int slotSize, long pointer, String why) {
        try (RingPair r = new RingPair(slotSize, SLOTS, false)) {
            long e = ShmLayout.entryOffset(0, ShmLayout.capacityFor(SLOTS) - 1);
            ShmLayout.putPointerPlain(r.ring, e, pointer);
            ShmLayout.putStampRelease(r.ring, e, 1);
            CorruptChannelException x = assertThrows(CorruptChannelException.class, r.reader::poll, why);
            assertTrue(x.getMessage().contains("out of bounds"), x.getMessage());
        }
    }

    @Test
    void theReaderRefusesSmallSlotPointersItCannotMap() {
        int small = ShmLayout.POOL_SMALL;
        refusedByTheReader(SLOT, ShmLayout.pointer(small, 0, ShmLayout.SMALL_SLOT_SIZE + 1, false), "longer than a small slot");
        refusedByTheReader(SLOT, ShmLayout.pointer(small, SLOTS, 8, false), "small slot index past the pool");
        refusedByTheReader(512, ShmLayout.pointer(small, 0, 8, false), "pool 1 where the pool has no small slots");
        refusedByTheReader(SLOT, ShmLayout.pointer(2, 0, 8, false), "an unknown pool");
        try (RingPair r = new RingPair(SLOT, SLOTS, false)) {   // and the same small slot twice while it is held
            r.publish(1, 8);
            assertNotNull(r.reader.poll());
            long e = ShmLayout.entryOffset(1, ShmLayout.capacityFor(SLOTS) - 1);
            ShmLayout.putPointerPlain(r.ring, e, ShmLayout.pointer(small, 0, 8, false));
            ShmLayout.putStampRelease(r.ring, e, 2);
            CorruptChannelException x = assertThrows(CorruptChannelException.class, r.reader::poll);
            assertTrue(x.getMessage().contains("small slot 0") && x.getMessage().contains("still holds"), x.getMessage());
        }
    }

    @Test
    void theWriterRefusesReleasedPointersThatNameNoPublishedSlot() {
        for (long lie : new long[] {
                ShmLayout.pointer(ShmLayout.POOL_SLOTS, 0, 8, false),    // pool 0, but the message went out in small slot 0
                ShmLayout.pointer(ShmLayout.POOL_SLOTS, 5, 8, false),    // a slot of pool 0 that was never published
                ShmLayout.pointer(ShmLayout.POOL_SMALL, SLOTS, 8, false)}) {
            try (RingPair r = new RingPair(SLOT, SLOTS, false)) {
                r.publish(SLOTS, 8);   // small slots 0..15, the pool is full
                ShmLayout.putPointerPlain(r.ring, ShmLayout.entryOffset(0, ShmLayout.capacityFor(SLOTS) - 1), lie);
                ShmLayout.putReadRegisterRelease(r.ring, 1);   // a hostile reader "released" position 0 as that pointer
                CorruptChannelException x = assertThrows(CorruptChannelException.class, () -> r.writer.claim(8), Long.toHexString(lie));
                assertTrue(x.getMessage().contains("names a slot it does not hold"), x.getMessage());
            }
        }
    }
}
