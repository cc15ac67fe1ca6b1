package dev.fable.sync;

import dev.fable.internal.CpuLoad;
import dev.fable.internal.Libc;

import java.util.concurrent.TimeUnit;

/**
 * How long one role of an {@link dev.fable.WaitMode#ADAPTIVE ADAPTIVE} connection spins before it
 * sleeps, decided afresh at every wait (about 15 ns: {@code sched_getcpu} through the vDSO, the clock
 * and two loads; at most once per 100 ms, inside a wait, a few system calls to read the load; never in
 * claim, commit, poll or release):
 *
 * <ul>
 *   <li><b>Placement.</b> If the peer's thread was last seen on the CPU this thread runs on now,
 *       spinning only takes the time slice the peer needs to produce what we wait for: do not spin.
 *       If nobody else used that CPU in the last load window (its busy time minus ours minus the
 *       peer thread's, read from /proc), hand the CPU to the peer with {@code sched_yield} for up to
 *       the configured budget ({@link #yieldBudget()}), then sleep; else sleep at once, since a yield
 *       would wait out the other thread's time slice while a futex wake-up preempts it. Measured on
 *       one CPU: yielding gives 64 B RTT 3.8 against 5.2 µs and 4 KiB one-way 19.5 against 10.5 GB/s
 *       (docs/BENCHMARKS.md). Until a window has measured the CPU, it sleeps at once.
 *       Each side publishes where its waiting threads run ({@link Placement}), stamped with the time;
 *       the newer of the peer's two words counts, and not once it is {@value #FRESH_MILLIS} ms old. A
 *       pinned thread setting the connection up publishes its CPU too ({@link #stampIfPinned()}).</li>
 *   <li><b>Load.</b> At most every {@value #LOAD_WINDOW_MILLIS} ms, while it waits, the role reads how
 *       busy its CPU was over the last window ({@code /proc/stat}) minus its own run time
 *       (its thread CPU clock). If other threads kept the CPU more than half busy in two
 *       windows in a row (a CPU hog, a noisy neighbour), or a spin was preempted (the clock jumped by
 *       more than {@value #PREEMPTED_MICROS} µs between two looks), the CPU is contended, and a role
 *       whose spins have stopped paying (its budget is down at its floor: the data keeps coming after
 *       the spin ran out) sleeps at once, leaving the CPU to the others, until a window finds the CPU
 *       spare again; once a window it probes with one spin of the configured budget, in case the
 *       traffic picked up. A role whose spins still catch the data keeps spinning: on this kernel a busy
 *       ping-pong under a hog answers in about 0.5 µs spinning and 18-35 µs blocking
 *       (docs/BENCHMARKS.md), so blocking it would only cost latency.</li>
 *   <li><b>Traffic.</b> Otherwise it spins for a budget that widens (by a quarter, up to 8 × the
 *       configured {@code spinNanos}) each time the data came while spinning, and halves (down to a
 *       quarter of it) each time the spin ran out and the thread had to sleep.</li>
 * </ul>
 *
 * <p>Single writer: the role's thread calls {@link #beforeWait()} and {@link #afterSpin}; any thread
 * may read {@link #describe()} (fable flows), which reads plain fields and may be a moment stale.
 */
public final class AdaptiveSpin {
    /** Where each side's waiting threads run: this side publishes, the peer's entries are compared. */
    public interface Placement {
        /** Publishes that this role's thread ({@code tid}, its kernel id) waits on {@code cpu} now (the stamped word, see {@link AdaptiveSpin#stamp}). */
        void publish(long stampedCpu, int tid);

        /** The kernel thread id the peer's sending role published with its word (0: never; a hint, validated before use). */
        int peerSendingTid();

        /** The same for the peer's receiving role. */
        int peerReceivingTid();

        /** The peer's process id (its threads' run times are read under /proc/pid). */
        long peerPid();

        /** The peer's published words (0: never published); compared, never used as an index. */
        long peerSending();

        /** The peer's receiving role's word (0: never published). */
        long peerReceiving();
    }

    /** A preempted spin (a clock jump of more than this between two looks) means the CPU is contended. */
    static final long PREEMPTED_MICROS = 200;
    /** How often a waiting role reads its CPU's load. */
    static final long LOAD_WINDOW_MILLIS = 100;
    /** Other threads busy on this CPU for more than this share of a window: contended. */
    static final double CONTENDED_SHARE = 0.5;
    /** A peer's published CPU older than this tells nothing. */
    static final long FRESH_MILLIS = 1000;
    /** This side republishes its CPU at least this often while it waits. */
    private static final long REPUBLISH_NANOS = TimeUnit.MILLISECONDS.toNanos(10);

    private static final long PREEMPTED_NANOS = TimeUnit.MICROSECONDS.toNanos(PREEMPTED_MICROS);
    private static final long LOAD_WINDOW_NANOS = TimeUnit.MILLISECONDS.toNanos(LOAD_WINDOW_MILLIS);
    private static final long FRESH_NANOS = TimeUnit.MILLISECONDS.toNanos(FRESH_MILLIS);

