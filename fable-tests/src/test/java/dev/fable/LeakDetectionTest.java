package dev.fable;

import dev.fable.buffer.LeakDetector;
import dev.fable.testing.Pair;
import dev.fable.testing.PeerProcess;
import org.junit.jupiter.api.AfterEach;
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
 * naming its connection; paranoid mode also says where it was claimed.
 */
class LeakDetectionTest {

    /** A pair over shared memory on {@code name}, with few, small slots. */
    static Pair open(String name) throws Exception {
        return Pair.open(name, "shm", ConnectOptions.trusted(), ConnectOptions.trusted().slotSize(64).slotCount(8));
    }

    @AfterEach
    void removeListener() {
        LeakDetector.setListener(null);
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
        LeakDetector.setListener(reports::add);
        String name = unique("leak");
        try (Pair p = open(name)) {
            // Buffers that are committed and released are never reported, however often they are reused.
            for (int i = 0; i < 100; i++) {
                Buffer b = p.client().claim(8);
                b.putLong(0, i);
                b.commit();
                p.server().receive(Duration.ofSeconds(5)).release();
            }
            long before = Fable.leakedBuffers();

            claimAndDrop(p.client());
            Buffer w = p.client().claim(8);
            w.putLong(0, 2);
            w.commit();
            pollAndDrop(p.server());

            List<String> mine = awaitReports(reports, "'" + name + "'", 2, Duration.ofSeconds(20));
            assertTrue(Fable.leakedBuffers() >= before + 2, "leakedBuffers() counts the reports");
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

    /** In paranoid mode: leaks a claimed buffer and prints every report on one line as "LEAK ...", then "DONE". */
    public static final class ParanoidLeaker {
        public static void main(String[] args) throws Exception {
            BlockingQueue<String> reports = new LinkedBlockingQueue<>();
            LeakDetector.setListener(reports::add);
            try (Pair p = open(args[0])) {
                claimAndDropInParanoidMode(p.client());
                for (String m : awaitReports(reports, "'" + args[0] + "'", 1, Duration.ofSeconds(20))) {
                    System.out.println("LEAK " + m.replace('\n', '|'));
                }
            }
            System.out.println("DONE");
        }

        private static void claimAndDropInParanoidMode(Connection c) {
            Buffer b = c.claim(8);
            b.putLong(0, 1);
        }
    }

    @Test
    void paranoidModeReportsWhereTheBufferWasClaimed() throws Exception {
        String name = unique("paranoid");
        try (PeerProcess child = PeerProcess.start(ParanoidLeaker.class, List.of("-Dfable.leakDetection=paranoid"), name)) {
            String line = child.expectLine("LEAK ");
            assertTrue(line.contains("shm connection"), line);
            assertTrue(line.contains("claimAndDropInParanoidMode"), "the claim site is named: " + line);
            assertTrue(line.contains("ParanoidLeaker.main"), line);
            child.expectLine("DONE");
            assertEquals(0, child.waitFor(30), child.stderr());
        }
    }
}
