package dev.fable.jmh;

import dev.fable.WaitMode;
import dev.fable.sync.Futex;
import dev.fable.sync.Tripwire;
import dev.fable.sync.Waiter;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Group;
import org.openjdk.jmh.annotations.GroupThreads;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;
import org.openjdk.jmh.infra.Control;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.invoke.VarHandle;
import java.util.concurrent.TimeUnit;

import static java.lang.foreign.ValueLayout.JAVA_LONG;

/**
 * The wait primitives of {@code dev.fable.sync}, which every commit, release and blocking receive
 * goes through. Words live in an {@link Arena}-allocated segment, on cache lines of their own.
 *
 * <p>One thread (what a signaller or a waiter pays when there is nothing to wait for):
 * <ul>
 *   <li>{@code signalNobodyParked}: {@link Tripwire#signal()} when the peer's parked word is 0, the
 *       check every commit and release makes: a compiler barrier and one load.</li>
 *   <li>{@code signalParked}: the parked word holds a generation (set with
 *       {@link Tripwire#armWithoutFence()} in the same op) but nobody sleeps: the CAS and the
 *       {@code futex_wake} system call a signaller pays when the peer has advertised sleep.</li>
 *   <li>{@code futexWakeNobody}: {@link Futex#wake} alone, the raw system call.</li>
 *   <li>{@code armDisarm}: the waiter's advertisement, {@link Tripwire#arm()} (with the heavy fence,
 *       {@code membarrier}) then {@link Tripwire#disarm()}: the price of deciding to sleep.</li>
 *   <li>{@code spinConditionMet}, {@code awaitConditionMet}: {@link Waiter#spin} and
 *       {@link Waiter#await} when the condition already holds (the fast path of a busy receive).</li>
 * </ul>
 *
 * <p>Two threads ({@code pingPong} group, {@code @Param mode}): a sequence word is handed back and
 * forth; each side advances it, signals the other's tripwire and waits with {@link Waiter#await}
 * for its turn. The {@code ping} figure is one full round trip (two hand-overs, two wake checks,
 * two waits); {@code pong} is the same round trip seen from the other side. SPIN never parks;
 * ADAPTIVE spins up to 20 µs first, so it parks only when a thread is descheduled; BLOCK parks on
 * every wait (arm + membarrier + futex wait, woken by a CAS + futex wake). The trial's futex
 * sleeps and wakes per round trip are printed at the end of each trial: BLOCK shows more wakes
 * than sleeps, because a waiter whose re-check after arming already sees its turn does not sleep,
 * yet the signaller saw its word armed and paid the wake. Needs two free CPUs: when other work
 * competes for them, SPIN spins through whole time slices against a descheduled partner
 * (milliseconds per round trip) and ADAPTIVE starts to park; such a run measures the machine.
 */
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = {"--enable-native-access=ALL-UNNAMED", "--sun-misc-unsafe-memory-access=allow"})
public class WaitBench {
    /** Spin budget of ADAPTIVE, as in {@code ConnectOptions.trusted()}. */
    static final long SPIN_NANOS = 20_000;
    /** A wait gives up after this and re-checks, so a thread whose partner stopped cannot hang. */
    static final long WAIT_SLICE_NANOS = 1_000_000;

    private static final VarHandle LONG = JAVA_LONG.varHandle();

    /** One thread: a tripwire nobody else uses, and a condition that holds. */
    @State(Scope.Thread)
    public static class Single {
        Arena arena;
        Tripwire wire;
        long address;
        boolean ready = true;   // a field, so the JIT cannot fold the condition away
        final Waiter.Condition met = () -> ready;

        @Setup(Level.Trial)
        public void open() {
            arena = Arena.ofShared();
            MemorySegment words = arena.allocate(256, 128);
            wire = new Tripwire(words, 128);
            address = wire.address();
        }

        @TearDown(Level.Trial)
        public void close() {
            arena.close();
        }
    }