    /** Why the last wait spun or did not (for {@link #describe()}). */
    private static final int SPIN = 0, PEER_ON_THIS_CPU = 1, CONTENDED = 2, PREEMPTED = 3;

    private final Placement placement;
    private final long configured;
    private final long floor;
    private final long ceiling;
    private long budget;
    private boolean contended;     // the last load window (or a preempted spin since) found the CPU contended
    private final Window load = new Window();    // the load window (any wait that may spin)
    private int othersPercent;     // the last window: share of the CPU others used
    private int busyWindows;       // consecutive windows in which others used more than half of the CPU
    private long published;        // the word last published (its time and CPU)
    private int decision = SPIN;   // plain: the role's thread writes, describe() may read a stale value
    private int decisionCpu = -1;
    private long waits;            // plain: the role's thread; describe() readers may see it stale
    private final Window crowd = new Window();   // the window of a wait whose peer runs on this CPU (the peer thread's time apart)
    private boolean crowded = true;  // PEER_ON_THIS_CPU: the last window found other threads on this CPU (or could not tell)
    private int crowdPercent = -1; // the last window: share of this CPU used by threads other than ours and the peer's
    private long noYieldUntil;     // nanoTime before which a wait does not yield (a yield came back late with nothing)
    private long spunWaits;        // waits that spun before they slept (or found the data)

    /** @param spinNanos the configured budget ({@code ConnectOptions.spinNanos()}); the budget moves between a quarter and 8 × of it */
    public AdaptiveSpin(long spinNanos, Placement placement) {
        this.placement = placement;
        this.budget = spinNanos;
        this.configured = spinNanos;
        this.floor = spinNanos / 4;
        this.ceiling = spinNanos * 8;
    }

    /**
     * For a connection being set up: the calling thread's CPU and the time as a published word
     * ({@link #stamp}) if the thread may run on that CPU only (pinned, e.g. by {@code taskset}), else 0.
     * Where an unpinned thread happens to run says nothing about where the connection's threads will.
     */
    public static long stampIfPinned() {
        int cpu = Libc.singleAllowedCpu();
        return cpu < 0 ? 0 : stamp(System.nanoTime(), cpu);
    }

    /** A CPU and the time, as one word: {@code (nanoTime >> 10) << 16 | (cpu + 1)}; 0 means never. */
    static long stamp(long nanoTime, int cpu) {
        return (nanoTime >> 10) << 16 | ((cpu + 1) & 0xFFFF);
    }

    private static boolean on(long word, int cpu, long now) {
        if (word == 0 || (word & 0xFFFF) != cpu + 1) return false;
        long age = (now >> 10) - (word >>> 16);   // in units of 1024 ns; a peer's word from the future reads as fresh
        return age < (FRESH_NANOS >> 10);
    }

    /**
     * The spin budget of the wait about to start, in nanoseconds: 0 to sleep at once. Publishes this
     * thread's CPU for the peer when it changed or is getting old. About 10 ns (sched_getcpu is a vDSO call).
     */
    public long beforeWait() {
        waits++;
        int cpu = Libc.currentCpu();
        decisionCpu = cpu;
        long now = System.nanoTime();
        if (cpu >= 0 && ((published & 0xFFFF) != cpu + 1 || now - ((published >>> 16) << 10) > REPUBLISH_NANOS)) {
            published = stamp(now, cpu);
            placement.publish(published, Libc.currentTid());
        }
        long r = placement.peerReceiving(), w = placement.peerSending();
        boolean receiverNewer = (r >>> 16) >= (w >>> 16);
        if (cpu >= 0 && on(receiverNewer ? r : w, cpu, now)) {   // the newer word: where the peer ran last
            decision = PEER_ON_THIS_CPU;
            if (now - crowd.start >= LOAD_WINDOW_NANOS) sampleCrowd(cpu, now, receiverNewer ? placement.peerReceivingTid() : placement.peerSendingTid());
            return 0;
        }
        if (cpu >= 0 && now - load.start >= LOAD_WINDOW_NANOS) sampleLoad(cpu, now);
        if (contended && budget <= floor) {   // the CPU is wanted by others and spinning stopped paying
            if (decision != PREEMPTED) decision = CONTENDED;
            return 0;
        }
        decision = SPIN;
        if (budget > 0) spunWaits++;
        return budget;
    }

    /**
     * After the spinning phase: {@code met} whether the data came while spinning, {@code preempted}
     * whether the spin found the clock jumped (see {@link #PREEMPTED_MICROS}).
     */
    public void afterSpin(boolean met, boolean preempted) {
        if (preempted) {
            contended = true;   // until the next load window says otherwise
            decision = PREEMPTED;
        } else if (met) {
            budget = Math.min(ceiling, budget + (budget >> 2) + 1);
        } else {
            budget = Math.max(floor, budget >> 1);
        }
    }

