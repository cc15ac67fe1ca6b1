package dev.fable.endpoint;

import dev.fable.Buffer;
import dev.fable.ConnectOptions;
import dev.fable.Connection;
import dev.fable.ConnectionEvent;
import dev.fable.Fable;
import dev.fable.Publisher;
import dev.fable.Subscriber;
import dev.fable.naming.NamingConfig;
import dev.fable.testing.Await;
import dev.fable.testing.PeerProcess;
import dev.fable.testing.ProcFs;
import dev.fable.transport.shm.ShmFiles;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Collectors;
import java.util.stream.Stream;

import static dev.fable.testing.Names.unique;
import static org.junit.jupiter.api.Assertions.*;

/**
 * One producer, many consumers, across real processes: this JVM publishes, consumer JVMs
 * ({@link PeerProcess}) subscribe and check every message they get. Messages are 64 bytes: the
 * sequence number in the first 8, a function of it ({@link #word}) in the other 56, so a consumer
 * checks every byte and the order. The semantics in one JVM: {@link FanoutInProcessTest}.
 *
 * <p>Synchronisation is by the consumers' stdout lines and stdin commands, never by sleeping. Each
 * consumer JVM runs with a private {@code -Dfable.shm.dir}, checked empty at the end.
 */
@Timeout(value = 90, unit = TimeUnit.SECONDS, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
class FanoutProcessesTest {
    /** Messages of the four-consumer test ({@code -Dfable.fanout.messages}). */
    static final int MESSAGES = Integer.getInteger("fable.fanout.messages", 1_000_000);
    static final int SIZE = 64;
    static final Duration LIMIT = Duration.ofSeconds(30);

    private Path shmDir;
    private final List<PeerProcess> children = new ArrayList<>();

    @BeforeEach
    void privateShmDir() throws IOException {
        Path base = Path.of("/dev/shm");
        shmDir = Files.createTempDirectory(Files.isDirectory(base) ? base : Path.of(System.getProperty("java.io.tmpdir")), "fable-fanout-");
    }

    @AfterEach
    void killChildrenAndRemoveShmDir() throws IOException {
        for (PeerProcess p : children) p.close();
        try (Stream<Path> s = Files.walk(shmDir)) {
            for (Path p : s.sorted(Comparator.reverseOrder()).toList()) Files.deleteIfExists(p);
        }
    }

    // ---- the messages ----

    /** Word {@code i} (1..7) of message {@code seq}: a mix of both, so a byte from another message or slot shows. */
    static long word(long seq, int i) {
        long x = (seq + 1) * 0x9E3779B97F4A7C15L + i * 0xC2B2AE3D27D4EB4FL;
        x ^= x >>> 29;
        x *= 0xBF58476D1CE4E5B9L;
        return x ^ (x >>> 32);
    }

    static void fill(Buffer b, long seq) {
        b.putLong(0, seq);
        for (int i = 1; i < SIZE / 8; i++) b.putLong(8 * i, word(seq, i));
    }

    /** The sequence number of {@code b}, having checked its length and every other byte against it. */
    static long checked(Buffer b) {
        if (b.length() != SIZE) throw new AssertionError("a message of " + b.length() + " B, not " + SIZE);
        long seq = b.getLong(0);
        for (int i = 1; i < SIZE / 8; i++) {
            if (b.getLong(8 * i) != word(seq, i)) {
                throw new AssertionError("message " + seq + " is corrupt at bytes " + 8 * i + ".." + (8 * i + 7) + ": 0x"
                        + Long.toHexString(b.getLong(8 * i)) + ", expected 0x" + Long.toHexString(word(seq, i)));
            }
        }
        return seq;
    }

    /** Claims a slot (waiting for one if the pool is dry), fills message {@code seq}, publishes it to everyone; returns the queued count. */
    static int publishSeq(Publisher pub, long seq) {
        return pub.publish(claimSeq(pub, seq));
    }

    static Buffer claimSeq(Publisher pub, long seq) {
        Buffer b = pub.claim(SIZE);
        if (b == null) b = pub.claim(SIZE, LIMIT);
        if (b == null) throw new AssertionError("no fan-out slot came free within " + LIMIT + " at message " + seq + "; " + describe(pub));
        fill(b, seq);
        return b;
    }

    /** The publisher's subscribers for a failure message: how many, and the first few. */
    static String describe(Publisher pub) {
        List<Subscriber> l = pub.subscribers();
        return l.size() + " subscriber(s)" + (l.isEmpty() ? "" : ", e.g. " + l.subList(0, Math.min(4, l.size())));
    }

    /** The class of {@code seq} in the classifier test: 0..6, spread by a multiplication (not a plain seq % n). */
    static int classOf(long seq) {
        return (int) Math.floorMod(seq * 31 + (seq >>> 4), 7L);
    }

    /** The classes each subset consumer gets: disjoint, uneven, class 6 goes to nobody. */
    static final int[][] SUBSETS = {{0, 1}, {2, 3, 4}, {5}};

    // ---- consumer processes ----

    /** stdin as a queue of commands; "EXIT" when the parent goes away. */
    static BlockingQueue<String> commands() {
        BlockingQueue<String> q = new LinkedBlockingQueue<>();
        Thread t = new Thread(() -> {
            try (BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8))) {
                for (String l; (l = in.readLine()) != null; ) q.add(l.trim());
            } catch (IOException ignored) {
                // the parent went away
            }
            q.add("EXIT");
        }, "commands");
        t.setDaemon(true);
        t.start();
        return q;
    }

    static String uri(String transport, String name) {
        return transport.equals("xio") ? "xio://" + name : "xio+" + transport + "://" + name;
    }

    static void await(BlockingQueue<String> commands, String command) throws InterruptedException {
        while (true) {
            String c = commands.take();
            if (c.equals(command)) return;
            if (c.equals("EXIT")) System.exit(3);
        }
    }

    /**
     * Counts the DROPPED events pending on {@code c}: one per burst of drops at most (while one is unpolled, later drops
     * only add to messagesDropped()), each naming the running total.
     */
    static long droppedEvents(Connection c) {
        long n = 0;
        for (ConnectionEvent e; (e = c.pollEvent()) != null; ) {
            if (e.type() != ConnectionEvent.Type.DROPPED) continue;
            if (!e.reason().contains("so far")) throw new AssertionError("a DROPPED event without the running total: " + e);
            n++;
        }
        return n;
    }

    /**
     * Subscribes to {@code args[1]} over {@code args[0]} (shm, unix, xio) and reads messages 0..{@code args[2]}-1,
     * as {@code args[3]} says:
     * <ul>
     * <li>{@code victim:K}: in order (gaps allowed), prints "AT seq" at the first seq >= K and reads on until killed;</li>
     * <li>{@code stall:K}: stops reading after the first seq >= K ("STALLED got=n last=s"); on "RESUME" reads what
     *     is queued ("DRAINED got=n told=d") and then on up to a message >= {@code args[2]}, checking at each
     *     message that the gap since the previous one is exactly the drops it was told meanwhile; prints
     *     "END got=n told=d events=e last=s";</li>
     * <li>{@code subset:k}: exactly the messages of classes {@link #SUBSETS}[k], in order, until message
     *     {@code args[2]} (sent to everyone); prints "END got=n";</li>
     * <li>{@code paced:B}: every one, in order, printing "AT seq" after every B-th; prints "END got=n dropped=d kind=K".</li>
     * </ul>
     * Then waits for "EXIT", closes, prints "CLOSED" and exits 0. Any failure: "FAILED ..." and exit 1.
     */
    public static final class Consumer {
        public static void main(String[] args) throws Exception {
            BlockingQueue<String> commands = commands();
            long total = Long.parseLong(args[2]);
            String[] role = args[3].split(":");
            Connection c = Fable.subscribe(uri(args[0], args[1]), ConnectOptions.trusted().connectTimeout(LIMIT));
            System.out.println("SUBSCRIBED " + c.localName() + " " + c.transport());
            try {
                switch (role[0]) {
                    case "victim" -> victim(c, Long.parseLong(role[1]));
                    case "stall" -> stall(c, total, Long.parseLong(role[1]), commands);
                    case "subset" -> subset(c, total, SUBSETS[Integer.parseInt(role[1])]);
                    case "paced" -> paced(c, total, Long.parseLong(role[1]));
                    default -> throw new IllegalArgumentException(args[3]);
                }
            } catch (Throwable t) {
                System.out.println("FAILED " + t);
                t.printStackTrace();
                System.exit(1);
            }
            await(commands, "EXIT");
            c.close();
            System.out.println("CLOSED");
            System.exit(0);
        }

        static Buffer next(Connection c, long after) {
            Buffer b = c.receive(LIMIT);
            if (b == null) throw new AssertionError("nothing within " + LIMIT + " after message " + after);
            return b;
        }

        static void victim(Connection c, long at) {
            long last = -1;
            boolean said = false;
            while (true) {
                Buffer b = next(c, last);
                long seq = checked(b);
                b.release();
                if (seq <= last) throw new AssertionError("message " + seq + " after " + last);
                last = seq;
                if (!said && seq >= at) {
                    System.out.println("AT " + seq);
                    said = true;
                }
            }
        }

        /** What a consumer that may lose messages got so far; {@link #take} checks each gap against the drops told meanwhile. */
        static final class Told {
            long got, last = -1, told, events;

            long take(Connection c, Buffer b) {
                long seq = checked(b);
                b.release();
                long nowTold = c.messagesDropped();
                events += droppedEvents(c);
                if (seq <= last) throw new AssertionError("message " + seq + " after " + last);
                if (seq - last - 1 != nowTold - told) {
                    throw new AssertionError("message " + seq + " after " + last + ": a gap of " + (seq - last - 1) + ", but told of "
                            + (nowTold - told) + " drop(s) meanwhile");
                }
                got++;
                told = nowTold;
                last = seq;
                return seq;
            }
        }

        static void stall(Connection c, long total, long at, BlockingQueue<String> commands) throws InterruptedException {
            Told t = new Told();
            while (t.take(c, next(c, t.last)) < at) { }
            System.out.println("STALLED got=" + t.got + " last=" + t.last);
            await(commands, "RESUME");
            for (Buffer b; (b = c.poll()) != null; ) t.take(c, b);   // what was queued while it stalled
            System.out.println("DRAINED got=" + t.got + " told=" + c.messagesDropped());
            while (t.take(c, next(c, t.last)) < total) { }
            System.out.println("END got=" + t.got + " told=" + t.told + " events=" + t.events + " last=" + t.last);
        }

        static void subset(Connection c, long total, int[] classes) {
            Set<Integer> mine = java.util.Arrays.stream(classes).boxed().collect(Collectors.toSet());
            long expect = nextOf(-1, mine, total);
            long got = 0;
            while (true) {
                Buffer b = next(c, expect);
                long seq = checked(b);
                b.release();
                if (seq != expect) throw new AssertionError("got message " + seq + " (class " + classOf(seq) + "), expected " + expect + " (class "
                        + (expect < total ? classOf(expect) : "end") + ")");
                if (seq == total) break;
                got++;
                expect = nextOf(seq, mine, total);
            }
            if (c.messagesDropped() != 0) throw new AssertionError("told of " + c.messagesDropped() + " drops");
            System.out.println("END got=" + got);
        }

        /** The next message after {@code seq} of one of {@code mine}'s classes, else {@code total} (the end, sent to all). */
        static long nextOf(long seq, Set<Integer> mine, long total) {
            for (long s = seq + 1; s < total; s++) if (mine.contains(classOf(s))) return s;
            return total;
        }

        static void paced(Connection c, long total, long batch) {
            Buffer.Kind kind = null;
            for (long expect = 0; expect < total; expect++) {
                Buffer b = next(c, expect - 1);
                long seq = checked(b);
                if (kind == null) kind = b.kind();
                else if (kind != b.kind()) throw new AssertionError("message " + seq + " is a " + b.kind() + ", the first was a " + kind);
                b.release();
                if (seq != expect) throw new AssertionError("got message " + seq + ", expected " + expect);
                if ((seq + 1) % batch == 0) System.out.println("AT " + seq);
            }
            System.out.println("END got=" + total + " dropped=" + c.messagesDropped() + " kind=" + kind);
        }
    }

    // ---- helpers of the publishing side ----

    private PeerProcess consumer(String transport, String name, long total, String role) {
        PeerProcess p = PeerProcess.start(Consumer.class, List.of("-Dfable.shm.dir=" + shmDir), transport, name, Long.toString(total), role);
        children.add(p);
        return p;
    }

    /** Reads the child's "SUBSCRIBED name transport" line: its subscriber name. */
    private static String subscribed(PeerProcess p, String transport) throws InterruptedException {
        String[] f = p.awaitLine("SUBSCRIBED ", LIMIT).split(" ");
        assertEquals(transport, f[2], "the consumer's transport");
        return f[1];
    }

    private static Subscriber named(Publisher pub, String name) {
        return pub.subscribers().stream().filter(s -> s.name().equals(name)).findFirst()
                .orElseThrow(() -> new AssertionError("no subscriber named '" + name + "' among " + pub.subscribers()));
    }

    /** Reads the consumer's next progress line, which must say it has read message {@code seq} (and all before it). */
    private static void progress(PeerProcess p, long seq) throws InterruptedException {
        String l = p.expectLine("AT ", LIMIT);
        if (!l.equals("AT " + seq)) throw new AssertionError("consumer progress '" + l + "', expected 'AT " + seq + "'");
    }

    /** Field {@code key=value} of a line, as a number. */
    static long field(String line, String key) {
        Matcher m = Pattern.compile("\\b" + key + "=(-?\\d+)").matcher(line);
        if (!m.find()) throw new AssertionError("no " + key + "= in '" + line + "'");
        return Long.parseLong(m.group(1));
    }

    private static void exitAll(PeerProcess... ps) throws InterruptedException {
        for (PeerProcess p : ps) p.send("EXIT");
        for (PeerProcess p : ps) {
            p.awaitLine("CLOSED", LIMIT);
            assertEquals(0, p.waitFor(30), "consumer exit status; stderr:\n" + p.stderr());
        }
    }

    private static Set<String> fanoutMemfds() {
        long me = ProcessHandle.current().pid();
        return ProcFs.memfdDescriptors(me).stream().filter(f -> f.endsWith(".fanout")).collect(Collectors.toCollection(TreeSet::new));
    }

    /** The files of {@code pids} in the shared-memory directory this JVM uses, and any file in the children's private one. */
    private Set<String> shmFilesOf(long... pids) throws IOException {
        Set<String> out = new TreeSet<>();
        try (Stream<Path> s = Files.list(shmDir)) {
            s.forEach(p -> out.add(p.toString()));
        }
        Path dir = ShmFiles.defaultDirectory();
        if (Files.isDirectory(dir)) {
            try (Stream<Path> s = Files.list(dir)) {
                s.filter(p -> {
                    for (long pid : pids) if (p.getFileName().toString().startsWith(pid + "-")) return true;
                    return false;
                }).forEach(p -> out.add(p.toString()));
            }
        }
        return out;
    }

    /** No fan-out memfd of this publisher open or mapped any more, no endpoint socket, no shared-memory file of anyone involved. */
    private void assertNoLitter(String name, Set<String> pool, List<PeerProcess> consumers) throws IOException {
        long me = ProcessHandle.current().pid();
        Set<String> open = fanoutMemfds();
        open.retainAll(pool);
        assertEquals(Set.of(), open, "the fan-out memfd is still open in /proc/self/fd after close()");
        Set<String> mapped = new TreeSet<>(ProcFs.memfdMappings(me));
        mapped.retainAll(pool);
        assertEquals(Set.of(), mapped, "the fan-out pool is still mapped after close()");
        assertFalse(Files.exists(NamingConfig.endpointSocket(new Fable.Context().runtimeDir(), name)), "the publisher's endpoint socket is left");
        long[] pids = new long[consumers.size() + 1];
        pids[0] = me;
        for (int i = 0; i < consumers.size(); i++) pids[i + 1] = consumers.get(i).pid();
        assertEquals(Set.of(), shmFilesOf(pids), "files left in the shared-memory directories");
    }

    /** The fan-out memfd {@code publish} created: the one that was not open before. */
    private static Set<String> newFanoutMemfd(Set<String> before) {
        Set<String> now = fanoutMemfds();
        now.removeAll(before);
        assertEquals(1, now.size(), "one new fan-out memfd (/memfd:fable-<pid>-<n>.fanout) after publish(): " + now);
        return now;
    }

    // ---- tests ----

    /**
     * Four consumer JVMs, {@link #MESSAGES} messages each. One is killed with kill -9 mid-stream, one stops
     * reading; the two others get every message in order, uncorrupted, and the publisher never waits for the
     * stalled or the dead one. The stalled one's messages and the drops it is told of add up to what was
     * published while it was subscribed.
     *
     * <p>A subscriber more than its read quota behind loses messages, however healthy: the quota is all that
     * tells a slow subscriber from a stalled one, and on two cores a consumer JVM is often descheduled for
     * longer than the publisher needs to publish a quota's worth. So the publisher, which otherwise publishes
     * as fast as it can, is paced by the two healthy consumers alone: before batch k it waits for their
     * progress lines of batch k-2, so they are never more than two batches (1,024 messages) behind, under
     * their quota of 1,200. The pool: 4,096 slots; the stalled and the dead consumer hold at most 2,400 of them.
     */
    @Test
    void fourConsumerProcessesOneKilledOneStalledTheOthersGetEverything() throws Exception {
        String name = unique("fan4");
        long total = MESSAGES;
        long stallAt = total / 5, killAt = total * 3 / 10;
        Set<String> before = fanoutMemfds();
        long batch = 512;
        Publisher pub = Fable.register(name).publish(ConnectOptions.trusted().slotSize(SIZE).slotCount(4096).readQuota(1200));
        Set<String> pool = newFanoutMemfd(before);
        List<PeerProcess> all;
        long publishNanos;
        try (pub) {
            PeerProcess fastA = consumer("shm", name, total, "paced:" + batch);
            PeerProcess fastB = consumer("shm", name, total, "paced:" + batch);
            PeerProcess victim = consumer("shm", name, total, "victim:" + killAt);
            PeerProcess stalled = consumer("shm", name, total, "stall:" + stallAt);
            all = List.of(fastA, fastB, victim, stalled);
            String nameA = subscribed(fastA, "shm"), nameB = subscribed(fastB, "shm");
            String victimName = subscribed(victim, "shm"), stalledName = subscribed(stalled, "shm");
            assertTrue(pub.awaitSubscribers(4, LIMIT), "subscribers: " + pub.subscribers());
            Subscriber a = named(pub, nameA), b = named(pub, nameB), v = named(pub, victimName), s = named(pub, stalledName);
            for (Subscriber x : List.of(a, b, v, s)) assertEquals("shm", x.transport());

            CompletableFuture<String> killed = CompletableFuture.supplyAsync(() -> {
                try {
                    String at = victim.awaitLine("AT ", LIMIT);
                    victim.kill9();   // mid-stream: the publisher goes on meanwhile
                    return at;
                } catch (InterruptedException e) {
                    throw new IllegalStateException(e);
                }
            });

            long start = System.nanoTime();
            for (long seq = 0; seq < total; seq++) {
                if (seq % batch == 0 && seq >= 2 * batch) {   // the healthy ones have read every batch but the last two
                    progress(fastA, seq - batch - 1);
                    progress(fastB, seq - batch - 1);
                }
                publishSeq(pub, seq);
                if (seq == total * 7 / 10) {
                    // the stall and the kill happened while messages still flow (state, not time: their lines)
                    stalled.awaitLine("STALLED ", LIMIT);
                    killed.get(LIMIT.toSeconds(), TimeUnit.SECONDS);
                }
            }
            publishNanos = System.nanoTime() - start;
            for (PeerProcess p : List.of(fastA, fastB)) {
                String end = p.awaitLine("END ", LIMIT);
                assertEquals(total, field(end, "got"), end);
                assertEquals(0, field(end, "dropped"), end);
                assertTrue(end.endsWith("kind=SHM_SLOT"), end);
            }
            for (Subscriber x : List.of(a, b)) {
                assertEquals(total, x.delivered(), x.toString());
                assertEquals(0, x.dropped(), x.toString());
                assertTrue(x.active());
            }
            assertFalse(v.active(), "the killed consumer is still a subscriber: " + v);
            assertEquals(Set.of(nameA, nameB, stalledName), pub.subscribers().stream().map(Subscriber::name).collect(Collectors.toSet()));
            assertTrue(s.dropped() > 0, "the stalled consumer lost nothing: " + s);
            assertEquals(total, s.delivered() + s.dropped(), "every message was queued or dropped for the stalled consumer: " + s);
            assertEquals(v.dropped() + s.dropped(), pub.dropped(), "the publisher's drops are the victim's and the stalled one's");

            // the stalled one resumes: it reads what was queued, then one more message tells it what it lost
            stalled.send("RESUME");
            String drained = stalled.awaitLine("DRAINED ", LIMIT);
            // drained: what it got and what the publisher dropped for it are every message; it has not been told of the last drops yet
            assertEquals(total, field(drained, "got") + s.dropped(), drained + ", " + s);
            assertTrue(field(drained, "told") < s.dropped(), "told of drops before its next message: " + drained + ", " + s);
            assertEquals(1, pub.publish(claimSeq(pub, total), s), "the last message, to the stalled consumer only");
            String end = stalled.awaitLine("END ", LIMIT);
            long got = field(end, "got"), told = field(end, "told");
            assertEquals(total + 1, got + told, "received + told drops = published while subscribed: " + end);
            assertEquals(s.dropped(), told, "told exactly what the publisher counted: " + end + ", " + s);
            assertEquals(told > 0, field(end, "events") > 0, "DROPPED events came exactly when drops were told: " + end);
            assertTrue(field(end, "events") <= told, "at most one DROPPED event per drop: " + end);
            assertEquals(total + 1 - told, s.delivered(), s.toString());

            exitAll(fastA, fastB, stalled);
            String killLine = killed.get();
            System.out.printf("fan-out to 4 consumer JVMs: %,d messages of %d B in %d ms (%,.0f msg/s per consumer); victim killed after %s, "
                            + "stalled at %s: %,d dropped for it, %,d for the victim%n", total, SIZE, TimeUnit.NANOSECONDS.toMillis(publishNanos),
                    total * 1e9 / publishNanos, killLine, drained, s.dropped(), v.dropped());
        }
        assertNoLitter(name, pool, all);
    }

    /** A classifier sends disjoint subsets across three consumer JVMs (one by {@code xio://}): each gets exactly its own, in order. */
    @Test
    void aClassifierSendsEachConsumerProcessExactlyItsSubsetInOrder() throws Exception {
        String name = unique("fancls");
        long total = 300_000;
        Set<String> before = fanoutMemfds();
        // a quota of the whole pool: the publisher waits for a slow consumer rather than drop its messages
        Publisher pub = Fable.register(name).publish(ConnectOptions.trusted().slotSize(SIZE).slotCount(256).readQuota(256));
        Set<String> pool = newFanoutMemfd(before);
        List<PeerProcess> all = new ArrayList<>();
        try (pub) {
            String[] transports = {"shm", "xio", "shm"};
            for (int k = 0; k < 3; k++) all.add(consumer(transports[k], name, total, "subset:" + k));
            Map<Subscriber, Integer> index = new HashMap<>();
            List<String> names = new ArrayList<>();
            for (PeerProcess p : all) names.add(subscribed(p, "shm"));   // xio://: the daemon chooses shm on one host
            assertTrue(pub.awaitSubscribers(3, LIMIT));
            for (int k = 0; k < 3; k++) index.put(named(pub, names.get(k)), k);
            int[] classToConsumer = new int[7];
            java.util.Arrays.fill(classToConsumer, -1);
            for (int k = 0; k < 3; k++) for (int cl : SUBSETS[k]) classToConsumer[cl] = k;

            long[] sent = new long[3];
            long nobody = 0;
            Publisher.Classifier cls = (sub, msg) -> {
                Integer k = index.get(sub);
                return k != null && classToConsumer[classOf(msg.getLong(0))] == k;
            };
            long start = System.nanoTime();
            for (long seq = 0; seq < total; seq++) {
                int k = classToConsumer[classOf(seq)];
                int queued = pub.publish(claimSeq(pub, seq), cls);
                if (queued != (k < 0 ? 0 : 1)) {
                    fail("message " + seq + " of class " + classOf(seq) + " was queued for " + queued + " subscriber(s): " + pub.subscribers()
                            + "; the consumers' stderr:\n" + all.stream().map(PeerProcess::stderr).collect(Collectors.joining("\n")));
                }
                if (k < 0) nobody++;
                else sent[k]++;
            }
            assertEquals(3, pub.publish(claimSeq(pub, total), List.copyOf(pub.subscribers())), "the end, to the set of all three");
            long nanos = System.nanoTime() - start;
            for (int k = 0; k < 3; k++) {
                String end = all.get(k).awaitLine("END ", LIMIT);
                assertEquals(sent[k], field(end, "got"), "consumer " + k + ": " + end);
                assertTrue(sent[k] > total / 10, "consumer " + k + " got a real share: " + sent[k]);
            }
            for (Subscriber s : pub.subscribers()) {
                assertEquals(sent[index.get(s)] + 1, s.delivered(), s.toString());
                assertEquals(0, s.dropped(), s.toString());
            }
            assertTrue(nobody > 0, "some messages went to nobody");
            assertEquals(0, pub.dropped());
            exitAll(all.toArray(PeerProcess[]::new));
            System.out.printf("classifier across 3 consumer JVMs: %,d messages in %d ms; subsets %s, %,d to nobody%n", total,
                    TimeUnit.NANOSECONDS.toMillis(nanos), java.util.Arrays.toString(sent), nobody);
        }
        assertNoLitter(name, pool, all);
    }

    /**
     * Subscribes {@code args[1]} subscriptions (threads) to publisher {@code args[0]}, each {@code args[2]}
     * times in a row: subscribe, read a random number of messages (checking every byte, the order, and that
     * every gap is exactly the drops it was told of meanwhile), then leave; every other time it leaves
     * holding {@link #HELD} unreleased buffers. Prints "DONE joins=n messages=m told=d". With {@code args[3]} "hold",
     * the last round's subscriptions stay open, holding {@link #HELD} buffers each ("HOLDING" before "DONE"), to be killed.
     */
    public static final class Churner {
        static final int HELD = 8;

        public static void main(String[] args) throws Exception {
            BlockingQueue<String> commands = commands();
            String name = args[0];
            int subs = Integer.parseInt(args[1]), rounds = Integer.parseInt(args[2]);
            boolean hold = args.length > 3 && args[3].equals("hold");
            java.util.concurrent.atomic.AtomicLong joins = new java.util.concurrent.atomic.AtomicLong(), messages = new java.util.concurrent.atomic.AtomicLong(),
                    told = new java.util.concurrent.atomic.AtomicLong();
            java.util.concurrent.CountDownLatch holding = new java.util.concurrent.CountDownLatch(hold ? subs : 0);
            List<Thread> threads = new ArrayList<>();
            List<Throwable> failures = java.util.Collections.synchronizedList(new ArrayList<>());
            for (int t = 0; t < subs; t++) {
                long seed = ProcessHandle.current().pid() * 31 + t;
                threads.add(Thread.ofPlatform().name("sub-" + t).start(() -> {
                    Random r = new Random(seed);
                    try {
                        for (int round = 0; round < rounds; round++) {
                            Connection c = Fable.subscribe("xio+shm://" + name, ConnectOptions.trusted().connectTimeout(LIMIT));
                            joins.incrementAndGet();
                            int n = 100 + r.nextInt(4_000);
                            long last = -1, toldBefore = 0;
                            for (int i = 0; i < n; i++) {
                                Buffer b = Consumer.next(c, last);
                                long seq = checked(b);
                                b.release();
                                long nowTold = c.messagesDropped();
                                if (seq <= last) throw new AssertionError("message " + seq + " after " + last);
                                if (last >= 0 && seq - last - 1 != nowTold - toldBefore) {
                                    throw new AssertionError("message " + seq + " after " + last + ": a gap of " + (seq - last - 1) + ", told of "
                                            + (nowTold - toldBefore) + " drop(s)");
                                }
                                last = seq;
                                toldBefore = nowTold;
                            }
                            messages.addAndGet(n);
                            told.addAndGet(c.messagesDropped());
                            boolean dies = hold && round == rounds - 1;
                            if (dies || round % 2 == 1) {   // leave (or die) holding unreleased buffers
                                for (int i = 0; i < HELD; i++) checked(Consumer.next(c, -1));
                            }
                            if (dies) {
                                holding.countDown();
                                break;
                            }
                            c.close();
                        }
                    } catch (Throwable e) {
                        failures.add(e);
                        holding.countDown();
                    }
                }));
            }
            holding.await();
            if (hold && failures.isEmpty()) System.out.println("HOLDING");
            if (!hold) for (Thread t : threads) t.join();
            if (!failures.isEmpty()) {
                System.out.println("FAILED " + failures);
                failures.get(0).printStackTrace();
                System.exit(1);
            }
            System.out.println("DONE joins=" + joins + " messages=" + messages + " told=" + told);
            await(commands, "EXIT");
            System.out.println("CLOSED");
            System.exit(0);
        }
    }

    /**
     * Twenty subscriptions from four consumer JVMs (five each) join and leave, five times each, while the
     * publisher runs at full speed; half of the leaves hold unreleased buffers, and one JVM's last five
     * subscriptions end by kill -9 while holding buffers. At the end no subscriber is left and every slot
     * of the pool is free: all of them can be claimed at once.
     */
    @Test
    void twentySubscriptionsJoinAndLeaveUnderLoadAndEverySlotComesBack() throws Exception {
        String name = unique("fanchurn");
        int jvms = 4, perJvm = 5, rounds = 5, slots = 256;
        Set<String> before = fanoutMemfds();
        // a quota of 32: the five subscriptions that stop reading before they are killed hold at most 160 of the 256 slots
        Publisher pub = Fable.register(name).publish(ConnectOptions.trusted().slotSize(SIZE).slotCount(slots).readQuota(32));
        Set<String> pool = newFanoutMemfd(before);
        List<PeerProcess> all = new ArrayList<>();
        try (pub) {
            for (int j = 0; j < jvms; j++) {
                List<String> args = new ArrayList<>(List.of(name, Integer.toString(perJvm), Integer.toString(rounds)));
                if (j == jvms - 1) args.add("hold");
                PeerProcess p = PeerProcess.start(Churner.class, List.of("-Dfable.shm.dir=" + shmDir), args.toArray(String[]::new));
                children.add(p);
                all.add(p);
            }
            PeerProcess killed = all.get(jvms - 1);
            AtomicBoolean done = new AtomicBoolean();
            CompletableFuture<List<String>> reports = CompletableFuture.supplyAsync(() -> {
                try {
                    List<String> out = new ArrayList<>();
                    killed.awaitLine("HOLDING", Duration.ofSeconds(90));
                    killed.kill9();   // five subscriptions die holding Churner.HELD buffers each, under load
                    for (PeerProcess p : all.subList(0, jvms - 1)) out.add(p.awaitLine("DONE ", Duration.ofSeconds(90)));
                    return out;
                } catch (InterruptedException e) {
                    throw new IllegalStateException(e);
                } finally {
                    done.set(true);
                }
            });
            long seq = 0, maxSubscribers = 0;
            long start = System.nanoTime();
            while (!done.get()) {
                publishSeq(pub, seq++);
                if ((seq & 1023) == 0) maxSubscribers = Math.max(maxSubscribers, pub.subscribers().size());
            }
            long nanos = System.nanoTime() - start;
            List<String> done3 = reports.get();
            long joins = 0, messages = 0, told = 0;
            for (String d : done3) {
                joins += field(d, "joins");
                messages += field(d, "messages");
                told += field(d, "told");
            }
            assertEquals((long) (jvms - 1) * perJvm * rounds, joins, done3.toString());
            exitAll(all.subList(0, jvms - 1).toArray(PeerProcess[]::new));

            // the publisher sees them go at its next publish (it owns the member list): publish until none is left
            long[] next = {seq};
            Await.until(() -> {
                publishSeq(pub, next[0]++);
                return pub.subscribers().isEmpty();
            }, LIMIT, () -> "left: " + describe(pub));
            LocalPublisher lp = (LocalPublisher) pub;
            List<Buffer> claimed = new ArrayList<>();
            for (int i = 0; i < slots; i++) {
                Buffer b = pub.claim(SIZE);
                assertNotNull(b, "slot " + i + " of " + slots + " is still held (" + lp.slotsHeld() + " held)");
                claimed.add(b);
            }
            assertNull(pub.claim(SIZE), "more slots than the pool has");
            assertEquals(slots, lp.slotsHeld());
            for (Buffer b : claimed) assertEquals(0, pub.publish(b, (s, m) -> false));
            assertEquals(0, lp.slotsHeld(), "every slot is free again");
            System.out.printf("join/leave: %d JVMs x %d subscriptions x %d rounds (%d joins), %,d messages published in %d ms, "
                            + "up to %d subscribers at once; %,d read and %,d told dropped by the subscribers that closed; %,d dropped in all%n",
                    jvms, perJvm, rounds, jvms * perJvm * rounds, seq, TimeUnit.NANOSECONDS.toMillis(nanos), maxSubscribers, messages, told,
                    pub.dropped());
        }
        assertNoLitter(name, pool, all);
    }

    /**
     * A subscriber over a Unix socket in one JVM beside one over shared memory in another: both get every
     * message, in order; the Unix one gets copies ({@link Buffer.Kind} not SHM_SLOT), the shm one reads the
     * pool in place. Paced by the consumers' progress lines: a socket subscriber's queue is its leg's two
     * staging slots and its socket buffer, which a burst overruns (that case is the next test).
     */
    @Test
    void aUnixSubscriberGetsCopiesBesideAnShmSubscriberAndBothGetEverything() throws Exception {
        String name = unique("fanunix");
        long total = 100_000, batch = 100;
        Set<String> before = fanoutMemfds();
        Publisher pub = Fable.register(name).publish(ConnectOptions.trusted().slotSize(SIZE).slotCount(256).readQuota(256));
        Set<String> pool = newFanoutMemfd(before);
        List<PeerProcess> all;
        try (pub) {
            PeerProcess unix = consumer("unix", name, total, "paced:" + batch);
            PeerProcess shm = consumer("shm", name, total, "paced:" + batch);
            all = List.of(unix, shm);
            String unixName = subscribed(unix, "unix"), shmName = subscribed(shm, "shm");
            assertTrue(pub.awaitSubscribers(2, LIMIT));
            Subscriber u = named(pub, unixName), s = named(pub, shmName);
            assertEquals("unix", u.transport());
            assertEquals("shm", s.transport());
            long start = System.nanoTime();
            for (long seq = 0; seq < total; seq++) {
                int queued = publishSeq(pub, seq);
                if (queued != 2) {
                    fail("message " + seq + " was queued for " + queued + " of 2: " + pub.subscribers() + "; unix consumer's stderr:\n"
                            + unix.stderr() + "shm consumer's stderr:\n" + shm.stderr());
                }
                if ((seq + 1) % batch == 0) {
                    unix.awaitLine("AT " + seq, LIMIT);
                    shm.awaitLine("AT " + seq, LIMIT);
                }
            }
            long nanos = System.nanoTime() - start;
            String ue = unix.awaitLine("END ", LIMIT), se = shm.awaitLine("END ", LIMIT);
            assertEquals(total, field(ue, "got"), ue);
            assertEquals(total, field(se, "got"), se);
            assertFalse(ue.endsWith("kind=SHM_SLOT"), "the unix subscriber reads copies: " + ue);
            assertTrue(se.endsWith("kind=SHM_SLOT"), "the shm subscriber reads the pool in place: " + se);
            for (Subscriber x : List.of(u, s)) {
                assertEquals(total, x.delivered(), x.toString());
                assertEquals(0, x.dropped(), x.toString());
            }
            exitAll(unix, shm);
            System.out.printf("unix beside shm: %,d messages in %d ms (paced by batches of %d); unix reads %s%n", total,
                    TimeUnit.NANOSECONDS.toMillis(nanos), batch, ue.substring(ue.indexOf("kind=") + 5));
        }
        assertNoLitter(name, pool, all);
    }

    /**
     * A Unix-socket subscriber that stops reading mid-stream, beside an shm one that reads everything: the
     * publisher goes on (the shm one gets every message), the socket one loses what did not fit in its socket and
     * staging slots, and is told exactly that before its next message: what it got plus what it was told it lost
     * is every message published while it was subscribed, and both are the publisher's counts.
     */
    @Test
    void aStalledUnixSubscriberLosesMessagesAndIsToldExactlyHowMany() throws Exception {
        String name = unique("fanunixstall");
        long total = 200_000;
        Set<String> before = fanoutMemfds();
        Publisher pub = Fable.register(name).publish(ConnectOptions.trusted().slotSize(SIZE).slotCount(256).readQuota(256));
        Set<String> pool = newFanoutMemfd(before);
        List<PeerProcess> all;
        try (pub) {
            PeerProcess unix = consumer("unix", name, total, "stall:" + total / 5);
            PeerProcess shm = consumer("shm", name, total, "paced:" + total);
            all = List.of(unix, shm);
            String unixName = subscribed(unix, "unix"), shmName = subscribed(shm, "shm");
            assertTrue(pub.awaitSubscribers(2, LIMIT));
            Subscriber u = named(pub, unixName), s = named(pub, shmName);
            long start = System.nanoTime();
            for (long seq = 0; seq < total; seq++) {
                publishSeq(pub, seq);
                if (seq == total * 7 / 10) unix.awaitLine("STALLED ", LIMIT);   // it stalls while messages still flow
            }
            long nanos = System.nanoTime() - start;
            String se = shm.awaitLine("END ", LIMIT);
            assertEquals(total, field(se, "got"), se);
            assertEquals(0, s.dropped(), s.toString());
            assertTrue(u.dropped() > 0, "the stalled socket subscriber lost nothing: " + u);
            assertEquals(total, u.delivered() + u.dropped(), u.toString());

            unix.send("RESUME");
            unix.awaitLine("DRAINED ", LIMIT);
            // the next message tells it what it lost; while its socket still drains it may be dropped too: then the next
            long seq = total;
            long deadline = System.nanoTime() + LIMIT.toNanos();
            while (pub.publish(claimSeq(pub, seq), u) == 0) {
                assertTrue(System.nanoTime() < deadline, "the resumed socket subscriber never took a message again: " + u);
                seq++;
            }
            String ue = unix.awaitLine("END ", LIMIT);
            long got = field(ue, "got"), told = field(ue, "told");
            assertEquals(seq, field(ue, "last"), ue);
            assertEquals(seq + 1, got + told, "received + told drops = every message published to it: " + ue);
            assertEquals(u.dropped(), told, "told exactly what the publisher counted: " + ue + ", " + u);
            assertEquals(u.delivered(), got, ue + ", " + u);
            assertEquals(told > 0, field(ue, "events") > 0, "DROPPED events came exactly when drops were told: " + ue);
            assertTrue(field(ue, "events") <= told, "at most one DROPPED event per drop: " + ue);
            exitAll(unix, shm);
            System.out.printf("stalled unix beside shm: %,d messages in %d ms; the unix subscriber got %,d and was told of %,d drops%n",
                    total, TimeUnit.NANOSECONDS.toMillis(nanos), got, told);
        }
        assertNoLitter(name, pool, all);
    }
}
