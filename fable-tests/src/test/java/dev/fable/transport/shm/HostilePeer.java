package dev.fable.transport.shm;

import dev.fable.ConnectOptions;
import dev.fable.Connection;
import dev.fable.ConnectionState;
import dev.fable.Endpoint;
import dev.fable.Fable;
import dev.fable.FableException;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Queue;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.BooleanSupplier;
import java.util.function.Consumer;

import static dev.fable.testing.Names.unique;

/**
 * The hostile process of {@link HostilePeerFuzzTest}: a second JVM that connects through the normal
 * API, then reaches into its own {@link ShmConnection} (reflection, test code only) for the mapped
 * rings and writes garbage into them, as a buggy or malicious peer would.
 *
 * <ul>
 *   <li>{@code producer}: connects to the victim's endpoints and is the producer of the direction the
 *       victim reads: it writes log records itself (stale or forged tags, unknown kinds, lengths past
 *       the log's end, slot pointers past the pool or naming a held slot, REFs without their HOLE, ...)
 *       instead of using claim/commit ({@link HostileProducer}).</li>
 *   <li>{@code consumer}: accepts the victim's connections and is the consumer of the direction the
 *       victim writes: it moves READ itself (behind, beyond the writer's position, off the 16-byte grid,
 *       mid-record, random) and scribbles the words beside it ({@link HostileConsumer}).</li>
 *   <li>{@code morechain}, {@code readonly}: small scripted peers (MORE chains; writes through read buffers).</li>
 * </ul>
 *
 * Every connection starts with a <em>plan</em> message (64 bytes) that tells the victim exactly what
 * is coming: how many benign random cases, then which fatal value at which position (or a clean
 * close). The victim checks its outcome against the plan, so a validator that is too strict shows up
 * as well as one that is too lax. One connection in ten is <em>chaos</em> instead: random values at
 * random times and places, racing the victim (torn records, rewrites under its feet), where the
 * victim can only check that it stays in bounds and fails cleanly. Randomness comes from
 * {@code seed} mixed with the connection index, so a failing connection's garbage can be
 * regenerated from the two numbers in the failure message (timing aside).
 *
 * <p>Talks to the test by lines: prints {@code READY ...} and {@code DONE ...}, {@code ERROR ...} for
 * anything it saw go wrong; reads {@code STOP} (open no new connections) and {@code EXIT} on stdin.
 *
 * <p>This class is the entry point, the plan protocol both sides share and the process plumbing;
 * {@link HostileProducer} and {@link HostileConsumer} are the two kinds of hostile cases,
 * {@link HostileScripts} the scripted peers and {@link HostileAccess} the reach into the mapped rings.
 */
public final class HostilePeer {
    private HostilePeer() {}

    // ---- the plan message: the first message of every connection, 64 bytes ----
    static final long PLAN_MAGIC = 0x4E414C5054534F48L;   // "HOSTPLAN" little-endian
    static final int PLAN_BYTES = 64;
    static final int PLAN_INDEX = 8;
    static final int PLAN_SEED = 16;
    static final int PLAN_FATAL = 24;     // producer: position of the fatal record; consumer: messagesSent at the failing claim; -1: none; CHAOS
    static final int PLAN_CLEAN = 32;     // -1, or (clean close) producer: messages published; consumer: messagesSent in the end
    static final int PLAN_EXPECT = 40;    // EXPECT_*
    static final int PLAN_KIND = 48;      // (benign cases << 32) | index into HostileProducer.KINDS / HostileConsumer's kinds (-1: clean close)
    static final int PLAN_GEOMETRY = 56;  // (slotSize << 32) | slotCount of the direction under attack

    /**
     * PLAN_FATAL of a chaos connection: after the plan the peer writes random values at random times and
     * places, racing with the victim (torn records, rewrites under its feet), until the victim fails.
     * No exact oracle: the victim only checks that whatever it is handed is in bounds and that it fails
     * with a CorruptChannelException in the end.
     */
    static final long CHAOS = -2;

    // what the victim must report (a word its CorruptChannelException message must contain): the producer's
    // reasons are HostileProducer.WORDS; the consumer's one reason is READ's
    static final int EXPECT_NONE = 0;
    static final int EXPECT_READ_REGISTER = 4;

    static String expectedWords(int expect) {
        return expect == EXPECT_READ_REGISTER ? "moved its READ register" : "(no failure expected)";
    }

