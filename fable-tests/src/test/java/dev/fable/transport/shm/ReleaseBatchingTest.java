package dev.fable.transport.shm;

import dev.fable.buffer.SlotBuffer;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The reader publishes READ once per batch of releases, not per message (one shared line touched per
 * batch), and still never leaves a writer short of space: at a poll that finds nothing, at the
 * end-of-epoch marker, and at once when the writer advertises that it sleeps for space. READ is a log
 * position: every record below it was released, so it never passes a buffer still held, and the
 * writer takes a slot back only when READ has passed the SLOT record that named it. One ring over
 * plain memory, the writer and reader of one direction, driven by this thread.
 */
class ReleaseBatchingTest {
    private static final int SLOTS = 128;   // a batch of 32
    private static final int INLINE = 8;    // an 8-byte message is one 16-byte INLINE record
    private static final int RECORD = ShmLayout.recordBytes(INLINE);
    private static final int SLOT_MESSAGE = 65;   // more than the 64-byte slot's inline maximum: a slot and a 16-byte SLOT record
    private RingPair rings;
    private RingWriter writer;
    private RingReader reader;

    private void open(boolean writerMayPark) {
        rings = new RingPair(64, SLOTS, writerMayPark);
        writer = rings.writer;
        reader = rings.reader;
    }

    @AfterEach
    void close() {
        rings.close();
    }

    @Test
    void readIsPublishedOncePerBatchAndWhenThePollFindsNothing() {
        open(false);
        int batch = RingReader.releaseBatchFor(SLOTS);
        assertEquals(32, batch);
        assertEquals(16, RECORD);
        rings.publish(40, INLINE);
        rings.pollAndRelease(batch - 1);
        assertEquals(0, rings.read(), "no READ store before a batch is complete");
        rings.pollAndRelease(1);
        assertEquals((long) batch * RECORD, rings.read(), "a whole batch is published with one store, as the log position past it");
        rings.pollAndRelease(40 - batch);
        assertEquals((long) batch * RECORD, rings.read(), "the rest waits for the next batch or the reader's idle moment");
        assertNull(reader.poll());
        assertEquals(40L * RECORD, rings.read(), "a poll that finds nothing publishes every release");
    }

    @Test
    void theEndOfEpochMarkerPublishesEveryRelease() {
        open(false);
        rings.publish(3, INLINE);
        assertTrue(writer.commitEndOfEpoch());
        rings.pollAndRelease(3);
        assertEquals(0, rings.read(), "three releases: no batch yet");
        assertNull(reader.poll(), "the marker: nothing more on this log");
        assertTrue(reader.inputFinished());
        assertEquals(3L * RECORD + ShmLayout.RECORD_ALIGN, rings.read(), "READ passes the messages and the marker");
    }

    @Test
    void aWriterThatSleepsForSpaceGetsEachReleaseAtOnce() {
        open(true);
        rings.publish(4, INLINE);
        reader.poll().release();
        assertEquals(0, rings.read());
        ShmLayout.producerParkedTripwire(rings.ring).armWithoutFence();   // the writer advertises it sleeps for space
        reader.poll().release();
        assertEquals(2L * RECORD, rings.read(), "published at once for a sleeping writer");
    }

    /**
     * Three laps of the whole pool, each released in reverse: READ stays at the oldest record while it is
     * held, however many later ones were released and however many batches passed, so no slot comes back;
     * releasing it moves READ past the lap at once and gives the writer every slot again.
     */
    @Test
    void outOfOrderReleasesGiveSlotsBackOnlyWhenReadPassesTheirRecords() {
        open(false);
        long lap = (long) SLOTS * ShmLayout.RECORD_ALIGN;
        for (int l = 0; l < 3; l++) {
            rings.publish(SLOTS, SLOT_MESSAGE);
            assertNull(writer.claim(SLOT_MESSAGE), "every slot is out");
            List<SlotBuffer> held = new ArrayList<>();
            for (int i = 0; i < SLOTS; i++) {
                SlotBuffer b = reader.poll();
                assertNotNull(b, "poll " + i);
                assertEquals(i, b.getLong(0), "in order");
                held.add(b);
            }
            for (int i = SLOTS - 1; i > 0; i--) held.get(i).release();   // four batches' worth, the oldest still held
            assertNull(reader.poll());
            assertEquals(l * lap, rings.read(), "READ stays at the oldest held record");
            assertNull(writer.claim(SLOT_MESSAGE), "no slot comes back before READ passes its record");
            held.get(0).release();
            assertNull(reader.poll());
            assertEquals((l + 1) * lap, rings.read(), "released: READ passes the whole lap");
        }
        rings.publish(SLOTS, SLOT_MESSAGE);   // all came back
    }
}
