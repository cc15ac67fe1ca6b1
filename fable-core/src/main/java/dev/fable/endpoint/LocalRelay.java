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
import java.util.concurrent.atomic.AtomicLong;

/**
 * The one {@link Relay}: two directions ({@link Pump}s), each reading its source and forwarding to its target with
 * {@link Buffer#forward} (counted: in place or by copy), served with every other relay of the process by one
 * thread ({@link RelayLoop}). See {@link Relay} for the contract.
 *
 * <p>Loop thread only, but for {@link #start}, {@link #close()} (both hand a task to the loop), the counters
 * (single writer: the loop; any thread reads a moment's value) and the end latch.
 */
public final class LocalRelay implements Relay {
    /** Buffers one direction forwards per turn before the loop serves another ready connection. */
    private static final int BATCH = 64;

    /** Every running relay by both its connections, weakly: the flow table shows a connection's relay beside it. */
    private static final Map<Connection, LocalRelay> RELAYS = Collections.synchronizedMap(new WeakHashMap<>());

    private final RelayLoop loop;
    private final Connection a;
    private final Connection b;
    private final Pump ab;
    private final Pump ba;
    private final CountDownLatch stopped = new CountDownLatch(1);
    private boolean ending;   // loop thread
    private volatile boolean aborted;
    private volatile FableException failure;

    private LocalRelay(RelayLoop loop, Connection a, Connection b) {
        this.loop = loop;
        this.a = a;
        this.b = b;
        this.ab = new Pump(a, b, "a", "b");
        this.ba = new Pump(b, a, "b", "a");
    }

    /**
     * Splices {@code a} and {@code b}: the relay loop reads both from now on.
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
        LocalRelay r = new LocalRelay(RelayLoop.shared(), a, b);
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
        r.loop.execute(() -> {
            if (r.ending) return;   // closed before the loop got to it
            try {
                r.loop.watch(a, r.ab);
                r.loop.watch(b, r.ba);
            } catch (RuntimeException e) {   // the loop's poller is full
                r.end(new FableException("relay " + r + " could not start: " + e.getMessage(), e));
            }
        });
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
        if (loop.inLoop()) {
            end(null);
            return;
        }
        loop.execute(() -> end(null));
        boolean interrupted = false;
        while (true) {
            try {
                if (stopped.await(10, TimeUnit.SECONDS)) break;
                System.getLogger("dev.fable").log(System.Logger.Level.WARNING, this + ": not stopped 10 s after close; waiting on");
            } catch (InterruptedException e) {
                interrupted = true;
            }
        }
        if (interrupted) Thread.currentThread().interrupt();
    }

    /**
     * Loop thread: the relay ends (once): records why ({@code why} null: cleanly), stops reading both connections,
     * gives back what a direction held, and closes both connections. The caller has delivered what was read.
     */
    private void end(FableException why) {
        if (ending) return;
        ending = true;
        if (why != null && !aborted) failure = why;
        for (Pump p : new Pump[] {ab, ba}) {
            loop.forget(p.from);
            p.giveBack();
        }
        for (Connection c : new Connection[] {a, b}) {
            try {
                c.close();
            } catch (RuntimeException e) {
                System.getLogger("dev.fable").log(System.Logger.Level.DEBUG, this + ": closing " + c + ": " + e);
            }
        }
        synchronized (RELAYS) {   // the map holds the relay strongly, and the relay its connections: let go
            RELAYS.remove(a, this);
            RELAYS.remove(b, this);
        }
        stopped.countDown();
    }

    @Override
    public String toString() {
        return "relay " + a + " <-> " + b;
    }

    /**
     * One direction: reads {@code from}, forwards to {@code to}. Loop thread only (the counters: written by it alone,
     * read by any thread).
     */
    final class Pump {
        /** {@link #retry} answers: nothing changed; moved on but still needs looking at; done with. */
        static final int STILL_WAITING = 0, PROGRESS = 1, DONE = 2;

        final Connection from;
        final Connection to;
        final String fromSide;
        final String toSide;
        final AtomicLong bytes = new AtomicLong();
        final AtomicLong messages = new AtomicLong();
        final AtomicLong inPlace = new AtomicLong();
        final AtomicLong copied = new AtomicLong();
        private Buffer held;              // read, and its target had no room: this direction reads nothing more meanwhile
        private FableException draining;  // the source ended; the relay ends once the target flushed (null cause: cleanly)
        private boolean sourceEnded;

        Pump(Connection from, Connection to, String fromSide, String toSide) {
            this.from = from;
            this.to = to;
            this.fromSide = fromSide;
            this.toSide = toSide;
        }

        /** True while the source has lent buffers to the target that have not come back. */
        private boolean lending() {
            return from instanceof LiveConnection l && l.lending();
        }

