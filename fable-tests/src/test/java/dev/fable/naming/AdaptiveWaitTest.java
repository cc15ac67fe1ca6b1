package dev.fable.naming;

import dev.fable.Connection;
import dev.fable.Fable;
import dev.fable.naming.protocol.FlowEntry;
import dev.fable.testing.Cpus;
import dev.fable.testing.PeerProcess;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Predicate;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@code auto} (an {@code xio://} connection with the default, adaptive waits) decides how to wait
 * from where the two ends run and how busy their CPUs are, with two real JVMs pinned by
 * {@code taskset}, a real CPU hog ({@code yes}) and the decision read back from the daemon's flow
 * table (what {@code fable flows} prints).
 */
class AdaptiveWaitTest {
    private static final Duration WAIT = Duration.ofSeconds(30);

    /** Listens as args[0] with the default options and echoes every message until the peer closes. */
    public static final class Echo {
        public static void main(String[] args) {
            PeerProcess.listenAndEcho(args[0], WAIT);
        }
    }

    /**
     * Connects to xio://args[0] with the default options; stdin commands: "ROUNDS n" (n round trips, then
     * "ROUND total"), "RUN" (round trips until the next command), "PACED" (one round trip a millisecond,
     * so the echo's waits outlast any spin), "STOP" (prints "OK total" and closes).
     * Every echo's sequence number is checked ("FAILED ..." otherwise).
     */
    public static final class Pinger {
        static volatile String command;

        public static void main(String[] args) throws Exception {
            Thread reader = new Thread(() -> {
                try (BufferedReader in = new BufferedReader(new InputStreamReader(System.in))) {
                    for (String l; (l = in.readLine()) != null; ) command = l;
                } catch (Exception e) {
                    // stdin gone: stop below
                }
                command = "STOP";
            }, "commands");
            reader.setDaemon(true);
            reader.start();
            long seq = 0;
            try (Connection c = Fable.connect("xio://" + args[0], dev.fable.ConnectOptions.trusted())) {
                System.out.println("CONNECTED " + c.transport() + " " + c.waitMode().name().toLowerCase());
                String last = null;
                while (true) {
                    String cmd = command;
                    if (cmd == null || cmd == last) {   // nothing new: run on, or wait for a command
                        if (last != null && last.equals("RUN")) {
                            if (!roundTrip(c, seq++)) return;
                        } else if (last != null && last.equals("PACED")) {
                            if (!roundTrip(c, seq++)) return;
                            Thread.sleep(1);   // the workload's shape (a message a millisecond), not a synchronisation
                        } else {
                            Thread.onSpinWait();
                        }
                        continue;
                    }
                    last = cmd;
                    if (cmd.startsWith("ROUNDS ")) {
                        for (int i = Integer.parseInt(cmd.substring(7)); i > 0; i--) if (!roundTrip(c, seq++)) return;
                        System.out.println("ROUND " + seq);
                    } else if (cmd.equals("STOP")) {
                        break;
                    }
                }
            }
            System.out.println("OK " + seq);
        }

        private static boolean roundTrip(Connection c, long seq) {
            c.send(ByteBuffer.allocate(8).putLong(0, seq).array());
            byte[] back = c.receiveMessage(WAIT);
            if (back == null || back.length != 8 || ByteBuffer.wrap(back).getLong() != seq) {
                System.out.println("FAILED echo of " + seq + ": " + (back == null ? "none" : back.length + " B"));
                return false;
            }
            return true;
        }
    }

    private record Setup(TestDaemon daemon, DaemonNameService admin, List<String> jvmArgs, String name) implements AutoCloseable {
        static Setup start(String tag) throws Exception {
            Path rt = TestDaemon.freshDir(tag);
            Path st = Files.createDirectories(rt.resolve("state"));
            TestDaemon d = TestDaemon.start(rt, "fable.state.dir=" + st);
            return new Setup(d, DaemonNameService.open(rt, false),
                    List.of("-Dfable.runtime.dir=" + rt, "-Dfable.state.dir=" + st, "-Dfable.daemon.autostart=false"),
                    tag + "-" + ProcessHandle.current().pid());
        }

        /** The wait descriptions of both ends of the connection to {@link #name}. */
        List<String> waits() {
            return waits(null);
        }

        /** The wait descriptions of the connecting ({@code true}) or accepting end, or of both ({@code null}). */
        List<String> waits(Boolean connector) {
            List<String> w = new ArrayList<>();
            for (FlowEntry f : admin.flows()) {
                if ((f.peerName().equals(name) || f.localName().equals(name)) && (connector == null || f.connector() == connector)) {
                    w.add(f.waitMode());
                }
            }
            return w;
        }

        /** Polls the flow table (10 ms apart) until the end's (see {@link #waits(Boolean)}) descriptions match; the last ones seen if not within {@code within}. */
        List<String> awaitWaits(Boolean connector, Predicate<String> each, Duration within) throws InterruptedException {
            long end = System.nanoTime() + within.toNanos();
            int ends = connector == null ? 2 : 1;
            List<String> w;
            do {
                w = waits(connector);
                if (w.size() == ends && w.stream().allMatch(each)) return w;
                Thread.sleep(10);   // polling a report the daemon collects; the decision itself is not timed
            } while (System.nanoTime() < end);
            return w;
        }

        @Override
        public void close() {
            admin.close();
            daemon.close();
        }
    }

    private static List<String> taskset(int cpu) {
        return List.of("taskset", "-c", Integer.toString(cpu));
    }

    @Test
    void twoPeersPinnedToOneCpuBlockFromTheFirstMessage() throws Exception {
        int cpu = Cpus.allowed().getFirst();
        try (Setup s = Setup.start("pinned1");
             PeerProcess echo = PeerProcess.startUnder(taskset(cpu), Echo.class, s.jvmArgs(), s.name())) {
            echo.awaitLine("LISTENING", WAIT);
            try (PeerProcess pinger = PeerProcess.startUnder(taskset(cpu), Pinger.class, s.jvmArgs(), s.name())) {
                assertEquals("CONNECTED shm adaptive", pinger.awaitLine("CONNECTED", WAIT));
                pinger.send("ROUNDS 1");
                assertEquals("ROUND 1", pinger.awaitLine("ROUND", WAIT));
                // Every wait so far, the first included, did not spin on the CPU the peer needs: it slept at once (the
                // CPU not measured yet, or used by others) or yielded to the peer, then slept. An end whose polls all
                // found data has not waited yet; at least one end waited for the first round trip.
                Predicate<String> blocked = java.util.regex.Pattern.compile("adaptive \\((yield, then block|block \\([^)]*\\)): peer on CPU "
                        + cpu + "; spun 0 of .*").asMatchPredicate();
                List<String> w = s.waits();
                assertEquals(2, w.size(), w.toString());
                for (String e : w) assertTrue(blocked.test(e) || e.equals("adaptive (no wait yet)"), e + " (both: " + w + ")");
                assertTrue(w.stream().anyMatch(blocked), "one end waited for the first echo: " + w);

                pinger.send("ROUNDS 2000");
                assertEquals("ROUND 2001", pinger.awaitLine("ROUND", WAIT));
                for (String e : s.waits()) assertTrue(blocked.test(e), e);
                pinger.send("STOP");
                assertEquals("OK 2001", pinger.awaitLine("OK", WAIT));
            }
            echo.awaitLine("DONE", WAIT);
        }
    }

    /**
     * A hog on both CPUs: the end whose waits outlast its spins (the echo of a paced ping-pong) moves to
     * blocking and back when the hog stops; the end whose spins still catch the data (the pinger, whose
     * echo comes within microseconds) keeps spinning, as measured best under a hog (AdaptiveSpin).
     */
    @Test
    void aCpuHogOnTheirCpusMovesAnEndWhoseSpinsDoNotPayToBlockingAndBackWhenItStops() throws Exception {
        List<Integer> cpus = Cpus.allowed();
        Assumptions.assumeTrue(cpus.size() >= 2, "needs two CPUs to put the two ends apart; this process may use " + cpus);
        int a = cpus.get(0), b = cpus.get(1);
        Predicate<String> spinning = e -> e.startsWith("adaptive (spin <= ");
        Predicate<String> contended = e -> e.startsWith("adaptive (block: CPU ") && e.contains(" contended, ");
        try (Setup s = Setup.start("hog");
             PeerProcess echo = PeerProcess.startUnder(taskset(b), Echo.class, s.jvmArgs(), s.name())) {
            echo.awaitLine("LISTENING", WAIT);
            try (PeerProcess pinger = PeerProcess.startUnder(taskset(a), Pinger.class, s.jvmArgs(), s.name())) {
                assertEquals("CONNECTED shm adaptive", pinger.awaitLine("CONNECTED", WAIT));
                pinger.send("PACED");
                List<String> w = s.awaitWaits(null, spinning, Duration.ofSeconds(20));
                Assumptions.assumeTrue(w.size() == 2 && w.stream().allMatch(spinning),
                        "the two ends never both spun on CPUs " + a + " and " + b + " (another process keeps them busy?): " + w);

                List<Process> hogs = new ArrayList<>();
                try {
                    for (int cpu : new int[] {a, b}) {
                        hogs.add(new ProcessBuilder(List.of("taskset", "-c", Integer.toString(cpu), "yes"))
                                .redirectOutput(ProcessBuilder.Redirect.DISCARD).start());
                    }
                    w = s.awaitWaits(false, contended, WAIT);
                    assertTrue(w.size() == 1 && contended.test(w.getFirst()), "the echo with a hog on CPU " + b + ": " + w);
                    pinger.send("RUN");   // now a busy ping-pong: spins catch the echo, so the pinger's end keeps spinning under the hog
                    w = s.awaitWaits(true, e -> spinning.test(e) && e.contains("% used by others)"), WAIT);
                    assertTrue(w.size() == 1 && spinning.test(w.getFirst()), "the busy pinger with a hog on CPU " + a + ": " + w);
                    pinger.send("PACED");
                } finally {
                    for (Process h : hogs) {
                        h.destroyForcibly();
                        h.waitFor();
                    }
                }
                w = s.awaitWaits(null, spinning, WAIT);
                assertTrue(w.size() == 2 && w.stream().allMatch(spinning), "after the hogs stopped: " + w);

                pinger.send("STOP");
                String ok = pinger.awaitLine("OK", WAIT);
                assertTrue(Long.parseLong(ok.substring(3)) > 10, ok);   // traffic flowed, every echo checked
            }
            echo.awaitLine("DONE", WAIT);
        }
    }

    /**
     * Two ends pinned to one CPU hand it to each other with sched_yield while nobody else wants it, and
     * sleep at once (a futex wake-up preempts a third thread, a yield waits out its time slice) while a
     * hog runs on that CPU, and yield again once it stops. The hog's share is read from /proc: the CPU's
     * busy time minus the two ends' threads.
     */
    @Test
    void twoEndsOnOneCpuYieldToEachOtherUntilAThirdThreadWantsTheCpu() throws Exception {
        int cpu = Cpus.allowed().getFirst();
        Predicate<String> yielding = e -> e.startsWith("adaptive (yield, then block: peer on CPU " + cpu + ";");
        Predicate<String> crowded = java.util.regex.Pattern.compile("adaptive \\(block \\(\\d+% of it used by others\\): peer on CPU "
                + cpu + ";.*").asMatchPredicate();
        try (Setup s = Setup.start("yield");
             PeerProcess echo = PeerProcess.startUnder(taskset(cpu), Echo.class, s.jvmArgs(), s.name())) {
            echo.awaitLine("LISTENING", WAIT);
            try (PeerProcess pinger = PeerProcess.startUnder(taskset(cpu), Pinger.class, s.jvmArgs(), s.name())) {
                assertEquals("CONNECTED shm adaptive", pinger.awaitLine("CONNECTED", WAIT));
                pinger.send("RUN");
                List<String> w = s.awaitWaits(null, yielding, Duration.ofSeconds(20));
                Assumptions.assumeTrue(w.size() == 2 && w.stream().allMatch(yielding),
                        "the two ends never both yielded on CPU " + cpu + " (another process keeps it busy?): " + w);
                Process hog = new ProcessBuilder(List.of("taskset", "-c", Integer.toString(cpu), "yes"))
                        .redirectOutput(ProcessBuilder.Redirect.DISCARD).start();
                try {
                    w = s.awaitWaits(null, crowded, WAIT);
                    assertTrue(w.size() == 2 && w.stream().allMatch(crowded), "with a hog on CPU " + cpu + ": " + w);
                } finally {
                    hog.destroyForcibly();
                    hog.waitFor();
                }
                w = s.awaitWaits(null, yielding, WAIT);
                assertTrue(w.size() == 2 && w.stream().allMatch(yielding), "after the hog stopped: " + w);
                pinger.send("STOP");
                String ok = pinger.awaitLine("OK", WAIT);
                assertTrue(Long.parseLong(ok.substring(3)) > 10, ok);   // traffic flowed, every echo checked
            }
            echo.awaitLine("DONE", WAIT);
        }
    }
}