    @Benchmark
    public void signalNobodyParked(Single s) {
        s.wire.signal();
    }

    @Benchmark
    public void signalParked(Single s) {
        s.wire.armWithoutFence();
        s.wire.signal();
    }

    @Benchmark
    public long futexWakeNobody(Single s) {
        return Futex.wake(s.address, 1);
    }

    @Benchmark
    public void armDisarm(Single s) {
        s.wire.arm();
        s.wire.disarm();
    }

    @Benchmark
    public boolean spinConditionMet(Single s) {
        return Waiter.spin(s.met, WaitMode.ADAPTIVE, SPIN_NANOS, Waiter.FOREVER, 1);
    }

    @Benchmark
    public boolean awaitConditionMet(Single s) {
        return Waiter.await(s.wire, s.met, WaitMode.ADAPTIVE, SPIN_NANOS, Waiter.FOREVER);
    }

    /**
     * The shared sequence word and one tripwire per side. ping owns even values (it turns them
     * odd), pong owns odd ones. Each side's condition also holds once JMH stops the measurement.
     */
    @State(Scope.Group)
    public static class PingPong {
        static final long SEQ = 0, PING_PARKED = 128, PONG_PARKED = 256;

        @Param({"SPIN", "ADAPTIVE", "BLOCK"})
        public WaitMode mode;

        Arena arena;
        MemorySegment words;
        Tripwire pingWire, pongWire;   // each waited on by its side, signalled by the other
        volatile Control pingControl, pongControl;
        Waiter.Condition pingTurn, pongTurn;
        long roundTrips, sleeps0, wakes0;

        @Setup(Level.Trial)
        public void open() {
            arena = Arena.ofShared();
            words = arena.allocate(384, 128);
            pingWire = new Tripwire(words, PING_PARKED);
            pongWire = new Tripwire(words, PONG_PARKED);
            pingTurn = () -> (seq() & 1) == 0 || stopped(pingControl);
            pongTurn = () -> (seq() & 1) == 1 || stopped(pongControl);
            sleeps0 = Tripwire.sleeps();
            wakes0 = Tripwire.wakes();
        }

        @TearDown(Level.Trial)
        public void close() {
            long n = Math.max(roundTrips, 1);
            System.out.printf("%n[pingPong %s] %d round trips, futex sleeps %.3f and wakes %.3f per round trip%n", mode,
                    roundTrips, (Tripwire.sleeps() - sleeps0) / (double) n, (Tripwire.wakes() - wakes0) / (double) n);
            pingWire.wakeAll();
            pongWire.wakeAll();
            arena.close();
        }

        private static boolean stopped(Control c) {
            return c != null && c.stopMeasurement;
        }

        long seq() {
            return (long) LONG.getAcquire(words, SEQ);   // acquire: pairs with the other side's release
        }

        void advance() {
            LONG.setRelease(words, SEQ, seq() + 1);      // release: only the side whose turn it is writes
        }

        void await(Tripwire wire, Waiter.Condition turn) {
            while (!Waiter.await(wire, turn, mode, SPIN_NANOS, Waiter.deadline(WAIT_SLICE_NANOS))) {
                // a slice passed: wait again (the condition also turns true when the measurement stops)
            }
        }
    }

    @Benchmark
    @Group("pingPong")
    @GroupThreads(1)
    public void ping(PingPong s, Control c) {
        s.pingControl = c;
        s.await(s.pingWire, s.pingTurn);       // normally at once: the last round trip ended on our turn
        if (c.stopMeasurement) return;
        s.advance();
        s.pongWire.signal();
        s.await(s.pingWire, s.pingTurn);
        s.roundTrips++;
    }

    @Benchmark
    @Group("pingPong")
    @GroupThreads(1)
    public void pong(PingPong s, Control c) {
        s.pongControl = c;
        s.await(s.pongWire, s.pongTurn);
        if (c.stopMeasurement) return;
        s.advance();
        s.pingWire.signal();
    }
}
