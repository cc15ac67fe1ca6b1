package dev.fable;

import dev.fable.testing.Pair;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;

import static dev.fable.testing.Names.unique;
import static org.junit.jupiter.api.Assertions.*;

/**
 * A buffer dropped without commit() or release() is reported once the GC finds it unreachable,
 * naming its connection; paranoid mode also says where it was claimed. Each test runs in a
 * {@link Fable.Context} of its own (the leak detector is per set-up), in this JVM.
 */
class LeakDetectionTest {

    /** A pair over shared memory on {@code name} in set-up {@code fable}, with few, small slots. */
    static Pair open(Fable fable, String name) throws Exception {
        return Pair.open(fable, name, "shm", ConnectOptions.trusted(), ConnectOptions.trusted().slotSize(64).slotCount(8));
    }

    // Separate methods so that no local variable of the test keeps the dropped buffer reachable.

    private static void claimAndDrop(Connection c) {
        Buffer b = c.claim(8);
        assertNotNull(b);
        b.putLong(0, 1);
    }

    private static void pollAndDrop(Connection c) {
        Buffer b = c.receive(Duration.ofSeconds(5));
        assertNotNull(b);
        assertEquals(2, b.getLong(0));
    }

    /** Runs the GC until {@code count} reports containing {@code tag} arrived (bounded), and returns them. */
    static List<String> awaitReports(BlockingQueue<String> reports, String tag, int count, Duration limit) throws InterruptedException {
        List<String> mine = new ArrayList<>();
        long deadline = System.nanoTime() + limit.toNanos();
        while (mine.size() < count) {
            if (System.nanoTime() - deadline >= 0) {
                throw new AssertionError("only " + mine.size() + " of " + count + " leak reports for " + tag + " within " + limit + ": " + mine);
            }
            System.gc();
            String r = reports.poll(50, TimeUnit.MILLISECONDS);
            while (r != null) {
                if (r.contains(tag)) mine.add(r);
                r = reports.poll();
            }
        }
        return mine;
    }

    @Test
    void droppedWriteAndReadBuffersAreReportedNamingTheirConnection() throws Exception {
        BlockingQueue<String> reports = new LinkedBlockingQueue<>();
        String name = unique("leak");
        try (Fable fable = Fable.launch(new Fable.Context().leakDetection("simple")); Pair p = open(fable, name)) {
            fable.onLeak(reports::add);
            // Buffers that are committed and released are never reported, however often they are reused.
            for (int i = 0; i < 100; i++) {
                Buffer b = p.client().claim(8);
                b.putLong(0, i);
                b.commit();
                p.server().receive(Duration.ofSeconds(5)).release();
            }
            long before = fable.leaksReported();

            claimAndDrop(p.client());
            Buffer w = p.client().claim(8);
            w.putLong(0, 2);
            w.commit();
            pollAndDrop(p.server());

            List<String> mine = awaitReports(reports, "'" + name + "'", 2, Duration.ofSeconds(20));
            assertEquals(before + 2, fable.leaksReported(), "leaksReported() counts the reports");
            String sending = p.client() + " (sending)";
            String receiving = p.server() + " (receiving)";
            assertEquals(1, mine.stream().filter(m -> m.contains(sending)).count(), "one report for the claimed buffer: " + mine);
            assertEquals(1, mine.stream().filter(m -> m.contains(receiving)).count(), "one report for the polled buffer: " + mine);
            for (String m : mine) {
                assertTrue(m.contains("shm connection"), m);
                assertTrue(m.contains("without commit() or release()"), m);
                assertTrue(m.contains("-Dfable.leakDetection=paranoid"), "simple mode points to paranoid mode: " + m);
                assertFalse(m.contains("claimAndDrop") || m.contains("pollAndDrop"), "simple mode records no claim site: " + m);
            }

            // The connection still works around the leaked slots.
            Buffer b = p.client().claim(8);
            b.putLong(0, 3);
            b.commit();
            Buffer r = p.server().receive(Duration.ofSeconds(5));
            assertEquals(3, r.getLong(0));
            r.release();
        }
    }

    private static void claimAndDropInParanoidMode(Connection c) {
        Buffer b = c.claim(8);
        b.putLong(0, 1);
    }

    @Test
    void paranoidModeReportsWhereTheBufferWasClaimedAndOnlyToItsOwnSetUp() throws Exception {
        String name = unique("paranoid");
        BlockingQueue<String> reports = new LinkedBlockingQueue<>();
        BlockingQueue<String> others = new LinkedBlockingQueue<>();
        try (Fable paranoid = Fable.launch(new Fable.Context().leakDetection("paranoid"));
             Fable other = Fable.launch(new Fable.Context().leakDetection("simple"));
             Pair p = open(paranoid, name)) {
            paranoid.onLeak(reports::add);
            other.onLeak(others::add);
            claimAndDropInParanoidMode(p.client());
            List<String> mine = awaitReports(reports, "'" + name + "'", 1, Duration.ofSeconds(20));
            String line = mine.getFirst().replace('\n', '|');
            assertTrue(line.contains("shm connection"), line);
            assertTrue(line.contains("claimAndDropInParanoidMode"), "the claim site is named: " + line);
            assertTrue(line.contains("paranoidModeReportsWhereTheBufferWasClaimedAndOnlyToItsOwnSetUp"), line);
            assertEquals(1, paranoid.leaksReported());
            assertEquals(0, other.leaksReported(), "another set-up's detector saw nothing");
            assertTrue(others.stream().noneMatch(m -> m.contains(name)), "another set-up's listener got nothing: " + others);
        }
    }
}
