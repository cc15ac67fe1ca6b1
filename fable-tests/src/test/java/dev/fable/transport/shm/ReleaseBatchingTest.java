package dev.fable.transport.shm;

import dev.fable.buffer.SlotBuffer;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;

/**
 * The reader publishes READ once per batch of releases, not per message (one shared line touched per
 * batch), and still never leaves a writer short of space: at a poll that finds nothing, at the
 * end-of-epoch marker, and at once when the writer advertises that it sleeps for space. One ring
 * over plain memory, the writer and reader of one direction, driven by this thread.
 */
class ReleaseBatchingTest {
    private static final int SLOTS = 128;   // a batch of 32
    private RingPair rings;
    private RingWriter writer;
    private RingReader reader;
    private MemorySegment ring;

    private void open(boolean writerMayPark) {
        rings = new RingPair(64, SLOTS, writerMayPark);
        writer = rings.writer;
        reader = rings.reader;
        ring = rings.ring;
    }

    @AfterEach
    void close() {
        rings.close();
    }

    private void publish(int n) {
        rings.publish(n, 8);
    }

    private void pollAndRelease(int n) {
        rings.pollAndRelease(n);
    }

    @Test
    void readIsPublishedOncePerBatchAndWhenThePollFindsNothing() {
        open(false);
        int batch = RingReader.releaseBatchFor(SLOTS);
        assertEquals(32, batch);
        publish(40);
        pollAndRelease(batch - 1);
        assertEquals(0, ShmLayout.readRegisterAcquire(ring), "no READ store before a batch is complete");
        pollAndRelease(1);
        assertEquals(batch, ShmLayout.readRegisterAcquire(ring), "a whole batch is published with one store");
        pollAndRelease(40 - batch);
        assertEquals(batch, ShmLayout.readRegisterAcquire(ring), "the rest waits for the next batch or the reader's idle moment");
        assertNull(reader.poll());
        assertEquals(40, ShmLayout.readRegisterAcquire(ring), "a poll that finds nothing publishes every release");
    }

    @Test
    void aWriterThatSleepsForSpaceGetsEachReleaseAtOnce() {
        open(true);
        publish(4);
        reader.poll().release();
        assertEquals(0, ShmLayout.readRegisterAcquire(ring));
        ShmLayout.producerParkedTripwire(ring).armWithoutFence();   // the writer advertises it sleeps for space
        reader.poll().release();
        assertEquals(2, ShmLayout.readRegisterAcquire(ring), "published at once for a sleeping writer");
    }

    @Test
    void outOfOrderReleasesAcrossBatchesGiveEverySlotBackExactlyOnce() {
        open(false);
        // Three laps of the whole pool, each released in reverse: every entry behind READ is rewritten, and
        // the writer's reclaim (which checks each released pointer against the slots it published) accepts them.
        for (int lap = 0; lap < 3; lap++) {
            publish(SLOTS);
            assertNull(writer.claim(8), "every slot is out");
            List<SlotBuffer> held = new ArrayList<>();
            for (int i = 0; i < SLOTS; i++) held.add(reader.poll());
            for (int i = SLOTS - 1; i >= 0; i--) held.get(i).release();
            assertNull(reader.poll());
            assertEquals((long) SLOTS * (lap + 1), ShmLayout.readRegisterAcquire(ring));
        }
        publish(SLOTS);   // all came back
    }
}