    /**
     * PEER_ON_THIS_CPU: closes a window of how much of {@code cpu} threads other than ours and the
     * peer's ({@code peerTid}) used. Crowded unless a whole window on the same CPU and peer thread
     * found them below {@link #CROWDED_SHARE}.
     */
    private void sampleCrowd(int cpu, long now, int peerTid) {
        CpuLoad l = CpuLoad.forThisThread();
        double share = crowd.close(now, cpu, l.cpuBusyNanos(cpu), l.threadRunNanos(), l.threadRunNanos(placement.peerPid(), peerTid), peerTid);
        crowded = !(share <= CROWDED_SHARE);   // NaN (not comparable): crowded
        crowdPercent = Double.isNaN(share) ? -1 : (int) Math.max(0, Math.min(100, Math.round(share * 100)));
    }

    /** Threads other than ours and the peer's using more than this share of our CPU make a yield a bad bet. */
    static final double CROWDED_SHARE = 0.2;

    /**
     * After {@link #beforeWait()} returned 0: how long to hand the CPU to the peer with
     * {@code sched_yield} before sleeping (the configured budget when the peer runs on this CPU and
     * nobody else used it in the last window), else 0.
     */
    public long yieldBudget() {
        return decision == PEER_ON_THIS_CPU && !crowded && System.nanoTime() - noYieldUntil >= 0 ? configured : 0;
    }

    /**
     * After a yielding phase: {@code hogged} if a yield came back late (more than
     * {@value #PREEMPTED_MICROS} µs) with nothing to show, i.e. another thread had the CPU for a time
     * slice: no yields until the next window.
     */
    public void afterYield(boolean hogged) {
        if (hogged) noYieldUntil = System.nanoTime() + LOAD_WINDOW_NANOS;
    }

    /** Closes a load window: how much of {@code cpu} others used since the last sample (a window on another CPU tells nothing). */
    private void sampleLoad(int cpu, long now) {
        CpuLoad l = CpuLoad.forThisThread();
        double share = load.close(now, cpu, l.cpuBusyNanos(cpu), l.threadRunNanos(), 0, 0);
        if (!Double.isNaN(share)) {
            othersPercent = (int) Math.max(0, Math.min(100, Math.round(share * 100)));
            busyWindows = share > CONTENDED_SHARE ? busyWindows + 1 : 0;
            contended = busyWindows >= 2;   // two windows in a row: a burst (the JIT, a GC) does not count
            if (contended) budget = Math.max(budget, configured);   // once a window, a probe: do spins pay again (traffic picked up)?
            if (decision == PREEMPTED) decision = SPIN;   // the window's verdict replaces the preemption's
        }
    }

    /**
     * One kind of load window: at its start, the CPU's busy time, this thread's run time and a peer
     * thread's (0 where there is none). Role thread only.
     */
    private static final class Window {
        long start;        // nanoTime of the last sample (0: none yet)
        int cpu = -1;
        int peerTid;
        long busy, own, peer;

        /**
         * Closes the window at {@code now} and opens the next with these readings: the share of
         * {@code cpu} that threads other than this one and the peer's used, or NaN when the two samples
         * cannot be compared (a reading failed, or the CPU or the peer thread changed).
         */
        double close(long now, int cpu, long busy, long own, long peer, int peerTid) {
            boolean comparable = busy >= 0 && own >= 0 && peer >= 0 && start != 0 && this.cpu == cpu && this.peerTid == peerTid;
            double share = comparable ? (double) ((busy - this.busy) - (own - this.own) - (peer - this.peer)) / (now - start) : Double.NaN;
            this.start = now;
            this.cpu = cpu;
            this.peerTid = peerTid;
            this.busy = busy;
            this.own = own;
            this.peer = peer;
            return share;
        }
    }

    /** True when a clock jump between two looks of a spin means the thread was preempted. */
    static boolean preempted(long previousLook, long now) {
        return now - previousLook > PREEMPTED_NANOS;
    }

    /** The current decision in words, for fable flows: e.g. {@code spin <= 20 us; spun 40 of 40 waits}, {@code block: peer on CPU 0; spun 0 of 3 waits}. */
    public String describe() {
        if (waits == 0) return "no wait yet";   // every poll so far found data
        return decisionText() + "; spun " + spunWaits + " of " + waits + " waits";
    }

    private String decisionText() {
        return switch (decision) {
            case PEER_ON_THIS_CPU -> (yieldBudget() > 0 ? "yield, then block" : crowdPercent < 0 ? "block (CPU not measured yet)"
                    : "block (" + crowdPercent + "% of it used by others)") + ": peer on CPU " + decisionCpu;
            case CONTENDED -> "block: CPU " + load.cpu + " contended, " + othersPercent + "% used by others";
            case PREEMPTED -> "block: spin preempted on CPU " + decisionCpu;
            default -> "spin <= " + TimeUnit.NANOSECONDS.toMicros(budget) + " us"
                    + (contended ? " (CPU " + load.cpu + " busy, " + othersPercent + "% used by others)" : "");
        };
    }

    /** Waits decided so far. */
    public long waits() {
        return waits;
    }
}
