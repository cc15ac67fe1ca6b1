package dev.fable.endpoint;

import dev.fable.Connection;
import dev.fable.Poller;
import dev.fable.WaitMode;

import dev.fable.sync.AsymmetricFence;
import dev.fable.sync.Futex2;
import dev.fable.sync.Tripwire;
import dev.fable.sync.Waiter;
import dev.fable.transport.Pollable;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

/** The one {@link Poller}: spin over the connections' readiness, then one {@code futex_waitv} on their tripwires. */
public final class TripwirePoller implements Poller {
    private final WaitMode mode;
    private final long spinNanos;
    private final List<Connection> connections = new ArrayList<>();
    private final Futex2 futex = new Futex2();
    private int next;
    private Connection found;   // set by anyReady: lets the spin phase hand its find back without allocating
    private final Waiter.Condition anyReady = () -> (found = poll()) != null;

    public TripwirePoller(WaitMode mode, long spinNanos) {
        this.mode = mode;
        this.spinNanos = spinNanos;
    }

    @Override
    public void add(Connection c) {
        if (!(c instanceof dev.fable.flow.LiveConnection l) || !l.pollable()) {
            throw new IllegalArgumentException(c + " cannot join a Poller: this version's Poller sleeps on shared-memory "
                    + "tripwires, so it takes shm connections only; receive on a " + c.transport()
                    + " connection from its own thread (receive(timeout) sleeps in select)");
        }
        if (connections.size() == Futex2.MAX_WORDS) throw new IllegalStateException("a Poller holds at most " + Futex2.MAX_WORDS + " connections");
        connections.add(c);
    }

    @Override
    public boolean remove(Connection c) {
        return connections.remove(c);
    }

    @Override
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

    @Override
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
