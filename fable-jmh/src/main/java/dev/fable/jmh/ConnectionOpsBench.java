package dev.fable.jmh;

import dev.fable.Buffer;
import dev.fable.ConnectOptions;
import dev.fable.Connection;
import dev.fable.Endpoint;
import dev.fable.Fable;
import dev.fable.naming.NamingConfig;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OperationsPerInvocation;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

/**
 * The public non-blocking core of a shared-memory {@link Connection}, on one thread: both ends of a
 * real {@code xio+shm} connection live in this JVM (the memory is still mapped from {@code /dev/shm}
 * and a name daemon is used to connect, see {@link #ownDaemon()}), and the benchmark thread is both the sender and the
 * receiver, so no cache line ever moves between cores. What is left is the software cost of the API:
 * state checks, slot bookkeeping, the ring stamps, the wake check, and (untrusted) the private copy.
 *
 * <ul>
 *   <li>{@code roundTrip}: claim, write one long, commit; poll on the accepting side, read the long,
 *       release. One figure per message, both halves.</li>
 *   <li>{@code claimCommit}: only claim + write + commit, {@value #BATCH} per invocation; the ring
 *       is drained after each invocation outside the measurement ({@code Level.Invocation}).</li>
 *   <li>{@code pollRelease}: only poll + read + release, {@value #BATCH} per invocation, from a ring
 *       filled before each invocation outside the measurement.</li>
 * </ul>
 *
 * <p>{@code size} is the committed length; only one long of it is written and read, so the size
 * matters only where Fable itself touches the payload: the private copy of an untrusted reader.
 * {@code trusted} is the reading side's option (zero-copy slot view vs. private copy).
 *
 * <p>Reading the figures: ns per message (per operation); ops/s is 1e9 divided by it (or run with
 * {@code -bm thrpt}). {@code claimCommit + pollRelease} should come close to {@code roundTrip}; the
 * split batches use {@code Level.Invocation} helpers, whose timestamps add about 1 ns per message.
 * A real peer in another process adds the cache-line transfers this benchmark leaves out.
 */
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = {"--enable-native-access=ALL-UNNAMED", "--sun-misc-unsafe-memory-access=allow"})
public class ConnectionOpsBench {
    /** Messages per invocation of the split benchmarks: half the pool, so the ring never fills. */
    static final int BATCH = 64;
    static final int SLOTS = 128;

    /** One connection: the connecting side sends, the accepting side receives. */
    @State(Scope.Thread)
    public static class Channel {
        @Param({"true", "false"})
        public boolean trusted;

        @Param({"64", "4096"})
        public int size;

        Endpoint endpoint;
        Connection receiver;   // the accepting side
        Connection sender;     // the connecting side
        long sequence;

        @Setup(Level.Trial)
        public void open() throws Exception {
            ownDaemon();
            String name = "jmh-ops-" + ProcessHandle.current().pid() + "-" + System.nanoTime();
            endpoint = Fable.register(name).listen(ConnectOptions.trusted().trust(trusted));
            CompletableFuture<Connection> accepted = CompletableFuture.supplyAsync(endpoint::accept);
            sender = Fable.connect("xio+shm://" + name, ConnectOptions.trusted().slotSize(size).slotCount(SLOTS));
            receiver = accepted.get(10, TimeUnit.SECONDS);
            if (!"shm".equals(sender.transport())) throw new IllegalStateException("not shm: " + sender.transport());
        }

        @TearDown(Level.Trial)
        public void close() {
            if (sender != null) sender.close();
            if (receiver != null) receiver.close();
            if (endpoint != null) endpoint.close();
        }

        void send(long value) {
            Buffer b = sender.claim(size);
            b.putLong(0, value);
            b.commit();
        }

        long receive() {
            Buffer r = receiver.poll();
            long v = r.getLong(0);
            r.release();
            return v;
        }

        /** Blocking receive for the helpers: a commit in this thread is visible at once, but be safe. */
        void drain(int n) {
            for (int i = 0; i < n; i++) {
                Buffer r = receiver.receive(Duration.ofSeconds(5));
                if (r == null) throw new IllegalStateException("message " + i + " of " + n + " did not arrive");
                r.release();
            }
        }
    }

    /**
     * Unless told otherwise ({@code -Dfable.runtime.dir} or {@code FABLE_RUNTIME_DIR}), the benchmark
     * forks use a name daemon of their own, in {@code /tmp/fable-jmh-<user>}, so that they neither
     * depend on nor load the host's daemon (which may run another checkout's build). It exits 10 s
     * after the last fork, so consecutive forks share it.
     */
    static void ownDaemon() {
        if (NamingConfig.get("fable.runtime.dir") == null) {
            System.setProperty("fable.runtime.dir", "/tmp/fable-jmh-" + System.getProperty("user.name"));
            if (NamingConfig.get("fable.daemon.idleExitSeconds") == null) {
                System.setProperty("fable.daemon.idleExitSeconds", "10");
            }
        }
    }

    /** For claimCommit: a channel whose ring is emptied after every invocation. */
    @State(Scope.Thread)
    public static class Drained extends Channel {
        @TearDown(Level.Invocation)
        public void drainBatch() {
            drain(BATCH);
        }
    }

    /** For pollRelease: a channel whose ring is filled before every invocation. */
    @State(Scope.Thread)
    public static class Filled extends Channel {
        @Setup(Level.Invocation)
        public void fillBatch() {
            for (int i = 0; i < BATCH; i++) send(i);
        }
    }

    @Benchmark
    public long roundTrip(Channel c) {
        c.send(++c.sequence);
        return c.receive();
    }

    @Benchmark
    @OperationsPerInvocation(BATCH)
    public void claimCommit(Drained c) {
        for (int i = 0; i < BATCH; i++) c.send(i);
    }

    @Benchmark
    @OperationsPerInvocation(BATCH)
    public long pollRelease(Filled c) {
        long sum = 0;
        for (int i = 0; i < BATCH; i++) sum += c.receive();
        return sum;
    }
}
