package dev.fable.endpoint;

import dev.fable.Buffer;
import dev.fable.Connection;
import dev.fable.ConnectionClosedException;
import dev.fable.ConnectionState;
import dev.fable.FableException;
import dev.fable.Relay;
import dev.fable.buffer.SlotBuffer;
import dev.fable.flow.LiveConnection;

import java.time.Duration;
import java.util.Collections;
import java.util.Map;
import java.util.Objects;
import java.util.WeakHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.LockSupport;

/**
 * The one {@link Relay}: two pump threads, one per direction, each receiving from its source and forwarding to its
 * target with {@link Buffer#forward} (counted: in place or by copy). See {@link Relay} for the contract.
 */
public final class LocalRelay implements Relay {
    /** How long an idle pump blocks in its source's receive before it looks at the relay's state again. */
    private static final Duration IDLE_WAIT = Duration.ofMillis(500);
    /** Back-pressure: spins before the first park, and the longest park between retries. */
    private static final int SPINS = 64;
    private static final long MAX_PARK_NANOS = 1_000_000;

    /** Every running relay by both its connections, weakly: the flow table shows a connection's relay beside it. */
    private static final Map<Connection, LocalRelay> RELAYS = Collections.synchronizedMap(new WeakHashMap<>());

    private final Connection a;
    private final Connection b;
    private final Pump ab;
    private final Pump ba;
    private final CountDownLatch stopped = new CountDownLatch(2);
    private final AtomicBoolean ending = new AtomicBoolean();
    private volatile boolean aborted;
    private volatile FableException failure;

    private LocalRelay(Connection a, Connection b) {
        this.a = a;
        this.b = b;
        this.ab = new Pump(a, b, "a", "b");
        this.ba = new Pump(b, a, "b", "a");
    }

    /**
     * Splices {@code a} and {@code b} and starts the two pump threads.
     *
     * @throws IllegalArgumentException if {@code a} and {@code b} are the same connection
     * @throws IllegalStateException    if either is not open, or already in a running relay
     */
    public static LocalRelay start(Connection a, Connection b) {
        Objects.requireNonNull(a, "a");
        Objects.requireNonNull(b, "b");
        if (a == b) throw new IllegalArgumentException("cannot relay " + a + " to itself: give two different connections");
        for (Connection c : new Connection[] {a, b}) {
            if (c.state() != ConnectionState.OPEN) {
                throw new IllegalStateException("cannot relay " + c + " (" + c.transport() + "): it is " + c.state()
                        + (c.failure() != null ? " (" + c.failure().getMessage() + ")" : "") + "; relay open connections only");
            }
        }
        LocalRelay r = new LocalRelay(a, b);
        synchronized (RELAYS) {
            for (Connection c : new Connection[] {a, b}) {
                LocalRelay old = RELAYS.get(c);
                if (old != null && !old.ended()) {
                    throw new IllegalStateException("cannot relay " + c + " (" + c.transport() + "): it is already relayed by " + old
                            + "; a connection has one receiving thread, so it can be in one relay at a time");
                }
            }
            RELAYS.put(a, r);
            RELAYS.put(b, r);
        }
        r.ab.thread.start();
        r.ba.thread.start();
        return r;
    }

    /** The running relay {@code c} is part of, or null. */
    static LocalRelay of(Connection c) {
        LocalRelay r = RELAYS.get(c);
        return r == null || r.ended() ? null : r;
    }

    /** For {@code fable flows}: e.g. {@code relay anon-1-2 <-> web (tcp-raw <-> shm): 10 in place, 3 copied}. */
    String describe() {
        return "relay " + a.peerName() + " <-> " + b.peerName() + " (" + a.transport() + " <-> " + b.transport() + "): "
                + zeroCopyForwards() + " in place, " + copiedForwards() + " copied";
    }

    @Override
    public Connection a() {
        return a;
    }

    @Override
    public Connection b() {
        return b;
    }

    private Pump pump(Direction d) {
        return d == Direction.A_TO_B ? ab : ba;
    }

    @Override
    public long bytes(Direction d) {
        return pump(d).bytes.get();
    }

    @Override
    public long messages(Direction d) {
        return pump(d).messages.get();
    }

    @Override
    public long zeroCopy(Direction d) {
        return pump(d).inPlace.get();
    }

    @Override
    public long copied(Direction d) {
        return pump(d).copied.get();
    }

    @Override
    public boolean ended() {
        return stopped.getCount() == 0;
    }

    @Override
    public boolean awaitEnd(Duration timeout) throws InterruptedException {
        if (timeout.isNegative()) {
            stopped.await();
            return true;
        }
        return stopped.await(timeout.toNanos(), TimeUnit.NANOSECONDS);
    }

    @Override
    public FableException failure() {
        return failure;
    }

    @Override
    public void close() {
        aborted = true;
        end(null);
        boolean interrupted = false;
        while (true) {
            try {
                if (Thread.currentThread() == ab.thread || Thread.currentThread() == ba.thread || stopped.await(10, TimeUnit.SECONDS)) break;
                System.getLogger("dev.fable").log(System.Logger.Level.WARNING, this + ": a pump has not stopped 10 s after close; waiting on");
            } catch (InterruptedException e) {
                interrupted = true;
            }
        }
        if (interrupted) Thread.currentThread().interrupt();
    }

