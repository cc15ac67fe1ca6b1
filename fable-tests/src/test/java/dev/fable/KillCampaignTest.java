package dev.fable;

import dev.fable.testing.Await;
import dev.fable.testing.Names;
import dev.fable.testing.PeerProcess;
import dev.fable.testing.ProcFs;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.EnumMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.FutureTask;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.LockSupport;
import java.util.function.LongConsumer;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The kill -9 campaign (issue 16): for each transport, and for a connection that keeps switching
 * among all four, many runs that each kill one side of a live connection at a random moment.
 *
 * <p>Each run: the survivor end lives in this JVM, the victim end in a child JVM. A seeded random
 * choice decides whether the victim produces or consumes, whether it connected or accepted, and when
 * it dies (0–300 ms after the traffic started; 0–1500 ms while switching, so that several switches pass). The producer sends
 * sequence-numbered messages of mixed sizes ({@link ReconfigureTest#message}, 1 B to 1 MiB); the
 * consumer checks each (in order, no gap or duplicate, every byte) and acknowledges it by sending its
 * sequence number back. A victim prints, before it dies, what it received (a consumer prints each
 * sequence number before acknowledging it) or saw acknowledged (a producer prints each
 * acknowledgement), into a report file the test reads after the kill. While switching, the side that
 * connected switches back to back among shm, unix, tcp and tls, so the kill falls within a switch.
 *
 * <p>Counted per run, and all must be zero:
 * <ul>
 * <li><b>hangs</b>: a survivor thread (sender, receiver, switcher) whose blocking call did not end
 *     within {@link #HANG_LIMIT} of the kill (its stack is printed);</li>
 * <li><b>files left</b>: files in the shared-memory directory, and the survivor's mappings of that
 *     directory (a deleted file still holds its memory while mapped), that remain
 *     {@link #SWEEP_LIMIT} after the survivor closed its connection (the name daemon removes a dead
 *     client's files);</li>
 * <li><b>acked-but-lost</b>: messages the producer had seen acknowledged beyond what the consumer
 *     received;</li>
 * <li><b>disorder</b>: a message or acknowledgement out of order, duplicated or corrupt (survivor or victim);</li>
 * <li><b>other</b>: a survivor call that ended with anything but {@link PeerGoneException} or
 *     {@link ConnectionClosedException}, a switch that failed while both sides lived, a victim that failed.</li>
 * </ul>
 * {@code -Dfable.killCampaign.runs=N} (default 20; 100 offline) sets the runs per mode,
 * {@code -Dfable.killCampaign.seed=S} the seed (default: the clock); both are printed, with each
 * run's choices, so a failing run can be repeated. The table is printed at the end (docs/security.md).
 */
@Timeout(value = 40, unit = TimeUnit.MINUTES, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
class KillCampaignTest {
    static final int RUNS = Integer.getInteger("fable.killCampaign.runs", 20);
    /** Only these modes ({@code -Dfable.killCampaign.modes=tls,switching}), and only run N of each ({@code -Dfable.killCampaign.run=N}): to repeat a run. */
    static final String ONLY_MODES = System.getProperty("fable.killCampaign.modes", "");
    static final int ONLY_RUN = Integer.getInteger("fable.killCampaign.run", 0);
    static final long SEED = Long.getLong("fable.killCampaign.seed", System.currentTimeMillis());
    /** How long after the kill the survivor's blocked calls may take to end. */
    static final Duration HANG_LIMIT = Duration.ofSeconds(15);
    /** How long after the survivor's close the files may take to go (the daemon sweeps a dead pid's files). */
    static final Duration SWEEP_LIMIT = Duration.ofSeconds(10);
    static final Duration WAIT = Duration.ofSeconds(30);
    static final Duration FOREVER = Duration.ofSeconds(-1);
    /**
     * Both sides' options. The connect timeout stays at its default, zero: the peer listens before
     * anyone connects. It is also how long each switch's new leg waits for the peer's name, so with
     * one a switch that starts as the accepting peer dies waits that long for the dead peer's name
     * to come back, PEER_GONE or not (30 s here showed as hangs of the survivor's switcher).
     */
    static final ConnectOptions OPTIONS = ConnectOptions.trusted();

    enum Mode {
        SHM, UNIX, TCP, TLS, SWITCHING;

        String transport() {
            return name().toLowerCase(Locale.ROOT);
        }
    }

    /** A deliberate defect, for the check that the campaign sees what it counts. */
    enum Fault {
        NONE,
        /** The survivor does not close its connection: its mappings of the directory stay. */
        SURVIVOR_KEEPS_CONNECTION,
        /** The victim consumer stops recording messages after the 50th but keeps acknowledging them. */
        CONSUMER_FORGETS
    }

    /** One run's choices, all from the seeded random. */
    record Plan(Mode mode, int run, boolean victimProduces, boolean victimConnects, String firstTransport, long killDelayMillis,
                long switchSeed) {
        static Plan draw(Mode mode, int run, Random r) {
            boolean produces = r.nextBoolean(), connects = r.nextBoolean();
            String first = mode == Mode.SWITCHING ? TransportName.ALL.get(r.nextInt(4)) : mode.transport();
            long delay = r.nextInt(mode == Mode.SWITCHING ? 1501 : 301);
            return new Plan(mode, run, produces, connects, first, delay, r.nextLong());
        }

        @Override
        public String toString() {
            return mode.transport() + " run " + run + ": victim " + (victimProduces ? "producer" : "consumer") + " and "
                    + (victimConnects ? "connector" : "acceptor") + ", over " + firstTransport + ", killed " + killDelayMillis
                    + " ms after the traffic started";
        }
    }

    /** What one run found. */
    record Outcome(Plan plan, boolean hang, List<String> filesLeft, long acked, long lost, boolean disorder, List<String> other,
                   long switches, boolean midSwitch, String survivorEnd) {}

    /** The figures of one mode. */
    static final class Tally {
        int runs, victimProducer, midSwitch, hangs, filesLeft, disordered, other;
        long acked, lost, switches;
        final List<String> details = new ArrayList<>();

        void add(Outcome o) {
            runs++;
            if (o.plan().victimProduces()) victimProducer++;
            acked += Math.max(0, o.acked() + 1);
            switches += o.switches();
            if (o.midSwitch()) midSwitch++;
            if (o.hang()) {
                hangs++;
                details.add(o.plan() + ": HANG");
            }
            if (!o.filesLeft().isEmpty()) {
                filesLeft += o.filesLeft().size();
                details.add(o.plan() + ": files left " + o.filesLeft());
            }
            if (o.lost() > 0) {
                lost += o.lost();
                details.add(o.plan() + ": " + o.lost() + " acknowledged message(s) never arrived");
            }
            if (o.disorder()) {
                disordered++;
                details.add(o.plan() + ": out of order " + o.other());
            }
            if (!o.other().isEmpty() && !o.disorder()) {
                other++;
                details.add(o.plan() + ": " + o.other());
            }
        }

        boolean clean() {
            return hangs == 0 && filesLeft == 0 && lost == 0 && disordered == 0 && other == 0;
        }
    }

    private static final Map<Mode, Tally> TABLE = new EnumMap<>(Mode.class);
    private static Path shmDir;
    /** The victims' report files. */
    private static Path reports;

    @BeforeAll
    static void privateShmDir() throws IOException {
        Path base = Path.of("/dev/shm");
        shmDir = Files.createTempDirectory(Files.isDirectory(base) ? base : Path.of(System.getProperty("java.io.tmpdir")), "fable-kill-");
        reports = Files.createTempDirectory("fable-kill-reports-");
        System.out.println("kill campaign: seed " + SEED + " (-Dfable.killCampaign.seed), " + RUNS + " runs per mode, shm directory " + shmDir);
    }

    @AfterAll
    static void printTableAndRemoveDir() throws IOException {
        synchronized (TABLE) {
            if (!TABLE.isEmpty()) System.out.println("kill campaign, seed " + SEED + ":\n" + table());
        }
        for (Path dir : List.of(shmDir, reports)) {
            try (Stream<Path> s = Files.walk(dir)) {
                for (Path p : s.sorted(Comparator.reverseOrder()).toList()) Files.deleteIfExists(p);
            }
        }
    }

    static String table() {
        StringBuilder b = new StringBuilder("| mode | runs | victim producer / consumer | messages acked | switches (killed mid-switch) | hangs | files left | acked but lost | out of order | other |\n"
                + "|---|---|---|---|---|---|---|---|---|---|\n");
        TABLE.forEach((m, t) -> b.append("| ").append(m.transport()).append(" | ").append(t.runs).append(" | ").append(t.victimProducer).append(" / ")
                .append(t.runs - t.victimProducer).append(" | ").append(t.acked).append(" | ").append(m == Mode.SWITCHING ? t.switches + " (" + t.midSwitch + ")" : "–")
                .append(" | ").append(t.hangs).append(" | ").append(t.filesLeft).append(" | ").append(t.lost).append(" | ").append(t.disordered)
                .append(" | ").append(t.other).append(" |\n"));
        return b.toString();
    }

    // ---- the traffic, the same code on both sides ----

    /** Producer: sends messages 0, 1, 2, ... until the connection ends. */
    static void produce(Connection c) {
        for (long seq = 0; ; seq++) c.send(ReconfigureTest.message(seq));
    }

    /** Producer's second thread: reads acknowledgements, which must come 0, 1, 2, ...; {@code seen} hears each. */
    static void readAcks(Connection c, LongConsumer seen) {
        for (long want = 0; ; want++) {
            byte[] m = c.receiveMessage(FOREVER);
            if (m == null || m.length != 8) throw new AssertionError("acknowledgement " + want + " is " + (m == null ? "missing" : m.length + " B"));
            long ack = ByteBuffer.wrap(m).order(ByteOrder.LITTLE_ENDIAN).getLong();
            if (ack != want) throw new AssertionError("acknowledgement of " + ack + " where " + want + " was due");
            seen.accept(ack);
        }
    }

    /** Consumer: receives and checks messages 0, 1, 2, ...; {@code received} hears each before it is acknowledged. */
    static void consume(Connection c, LongConsumer received) {
        byte[] ack = new byte[8];
        for (long seq = 0; ; seq++) {
            byte[] m = c.receiveMessage(FOREVER);
            if (m == null) throw new AssertionError("receive without limit returned nothing at message " + seq);
            ReconfigureTest.check(seq, m);
            received.accept(seq);
            ByteBuffer.wrap(ack).order(ByteOrder.LITTLE_ENDIAN).putLong(0, seq);
            c.send(ack);
        }
    }

    /** The connecting side's switcher: back-to-back switches to a randomly chosen other transport, until the connection ends. */
    static void switchAmong(Connection c, long seed) {
        Random r = new Random(seed);
        while (true) {
            String to;
            do {
                to = TransportName.ALL.get(r.nextInt(TransportName.ALL.size()));
            } while (to.equals(c.transport()));
            c.reconfigure(to, "kill campaign");
        }
    }

    // ---- the victim ----

    /**
     * The child: {@code mode firstTransport produce|consume connect|listen name switchSeed fault reportFile}.
     * Prints LISTENING (acceptor) and CONNECTED on stdout; writes "R seq" to its report file for each
     * message received (consumer) before it acknowledges it, or "A seq" for each acknowledgement seen
     * (producer), and "FAILED ..." if anything goes wrong while it lives. The report is a file, not
     * stdout: the JDK's reader of a killed child's stdout may lose the last lines ("Stream closed").
     */
    public static final class Victim {
        public static void main(String[] a) throws IOException {
            Mode mode = Mode.valueOf(a[0]);
            String first = a[1], name = a[4];
            boolean produces = a[2].equals("produce"), connects = a[3].equals("connect");
            long switchSeed = Long.parseLong(a[5]);
            Fault fault = Fault.valueOf(a[6]);
            report = new java.io.FileOutputStream(a[7]);
            Thread.setDefaultUncaughtExceptionHandler((t, e) -> report("FAILED " + t.getName() + ": " + e));
            Connection c;
            if (connects) {
                c = Fable.connect(Names.uri(first, name), OPTIONS);
            } else {
                Endpoint ep = Fable.register(name).listen(OPTIONS);
                say("LISTENING");
                c = ep.accept(WAIT);
                if (c == null) {
                    report("FAILED nobody connected within " + WAIT);
                    return;
                }
            }
            say("CONNECTED");
            if (mode == Mode.SWITCHING && connects) {
                Thread.ofPlatform().name("switcher").start(() -> switchAmong(c, switchSeed));
            }
            if (produces) {
                Thread.ofPlatform().name("acks").start(() -> readAcks(c, seq -> report("A " + seq)));
                produce(c);
            } else {
                consume(c, seq -> {
                    if (fault != Fault.CONSUMER_FORGETS || seq < 50) report("R " + seq);
                });
            }
        }

        /** Its report file: one write system call per line, so what it wrote before the kill is in the file (the page cache outlives the process). */
        private static java.io.FileOutputStream report;

        private static synchronized void report(String line) {
            try {
                report.write((line + "\n").getBytes(java.nio.charset.StandardCharsets.US_ASCII));
            } catch (IOException e) {
                throw new java.io.UncheckedIOException(e);
            }
        }

        private static void say(String line) {
            System.out.println(line);
            System.out.flush();
        }
    }

    // ---- the survivor ----

    /** A survivor thread and how it ended. */
    private record Worker(String name, Thread thread, FutureTask<Throwable> end) {
        static Worker start(String name, Runnable body) {
            FutureTask<Throwable> end = new FutureTask<>(() -> {
                try {
                    body.run();
                    return new AssertionError(name + " returned");
                } catch (Throwable t) {
                    return t;
                }
            });
            return new Worker(name, Thread.ofPlatform().daemon().name(name).start(end), end);
        }

        /** How the thread ended, or null if it did not end by {@code deadlineNanos}. */
        Throwable endBy(long deadlineNanos) throws Exception {
            try {
                return end.get(Math.max(0, deadlineNanos - System.nanoTime()), TimeUnit.NANOSECONDS);
            } catch (TimeoutException hung) {
                return null;
            }
        }

        String stack() {
            StringBuilder b = new StringBuilder(name + " (" + thread.getState() + "):\n");
            for (StackTraceElement e : thread.getStackTrace()) b.append("\tat ").append(e).append('\n');
            return b.toString();
        }
    }

    /** A Fable set-up of its own for the survivor: the private shm directory and no prepared pool (only connection files appear there). */
    static Fable survivorSetUp() {
        synchronized (System.getProperties()) {
            String before = System.getProperty("fable.shm.reserve");
            System.setProperty("fable.shm.reserve", "false");   // read once, when the set-up's shm transport is made
            try {
                return Fable.launch(new Fable.Context().shmDir(shmDir));
            } finally {
                if (before == null) System.clearProperty("fable.shm.reserve");
                else System.setProperty("fable.shm.reserve", before);
            }
        }
    }

    @ParameterizedTest
    @EnumSource(Mode.class)
    void killOneSideAtARandomMoment(Mode mode) throws Exception {
        org.junit.jupiter.api.Assumptions.assumeTrue(ONLY_MODES.isEmpty() || List.of(ONLY_MODES.split(",")).contains(mode.transport()),
                "-Dfable.killCampaign.modes=" + ONLY_MODES);
        Random r = new Random(SEED * 31 + mode.ordinal());
        Tally tally = new Tally();
        long started = System.nanoTime();
        try (Fable fable = survivorSetUp();
             Endpoint ep = fable.endpoint(Names.unique("kill-" + mode.transport())).listen(OPTIONS)) {
            for (int i = 1; i <= RUNS; i++) {
                Plan plan = Plan.draw(mode, i, r);
                if (ONLY_RUN != 0 && ONLY_RUN != i) continue;
                Outcome o = run(fable, ep, plan, Fault.NONE, SWEEP_LIMIT);
                tally.add(o);
                System.out.println(o.plan() + ": acked " + (o.acked() + 1) + ", survivor " + o.survivorEnd()
                        + (o.switches() > 0 ? ", " + o.switches() + " switches" : "") + (o.midSwitch() ? ", killed mid-switch" : "")
                        + (clean(o) ? "" : " — " + o));
            }
        }
        synchronized (TABLE) {
            TABLE.put(mode, tally);
        }
        System.out.println(mode.transport() + ": " + tally.runs + " runs in " + TimeUnit.NANOSECONDS.toSeconds(System.nanoTime() - started) + " s (seed " + SEED + ")");
        assertTrue(tally.clean(), "kill campaign " + mode.transport() + " (seed " + SEED + "):\n" + String.join("\n", tally.details));
    }

    private static boolean clean(Outcome o) {
        return !o.hang() && o.filesLeft().isEmpty() && o.lost() == 0 && !o.disorder() && o.other().isEmpty();
    }

    /**
     * The campaign sees what it counts: a consumer that acknowledges messages it then forgets shows
     * acknowledged-but-lost messages, and a survivor that keeps its connection shows what it still
     * holds in the shared-memory directory.
     */
    @Test
    void theCampaignCountsLostAcknowledgementsAndLeftFiles() throws Exception {
        try (Fable fable = survivorSetUp();
             Endpoint ep = fable.endpoint(Names.unique("kill-check")).listen(OPTIONS)) {
            Outcome forgot = run(fable, ep, new Plan(Mode.SHM, 1, false, true, "shm", 100, 0), Fault.CONSUMER_FORGETS, SWEEP_LIMIT);
            System.out.println("consumer that forgets: " + forgot);
            assertTrue(forgot.acked() >= 100 && forgot.lost() == forgot.acked() - 49, "acknowledged " + forgot.acked() + ", lost " + forgot.lost());
            Outcome kept = run(fable, ep, new Plan(Mode.SHM, 2, true, false, "shm", 100, 0), Fault.SURVIVOR_KEEPS_CONNECTION, Duration.ofSeconds(1));
            System.out.println("survivor that keeps its connection: " + kept);
            // its pool and ring and the dead peer's, still mapped, and its descriptor of the dead peer's pool (a trusted reader keeps
            // it to forward read buffers in place; docs/shm-transport.md), until it closes the connection
            assertEquals(5, kept.filesLeft().size(), "its pool and ring, and the dead peer's, still mapped: " + kept.filesLeft());
            assertEquals(1, kept.filesLeft().stream().filter(f -> f.startsWith("memfd held open") && f.endsWith(".pool")).count(), kept.toString());
            assertTrue(!kept.hang() && kept.lost() == 0 && !kept.disorder() && kept.other().isEmpty(), kept.toString());
        }
    }

    /**
     * The survivor's files and mappings in the shm directory, the files of every other process there
     * (versions before memfds), and the survivor's shared-memory memfds, mapped or held open.
     */
    private static Set<String> leftovers() {
        Set<String> out = new TreeSet<>();
        try (Stream<Path> s = Files.list(shmDir)) {
            s.forEach(p -> out.add(p.getFileName().toString()));
        } catch (IOException e) {
            out.add("? " + e);
        }
        long self = ProcessHandle.current().pid();
        for (String m : ProcFs.mappingsUnder(self, shmDir)) out.add("mapped by the survivor: " + Path.of(m).getFileName());
        for (String m : ProcFs.memfdMappings(self)) out.add("memfd mapped by the survivor: " + m);
        for (String m : ProcFs.memfdDescriptors(self)) out.add("memfd held open by the survivor: " + m);
        return out;
    }

    /** One run: start the victim, connect, let the traffic flow, kill the victim, and count. */
    static Outcome run(Fable fable, Endpoint ep, Plan p, Fault fault, Duration sweepLimit) throws Exception {
        Set<String> before = leftovers();
        String childName = Names.unique("kill-victim");
        List<String> jvm = List.of("-Dfable.shm.dir=" + shmDir, "-Dfable.shm.reserve=false", "-Xmx128m", "-Xss512k");
        String target = p.victimConnects() ? ep.name() : childName;
        Path reportFile = reports.resolve(childName + ".txt");
        List<String> other = new ArrayList<>();
        try (PeerProcess child = PeerProcess.start(Victim.class, jvm, p.mode().name(), p.firstTransport(), p.victimProduces() ? "produce" : "consume",
                p.victimConnects() ? "connect" : "listen", target, Long.toString(p.switchSeed()), fault.name(), reportFile.toString())) {
            Connection c;
            if (p.victimConnects()) {
                c = ep.accept(WAIT);
                if (c == null) throw new AssertionError(p + ": the victim did not connect; stderr:\n" + child.stderr());
            } else {
                child.expectLine("LISTENING", WAIT);
                c = fable.open(Names.uri(p.firstTransport(), childName), OPTIONS);
            }
            child.expectLine("CONNECTED", WAIT);
            AtomicLong progress = new AtomicLong(-1);   // survivor: highest acknowledgement seen, or highest message received
            CountDownLatch flowing = new CountDownLatch(1);
            LongConsumer note = seq -> {
                progress.set(seq);
                flowing.countDown();
            };
            List<Worker> workers = new ArrayList<>();
            if (p.victimProduces()) {
                workers.add(Worker.start("survivor-consume", () -> consume(c, note)));
            } else {
                workers.add(Worker.start("survivor-acks", () -> readAcks(c, note)));
                workers.add(Worker.start("survivor-produce", () -> produce(c)));
            }
            if (p.mode() == Mode.SWITCHING && !p.victimConnects()) workers.add(Worker.start("survivor-switch", () -> switchAmong(c, p.switchSeed())));

            if (!flowing.await(WAIT.toSeconds(), TimeUnit.SECONDS)) throw new AssertionError(p + ": no traffic within " + WAIT + "; stderr:\n" + child.stderr());
            if (fault == Fault.CONSUMER_FORGETS) Await.until(() -> progress.get() >= 100, WAIT, () -> "100 acknowledgements");
            LockSupport.parkNanos(TimeUnit.MILLISECONDS.toNanos(p.killDelayMillis()));   // the kill moment: the experiment, not a synchronisation
            for (Worker w : workers) {
                if (w.end().isDone()) other.add(w.name() + " ended before the kill: " + w.end().get());
            }
            boolean midSwitch = c.reconfiguring();
            child.kill9();
            long deadline = System.nanoTime() + HANG_LIMIT.toNanos();

            boolean hang = false, disorder = false;
            List<String> ends = new ArrayList<>();
            for (Worker w : workers) {
                Throwable end = w.endBy(deadline);
                if (end == null) {
                    hang = true;
                    System.out.println("HANG " + p + " (seed " + SEED + "): " + c + " is " + c.state() + ", reconfiguring " + c.reconfiguring()
                            + "\n" + w.stack());
                    ends.add(w.name() + ": hung");
                    continue;
                }
                ends.add(w.name() + ": " + end.getClass().getSimpleName());
                if (end instanceof AssertionError) {
                    disorder = true;
                    other.add(w.name() + ": " + end.getMessage());
                } else if (w.name().equals("survivor-switch")) {
                    if (!(end instanceof FableException || end instanceof IllegalStateException)) other.add(w.name() + " ended with " + end);
                } else if (!(end instanceof PeerGoneException || end instanceof ConnectionClosedException)) {
                    other.add(w.name() + " ended with " + end);
                }
            }
            long switches = c.epoch();

            String report = Files.readString(reportFile);
            // a kill during a write leaves the last line torn ("R 11155" of "R 111559"): only whole lines count
            List<String> said = report.substring(0, report.lastIndexOf('\n') + 1).lines().toList();
            Files.delete(reportFile);
            long victimSeq = -1;
            for (String l : said) {
                if (l.startsWith("R ") || l.startsWith("A ")) victimSeq = Long.parseLong(l.substring(2));
                else if (l.startsWith("FAILED")) {
                    other.add("victim: " + l);
                    if (l.contains("AssertionError")) disorder = true;
                }
            }
            // acked: the highest acknowledgement the producer saw; received: the highest message the consumer had
            long acked = p.victimProduces() ? victimSeq : progress.get();
            long received = p.victimProduces() ? progress.get() : victimSeq;
            long lost = Math.max(0, acked - received);
            if (lost > 0 && fault == Fault.NONE) System.out.println("LOST " + p + ": victim reported " + said.size() + " lines, the last " + said.subList(Math.max(0, said.size() - 3), said.size())
                    + "; stderr:\n" + child.stderr());

            if (hang) {
                c.close();   // frees the hung thread for the next run
            } else if (fault != Fault.SURVIVOR_KEEPS_CONNECTION) {
                c.close();
            }
            boolean swept = Await.within(() -> before.containsAll(leftovers()), sweepLimit);
            List<String> left = swept ? List.of() : leftovers().stream().filter(f -> !before.contains(f)).toList();
            if (fault == Fault.SURVIVOR_KEEPS_CONNECTION) c.close();
            return new Outcome(p, hang, left, acked, lost, disorder, other, switches, midSwitch, String.join(", ", ends));
        }
    }
}
