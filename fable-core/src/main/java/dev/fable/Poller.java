package dev.fable;

import dev.fable.sync.AsymmetricFence;
import dev.fable.sync.Futex2;
import dev.fable.sync.Tripwire;
import dev.fable.sync.Waiter;
import dev.fable.transport.Pollable;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

/**
 * Waits for data on many connections at once ({@code xpoll}): spin over them for the wait mode's
 * budget, then sleep on all their tripwires with one {@code futex_waitv} (at most 128 connections
 * per poller in this version). A connection in a poller must be read only by the poller's thread.
 * Only shared-memory connections can join in this version; socket transports (unix, tcp, tls) wait
 * in {@code select} on their own. A connection is also ready when it has an event to take with
 * {@link Connection#pollEvent()} (a reconfiguration); if it switches away from shared memory, the
 * Poller throws {@link UnsupportedOperationException} for it: take it out and receive on its own thread.
 *
 * <pre>{@code
 * try (Poller p = Poller.create(WaitMode.ADAPTIVE)) {
 *     p.add(a); p.add(b);
 *     Connection ready = p.await(Duration.ofSeconds(1));   // null on timeout
 *     Buffer buf = ready.poll();                           // null if it ended: check ready.state()
 * }
 * }</pre>
 */
public final class Poller implements AutoCloseable {
    private final WaitMode mode;
    private final long spinNanos;
    private final List<Connection> connections = new ArrayList<>();
    private final Futex2 futex = new Futex2();
    private int next;
    private Connection found;   // set by anyReady: lets the spin phase hand its find back without allocating
    private final Waiter.Condition anyReady = () -> (found = poll()) != null;

    private Poller(WaitMode mode, long spinNanos) {
        this.mode = mode;
        this.spinNanos = spinNanos;
    }

    public static Poller create(WaitMode mode) {
        return new Poller(mode, 20_000);
    }

    public void add(Connection c) {
        if (!(c instanceof Pollable) || c instanceof dev.fable.flow.LiveConnection l && !(l.leg() instanceof Pollable)) {
            throw new IllegalArgumentException(c + " cannot join a Poller: this version's Poller sleeps on shared-memory "
                    + "tripwires, so it takes shm connections only; receive on a " + c.transport()
                    + " connection from its own thread (receive(timeout) sleeps in select)");
        }
        if (connections.size() == Futex2.MAX_WORDS) throw new IllegalStateException("a Poller holds at most " + Futex2.MAX_WORDS + " connections");
        connections.add(c);
    }

    public boolean remove(Connection c) {
        return connections.remove(c);
    }

    /** A connection that is readable (or ended), round-robin for fairness; null if none. Never blocks. */
    public Connection poll() {
        int n = connections.size();
        for (int i = 0; i < n; i++) {
            int k = (next + i) % n;
            Connection c = connections.get(k);
            if (((Pollable) c).readReady()) {
                next = (k + 1) % n;
                return c;
            }
        }
        return null;
    }

    /** Waits up to {@code timeout} for a readable (or ended) connection; null on timeout. */
    public Connection await(Duration timeout) {
        Connection c = poll();
        if (c != null || connections.isEmpty()) return c;
        long deadline = Waiter.deadline(timeout.toNanos());
        if (Waiter.spin(anyReady, mode, spinNanos, deadline, 1)) return found;
        if (mode == WaitMode.SPIN) return null;
        while (true) {
            if (deadline != Waiter.FOREVER && deadline - System.nanoTime() <= 0) return poll();
            futex.clear();
            for (Connection k : connections) {
                Tripwire w = ((Pollable) k).readWire();
                w.armWithoutFence();
                futex.add(w.address(), w.generation());
            }
            AsymmetricFence.heavy();
            c = poll();
            if (c == null) futex.await(deadline);
            for (Connection k : connections) ((Pollable) k).readWire().disarm();
            if (c != null || (c = poll()) != null) return c;
        }
    }

    @Override
    public void close() {
        connections.clear();
    }
}