        /** {@code from} is ready: takes its events, then forwards what it has (a batch), or notices its end. */
        void serve() {
            if (ending || held != null || sourceEnded) return;
            try {
                while (from.pollEvent() != null) {
                    // a switch of the source: the loop follows it by itself (the poller watches the new leg)
                }
                for (int n = 0; n < BATCH; n++) {
                    Buffer r = from.poll();
                    if (r == null) {
                        ConnectionState st = from.state();
                        if (st != ConnectionState.OPEN && (r = from.poll()) == null) {   // ended, after its last buffer
                            sourceEnded(st == ConnectionState.PEER_CLOSED || st == ConnectionState.CLOSED ? null : failureOf(from, st));
                        }
                        if (r == null) break;
                    }
                    if (!forward(r)) {
                        held = r;
                        loop.pause(from);   // until the target has room: else the poller would return it again and again
                        loop.retryEveryTurn(this);
                        return;
                    }
                }
                if (lending()) loop.retryEveryTurn(this);   // the return of a lent buffer wakes nobody: poll now and then
            } catch (ConnectionClosedException e) {   // this side closed it (the relay is ending)
                sourceEnded(null);
            } catch (FableException e) {
                if (e instanceof TargetFailed t) targetFailed(t.cause);
                else sourceEnded(e);
            } catch (RuntimeException e) {
                if (!ending) end(new FableException("relay: forwarding from side " + fromSide + " (" + from + ") to side " + toSide + " (" + to
                        + ") failed: " + e, e));
            }
        }

        /**
         * The loop's retry of a waiting direction: places what it holds, sees its target flushed, or (its source lends
         * buffers) polls the source, which gives back the lent buffers that came back.
         */
        int retry() {
            if (ending) return DONE;
            try {
                if (held != null) {
                    if (!forward(held)) return STILL_WAITING;
                    held = null;
                    loop.resume(from);   // checked at the next poll: what arrived meanwhile follows
                    return lending() ? PROGRESS : DONE;
                }
                if (sourceEnded) {
                    if (to instanceof LiveConnection l && !l.outputFlushed()) return STILL_WAITING;
                    end(draining);
                    return DONE;
                }
                serve();
                return ending ? DONE : held != null || sourceEnded || lending() ? STILL_WAITING : DONE;
            } catch (TargetFailed t) {
                targetFailed(t.cause);
                return DONE;
            } catch (RuntimeException e) {
                if (!ending) end(new FableException("relay: forwarding from side " + fromSide + " to side " + toSide + " failed: " + e, e));
                return DONE;
            }
        }

        /**
         * The source ended ({@code why} null: cleanly, after its last buffer): everything it sent is forwarded or held;
         * the relay ends once the target has flushed it (a socket's close pushes what is left for a moment only, so a
         * slow reader gets all of it; bounded by the target's liveness and by the relay's end).
         */
        private void sourceEnded(FableException why) {
            sourceEnded = true;
            if (why != null) {
                draining = new FableException("relay: side " + fromSide + " (" + from + ", " + from.transport() + ") failed: " + why.getMessage()
                        + "; side " + toSide + " (" + to + ") was closed", why);
            }
            loop.forget(from);
            loop.retryEveryTurn(this);
        }

        private static FableException failureOf(Connection c, ConnectionState st) {
            FableException f = c.failure();
            return f != null ? f : new FableException(c + " ended " + st);
        }

        private void targetFailed(FableException e) {
            if (!ending) {
                end(new FableException("relay: side " + toSide + " (" + to + ", " + to.transport() + ") failed while forwarding from side "
                        + fromSide + ": " + e.getMessage() + "; side " + fromSide + " (" + from + ") was closed", e));
            }
        }

        /** Forwards {@code r} once; false if the target has no room now. The counters: single writer, ordered. */
        private boolean forward(Buffer r) {
            int n = r.length();
            boolean more = r.more();
            int how;
            try {
                how = r instanceof SlotBuffer s ? s.forwardCounted(to) : r.forward(to) ? SlotBuffer.FORWARDED_BY_COPY : SlotBuffer.NOT_FORWARDED;
            } catch (FableException e) {
                throw new TargetFailed(e);
            }
            if (how == SlotBuffer.NOT_FORWARDED) return false;
            AtomicLong c = how == SlotBuffer.FORWARDED_IN_PLACE ? inPlace : copied;
            c.lazySet(c.get() + 1);
            bytes.lazySet(bytes.get() + n);
            if (!more) messages.lazySet(messages.get() + 1);
            return true;
        }

        /** The relay ends: a buffer held unforwarded goes back (only when aborting or failing: a clean end forwards all first). */
        void giveBack() {
            if (held == null) return;
            try {
                held.release();
            } catch (RuntimeException e) {
                // its connection is closed already: the buffer went with it
            }
            held = null;
        }
    }

    /** A failure of the target while forwarding, told apart from the source's own failures. */
    private static final class TargetFailed extends FableException {
        final FableException cause;

        TargetFailed(FableException cause) {
            super(cause.getMessage(), cause);
            this.cause = cause;
        }
    }
}