    static long mix(long seed, long index) {
        long z = seed + (index + 1) * 0x9E3779B97F4A7C15L;
        z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
        z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
        return z ^ (z >>> 31);
    }

    // ---- process plumbing ----

    static final CountDownLatch STOP = new CountDownLatch(1);
    static final CountDownLatch EXIT = new CountDownLatch(1);
    static final AtomicLong ERRORS = new AtomicLong();
    static final BlockingQueue<String> COMMANDS = new LinkedBlockingQueue<>();

    static synchronized void say(String line) {
        System.out.println(line);
        System.out.flush();
    }

    static void error(String what) {
        if (ERRORS.incrementAndGet() <= 20) say("ERROR " + what.replace('\n', ' '));
    }

    static void readCommands() {
        Thread t = new Thread(() -> {
            try (BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8))) {
                String l;
                while ((l = in.readLine()) != null) {
                    if (l.equals("STOP")) STOP.countDown();
                    if (l.equals("EXIT")) break;
                    COMMANDS.add(l);
                }
            } catch (Exception ignored) {
                // parent gone: exit below
            }
            STOP.countDown();
            EXIT.countDown();
        }, "hostile-commands");
        t.setDaemon(true);
        t.start();
    }

    /** A healthy connection the victim keeps using while others fail: echoes every message back. */
    static String startEcho() {
        String name = unique("echo");
        Endpoint ep = Fable.register(name).listen(ConnectOptions.untrusted().slotSize(4096).slotCount(8));
        Thread t = new Thread(() -> {
            try (Connection c = ep.accept()) {
                while (true) {
                    byte[] m = c.receiveMessage(Duration.ofMillis(500));
                    if (m != null) c.send(m);
                }
            } catch (FableException e) {
                // the victim closed it
            } finally {
                ep.close();
            }
        }, "hostile-echo");
        t.setDaemon(true);
        t.start();
        return name;
    }

    public static void main(String[] args) throws Exception {
        readCommands();
        switch (args[0]) {
            case "producer" -> HostileProducer.run(args[1], args[2], Long.parseLong(args[3]), Integer.parseInt(args[4]));
            case "consumer" -> HostileConsumer.run(Long.parseLong(args[1]));
            case "morechain" -> HostileScripts.moreChain(args[1]);
            case "readonly" -> HostileScripts.readOnly(args[1], args[2]);
            default -> throw new IllegalArgumentException(args[0]);
        }
        System.exit(0);
    }

    /** One hostile connection, advanced by {@link #runCases} together with all the others. */
    abstract static class Case {
        final Connection c;
        /** When the case last made progress (or wrote its fatal value): its 20 s limits count from here. */
        long since = System.nanoTime();

        Case(Connection c) {
            this.c = c;
        }

        /** Advances; true once finished (the connection is closed). */
        abstract boolean step(long now);

        /** Closes the connection; true (finished). */
        boolean finish() {
            c.close();
            return true;
        }

        /**
         * For a case that waits for the victim to end the connection (after the fatal value, or in chaos):
         * true (finished) once it has; also once 20 s passed since {@link #since}, reported as {@code overdue}.
         */
        boolean victimEndedOrOverdue(long now, String overdue) {
            if (c.state() != ConnectionState.OPEN) return finish();
            if (now - since > TimeUnit.SECONDS.toNanos(20)) {
                error(this + ": " + overdue);
                return finish();
            }
            return false;
        }
    }

    /** Runs cases round-robin on this thread until {@code more} says no and all have finished. */
    static void runCases(Queue<Case> fresh, BooleanSupplier more, Consumer<Case> finished) {
        List<Case> active = new ArrayList<>();
        while (true) {
            Case n;
            while ((n = fresh.poll()) != null) active.add(n);
            if (active.isEmpty()) {
                if (!more.getAsBoolean()) return;
                Thread.onSpinWait();
                Thread.yield();
                continue;
            }
            long now = System.nanoTime();
            for (Iterator<Case> it = active.iterator(); it.hasNext(); ) {
                Case c = it.next();
                boolean done;
                try {
                    done = c.step(now);
                } catch (RuntimeException | Error e) {
                    error("hostile case " + c + " threw " + e);
                    done = true;
                }
                if (done) {
                    it.remove();
                    finished.accept(c);
                }
            }
        }
    }

    static String nextCommand() throws InterruptedException {
        String l = COMMANDS.poll(60, TimeUnit.SECONDS);
        if (l == null) throw new IllegalStateException("no command within 60 s");
        return l;
    }
}
