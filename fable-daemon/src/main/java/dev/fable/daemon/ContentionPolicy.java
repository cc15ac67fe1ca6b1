package dev.fable.daemon;

import dev.fable.naming.protocol.FlowEntry;
import dev.fable.naming.NamingConfig;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;

/**
 * The contention policy: a shared-memory connection whose ends spin while they wait is moved to
 * blocking waits while both ends are seen on the same CPU (each spins away the time slice the other
 * needs to produce what it waits for), and back to each end's own wait mode once they run apart.
 *
 * <h2>Input</h2>
 * Every {@link Settings#periodNanos} the daemon collects its clients' flow reports. Each end of a
 * connection reports the CPU its sending and its receiving thread last waited on (sampled with
 * {@code sched_getcpu} inside the wait, see {@code dev.fable.sync.CpuSample}; -1 when that thread
 * did not wait in the last 0.5 s). Both ends must be clients of this daemon (one host) and are
 * paired by connection id. One sample is "together" when a CPU of one end is a CPU of the other,
 * "apart" when both ends have CPUs and none is shared, and "unknown" otherwise (an end that did not
 * wait tells nothing); unknown samples are skipped.
 *
 * <h2>Smoothing</h2>
 * A k-of-n vote with hysteresis over the last {@link Settings#window} known samples: switch a
 * spinning connection to {@code block} when at least {@link Settings#enter} of them were together,
 * switch it back when at most {@link Settings#leave} were. The window is cleared at every switch,
 * so one connection switches at most once per {@code window} known samples (0.8 s by default). A
 * filter over a continuous estimate (the paper's Kalman suggestion) does not fit a yes/no
 * observation; the vote is its discrete counterpart, and its two thresholds are the hysteresis.
 *
 * <p>Loop thread only: {@link SwitchOrders} owns it on the daemon's event loop.
 */
final class ContentionPolicy {

    /**
     * @param enabled     {@code fable.policy.contention} ({@code on}/{@code off}, default on)
     * @param periodNanos {@code fable.policy.contention.periodMillis} (200): time between two samples
     * @param window      {@code fable.policy.contention.window} (4): known samples the vote looks at
     * @param enter       {@code fable.policy.contention.enter} (3): "together" votes that switch to block
     * @param leave       {@code fable.policy.contention.leave} (0): at most this many "together" votes switch back
     */
    record Settings(boolean enabled, long periodNanos, int window, int enter, int leave) {
        Settings {
            if (window < 1 || window > 30) throw new IllegalArgumentException("fable.policy.contention.window must be 1..30, not " + window);
            if (enter < 1 || enter > window) throw new IllegalArgumentException("fable.policy.contention.enter must be 1.." + window + ", not " + enter);
            if (leave < 0 || leave >= enter) throw new IllegalArgumentException("fable.policy.contention.leave must be 0.." + (enter - 1) + ", not " + leave);
            if (periodNanos < TimeUnit.MILLISECONDS.toNanos(10)) throw new IllegalArgumentException("fable.policy.contention.periodMillis must be at least 10");
        }

        static Settings fromConfig() {
            String on = NamingConfig.get("fable.policy.contention", "on").trim();
            if (!on.equals("on") && !on.equals("off")) throw new IllegalArgumentException("fable.policy.contention must be on or off, not '" + on + "'");
            return new Settings(on.equals("on"), TimeUnit.MILLISECONDS.toNanos(NamingConfig.getLong("fable.policy.contention.periodMillis", 200)),
                    (int) NamingConfig.getLong("fable.policy.contention.window", 4), (int) NamingConfig.getLong("fable.policy.contention.enter", 3),
                    (int) NamingConfig.getLong("fable.policy.contention.leave", 0));
        }

        long periodMillis() {
            return TimeUnit.NANOSECONDS.toMillis(periodNanos);
        }
    }

    /** A switch to order: process {@code pid}'s connection {@code connectionId} to shm with wait mode {@code waitMode}. */
    record Order(long pid, String localName, long connectionId, String waitMode, String reason) {}

    /** The vote of one connection: the last {@code known} samples, newest in bit 0. */
    private static final class Track {
        int bits;
        int known;
        boolean ordered;   // an order is on its way; no vote until its answer

        void add(boolean together, int window) {
            bits = (bits << 1 | (together ? 1 : 0)) & ((1 << window) - 1);
            known = Math.min(known + 1, window);
        }

        void clear() {
            bits = 0;
            known = 0;
        }
    }