    /**
     * The relay ends (first caller only): records why ({@code why} null: cleanly) and closes both connections, which
     * wakes the other pump out of its receive or retry. The caller has delivered what it read.
     */
    private void end(FableException why) {
        if (!ending.compareAndSet(false, true)) return;
        if (why != null && !aborted) failure = why;
        for (Connection c : new Connection[] {a, b}) {
            try {
                c.close();
            } catch (RuntimeException e) {
                System.getLogger("dev.fable").log(System.Logger.Level.DEBUG, this + ": closing " + c + ": " + e);
            }
        }
    }

    @Override
    public String toString() {
        return "relay " + a + " <-> " + b;
    }

    /** One direction: receive from {@code from}, forward to {@code to}, until either ends. */
    private final class Pump implements Runnable {
        final Connection from;
        final Connection to;
        final String fromSide;
        final String toSide;
        final Thread thread;
        final AtomicLong bytes = new AtomicLong();
        final AtomicLong messages = new AtomicLong();
        final AtomicLong inPlace = new AtomicLong();
        final AtomicLong copied = new AtomicLong();

        Pump(Connection from, Connection to, String fromSide, String toSide) {
            this.from = from;
            this.to = to;
            this.fromSide = fromSide;
            this.toSide = toSide;
            this.thread = Thread.ofPlatform().daemon().name("fable-relay " + from.peerName() + " -> " + to.peerName()).unstarted(this);
        }

        @Override
        public void run() {
            Buffer held = null;
            try {
                while (!ending.get()) {
                    Buffer r;
                    try {
                        r = from.receive(IDLE_WAIT);
                    } catch (ConnectionClosedException e) {   // its peer ended cleanly after everything it sent (or the relay closed it)
                        drainTarget();
                        end(null);
                        return;
                    } catch (FableException e) {   // its peer died or broke the protocol: what it sent before is forwarded already
                        drainTarget();
                        end(new FableException("relay: side " + fromSide + " (" + from + ", " + from.transport() + ") failed: " + e.getMessage()
                                + "; side " + toSide + " (" + to + ") was closed", e));
                        return;
                    }
                    if (r == null) continue;
                    held = r;
                    if (forward(r)) held = null;
                }
            } catch (FableException e) {   // the target refused: closed or its peer is gone
                if (!ending.get()) {
                    end(new FableException("relay: side " + toSide + " (" + to + ", " + to.transport() + ") failed while forwarding from side "
                            + fromSide + ": " + e.getMessage() + "; side " + fromSide + " (" + from + ") was closed", e));
                }
            } catch (RuntimeException e) {
                // after the relay began to end, a connection closed under this thread may say so in other ways (IllegalStateException)
                if (!ending.get()) {
                    end(new FableException("relay: forwarding from side " + fromSide + " (" + from + ") to side " + toSide + " (" + to
                            + ") failed: " + e, e));
                }
            } finally {
                if (held != null) {
                    try {
                        held.release();   // only when aborting or failing: a clean end forwards everything first
                    } catch (RuntimeException e) {
                        // its connection is closed already: the buffer went with it
                    }
                }
                stopped.countDown();
                if (stopped.getCount() == 0) {   // the map holds the relay strongly, and the relay its connections: let go
                    synchronized (RELAYS) {
                        RELAYS.remove(a, LocalRelay.this);
                        RELAYS.remove(b, LocalRelay.this);
                    }
                }
            }
        }

        /**
         * Waits until everything forwarded to {@code to} is where closing it keeps it deliverable (a socket's close
         * pushes what is left for a moment only): a slow reader gets all of it. Bounded by {@code to}'s liveness (a
         * reader that stops acknowledging ends the connection within the peer timeout) and by the relay's end.
         */
        private void drainTarget() {
            if (!(to instanceof LiveConnection l)) return;
            long park = 1_000;
            for (int tries = 0; !ending.get() && !l.outputFlushed(); tries++) {
                if (tries < SPINS) {
                    Thread.onSpinWait();
                } else {
                    LockSupport.parkNanos(park);
                    park = Math.min(park * 2, MAX_PARK_NANOS);
                }
            }
        }

        /** Forwards {@code r}, waiting out the target's back-pressure; false if the relay ended meanwhile (r still held). */
        private boolean forward(Buffer r) {
            int n = r.length();
            boolean more = r.more();
            long park = 1_000;
            for (int tries = 0; ; tries++) {
                int how = r instanceof SlotBuffer s ? s.forwardCounted(to) : r.forward(to) ? SlotBuffer.FORWARDED_BY_COPY : SlotBuffer.NOT_FORWARDED;
                if (how != SlotBuffer.NOT_FORWARDED) {
                    (how == SlotBuffer.FORWARDED_IN_PLACE ? inPlace : copied).incrementAndGet();
                    bytes.addAndGet(n);
                    if (!more) messages.incrementAndGet();
                    return true;
                }
                if (ending.get()) return false;
                if (tries < SPINS) {
                    Thread.onSpinWait();
                } else {
                    LockSupport.parkNanos(park);   // the target's reader is slow: back off, up to a millisecond between tries
                    park = Math.min(park * 2, MAX_PARK_NANOS);
                }
            }
        }
    }
}