    private final Settings settings;
    private final Map<Long, Track> tracks = new HashMap<>();

    ContentionPolicy(Settings settings) {
        this.settings = settings;
    }

    Settings settings() {
        return settings;
    }

    /**
     * True when a client with these flows has something this policy watches (so it is asked every
     * period): an shm end that spins or that a switch set to block, and that did not ask to keep its
     * wait mode ({@code fable bench}'s peers must not be woken five times a second while they measure).
     */
    static boolean watches(List<FlowEntry> flows) {
        for (FlowEntry f : flows) {
            if ("shm".equals(f.transport()) && f.connectionId() != 0 && !fixed(f) && ("spin".equals(f.waitMode()) || f.waitOverridden())) {
                return true;
            }
        }
        return false;
    }

    /** One sample: every flow of every client of this daemon. Returns the switches to order now. */
    List<Order> observe(List<FlowEntry> flows) {
        Map<Long, FlowEntry> connectors = new HashMap<>();
        Map<Long, FlowEntry> acceptors = new HashMap<>();
        for (FlowEntry f : flows) {
            if (f.connectionId() == 0 || !"shm".equals(f.transport())) continue;
            (f.connector() ? connectors : acceptors).put(f.connectionId(), f);
        }
        List<Order> orders = new ArrayList<>();
        Set<Long> seen = new HashSet<>();
        for (Map.Entry<Long, FlowEntry> e : connectors.entrySet()) {
            FlowEntry c = e.getValue();
            FlowEntry a = acceptors.get(e.getKey());
            if (a == null || c.epoch() != a.epoch()) continue;   // the other end elsewhere, or mid-switch: no sample
            if (fixed(c) || fixed(a)) continue;   // an end that asked to keep its wait mode (a benchmark spinning on one core on purpose)
            boolean blockedByUs = c.waitOverridden() && "block".equals(c.waitMode());
            boolean spinning = !c.waitOverridden() && ("spin".equals(c.waitMode()) || "spin".equals(a.waitMode()));
            if (!blockedByUs && !spinning) continue;
            seen.add(e.getKey());
            Track t = tracks.computeIfAbsent(e.getKey(), k -> new Track());
            if (t.ordered) continue;
            int shared = sharedCpu(c, a);
            if (shared == UNKNOWN) continue;
            t.add(shared >= 0, settings.window());
            int together = Integer.bitCount(t.bits);
            if (t.known < settings.window() && !(spinning && together >= settings.enter())) continue;
            String votes = together + " of the last " + t.known + " samples, " + settings.periodMillis() + " ms apart";
            if (spinning && together >= settings.enter()) {
                orders.add(new Order(c.pid(), c.localName(), c.connectionId(), "block",
                        "contention: both ends waited on CPU " + shared + " in " + votes));
                t.ordered = true;
            } else if (blockedByUs && together <= settings.leave()) {
                orders.add(new Order(c.pid(), c.localName(), c.connectionId(), "own",
                        "contention over: the ends waited on different CPUs (" + cpus(c) + " and " + cpus(a) + ") in "
                                + (t.known - together) + " of the last " + t.known + " samples"));
                t.ordered = true;
            }
        }
        tracks.keySet().retainAll(seen);
        return orders;
    }

    /** The answer to an order came: vote afresh (after a switch) or again (after a failure). */
    void answered(long connectionId) {
        Track t = tracks.get(connectionId);
        if (t != null) {
            t.ordered = false;
            t.clear();
        }
    }

    private static final int UNKNOWN = -2;

    /** A CPU both ends waited on, -1 if both waited but apart, {@link #UNKNOWN} if an end did not wait lately. */
    private static int sharedCpu(FlowEntry c, FlowEntry a) {
        if ((c.sendCpu() < 0 && c.recvCpu() < 0) || (a.sendCpu() < 0 && a.recvCpu() < 0)) return UNKNOWN;
        for (int x : new int[] {c.sendCpu(), c.recvCpu()}) {
            if (x >= 0 && (x == a.sendCpu() || x == a.recvCpu())) return x;
        }
        return -1;
    }

    private static boolean fixed(FlowEntry f) {
        return f.waitMode() != null && f.waitMode().endsWith(" fixed");
    }

    private static String cpus(FlowEntry f) {
        if (f.sendCpu() >= 0 && f.recvCpu() >= 0 && f.sendCpu() != f.recvCpu()) return "CPUs " + f.sendCpu() + "/" + f.recvCpu();
        return "CPU " + Math.max(f.sendCpu(), f.recvCpu());
    }
}
