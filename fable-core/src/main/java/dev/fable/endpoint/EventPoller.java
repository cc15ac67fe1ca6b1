package dev.fable.endpoint;

import dev.fable.Connection;
import dev.fable.Poller;
import dev.fable.WaitMode;
import dev.fable.flow.LiveConnection;
import dev.fable.sync.Waiter;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.channels.Pipe;
import java.nio.channels.SelectableChannel;
import java.time.Duration;
import java.util.ArrayList;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.locks.LockSupport;

/**
 * The {@link Poller}: one event queue (tripwire-clan §3.5) over connections of every transport.
 *
 * <h2>Hot and idle connections</h2>
 * A connection is <em>hot</em> while the poller's thread serves it: it was ready lately, and the poller checks
 * it directly (a read of its ring, or of its socket's buffered frames) at every {@link #poll()}, round-robin.
 * When the poller finds nothing and is about to sleep, every hot connection becomes <em>idle</em>: handed to a
 * watcher — an {@link ShmWatcher} thread (at most {@value ShmWatcher#CAPACITY} shared-memory connections each,
 * one {@code futex_waitv} on their tripwires) or the one {@link SocketWatcher} (a selector) — which posts its
 * token to the {@link TokenQueue} the first time it becomes ready, rings the doorbell (an unpark, only if the
 * poller sleeps), and stops watching it. So a busy connection costs no system call and no watcher, an idle
 * one costs nothing per message, and an event costs O(1) whatever the number of connections; a poller that
 * sleeps wakes for the first event of any of them.
 *
 * <h2>Fairness</h2>
 * Each {@link #poll()} first takes one queued event (that connection becomes hot), then looks at the hot
 * connections round-robin from where the last call stopped: a ready connection waits at most one pass over the
 * hot ones ({@link #MAX_HOT}) before it is returned.
 *
 * <h2>Threads</h2>
 * One thread at a time calls {@link #add}, {@link #remove}, {@link #poll}, {@link #await} and reads the
 * connections it returns; watchers only read rings and sockets' readiness. {@link #close()} stops the watchers.
 * Any thread may {@link #wakeup()} the one in {@link #await} (as {@link java.nio.channels.Selector#wakeup()}).
 */
public final class EventPoller implements Poller {
    /** Connections served directly by the poller's thread at most; the least active go idle beyond it. */
    static final int MAX_HOT = 64;
    /** Connections one poller takes at most unless told otherwise. */
    public static final int DEFAULT_CAPACITY = 1 << 16;

    /**
     * One connection in this poller, and who has it: {@link #HOT} the poller's thread, {@link #WATCHED} a watcher,
     * {@link #QUEUED} its token is in the event queue. Only the watcher's CAS WATCHED → QUEUED (or the poller's, at a
     * removal) posts it, so a token is in the queue once and a watcher that lost the race just forgets the entry.
     */
    static final class Entry {
        static final int HOT = 0, WATCHED = 1, QUEUED = 2;
        private static final java.lang.invoke.VarHandle STATE;

        static {
            try {
                STATE = java.lang.invoke.MethodHandles.lookup().findVarHandle(Entry.class, "state", int.class);
            } catch (ReflectiveOperationException e) {
                throw new ExceptionInInitializerError(e);
            }
        }

        final LiveConnection connection;
        final int token;
        volatile boolean removed;
        private volatile int state = HOT;
        boolean hot;      // the poller's thread: in hot[]
        int idleChecks;   // the poller's thread: checks in a row that found it not ready while hot

        Entry(LiveConnection connection, int token) {
            this.connection = connection;
            this.token = token;
        }

        int state() {
            return state;
        }

        boolean watchedToQueued() {
            return STATE.compareAndSet(this, WATCHED, QUEUED);
        }
    }

    private final WaitMode mode;
    private final long spinNanos;
    private final int capacity;
    private final Entry[] entries;   // by token; written by the poller's thread, read by watchers
    private final Map<Connection, Entry> byConnection = new IdentityHashMap<>();
    private final int[] freeTokens;
    private int freeCount;
    private final TokenQueue events;
    private final Entry[] hot = new Entry[MAX_HOT];
    private int hotCount;
    private int next;   // round-robin position in hot[]
    private final List<ShmWatcher> watchers = new ArrayList<>();
    private SocketWatcher sockets;   // made at the first socket connection
    private volatile Thread sleeper;   // the poller's thread while it parks (the doorbell)
    private volatile boolean wakeRequested;   // wakeup(): the next or current await returns
    private Pipe pipe;                 // selectable(): made on demand
    private volatile boolean pipeArmed;   // a byte goes into the pipe at the next event
    private volatile boolean pipeWritten; // a byte may be in the pipe: poll() reads it out (else no system call)
    private final ByteBuffer one = ByteBuffer.allocate(1);
    private final ByteBuffer drain = ByteBuffer.allocate(64);
    private Connection found;
    private final Waiter.Condition anyReady = () -> (found = poll()) != null || wakeRequested;
    private boolean closed;

    public EventPoller(WaitMode mode, long spinNanos) {
        this(mode, spinNanos, DEFAULT_CAPACITY);
    }

    public EventPoller(WaitMode mode, long spinNanos, int capacity) {
        if (capacity < 1) throw new IllegalArgumentException("a Poller of " + capacity + " connections");
        this.mode = mode;
        this.spinNanos = spinNanos;
        this.capacity = capacity;
        this.entries = new Entry[capacity];
        this.freeTokens = new int[capacity];
        for (int i = 0; i < capacity; i++) freeTokens[i] = capacity - 1 - i;
        this.freeCount = capacity;
        this.events = new TokenQueue(capacity);
    }

    // ---- watchers' side ----

    /**
     * A watcher: the entry of {@code token} if a watcher should have it now (WATCHED), else null (a stale token of
     * an entry removed since: forget it).
     */
    Entry watched(int token) {
        Entry e = entries[token];   // plain: the token came through a queue after the entry was stored
        return e != null && e.state() == Entry.WATCHED ? e : null;
    }

    /**
     * A watcher: {@code e} is ready (or needs the poller: removed, switched to another kind of leg). Queues it and
     * rings the doorbell; false if the watcher no longer had it (removed meanwhile: forget it).
     */
    boolean post(Entry e) {
        if (!e.watchedToQueued()) return false;
        enqueue(e);
        return true;
    }

    private void enqueue(Entry e) {
        events.offer(e.token);
        if (pipeArmed) notifyPipe();
        Thread t = sleeper;   // volatile: after the offer (Dekker with await's sleeper = self; events re-check)
        if (t != null) LockSupport.unpark(t);
    }

    /** The poller's thread: {@code e} goes to its watcher. */
    private void handOff(Entry e) {
        e.state = Entry.WATCHED;   // volatile: before the watcher can see the token
        if (e.connection.watchable() != null) {
            shmWatcher().watch(e);
        } else {
            socketWatcher().watch(e);
        }
    }

    private void notifyPipe() {
        if (!pipeArmed) return;
        pipeArmed = false;
        pipeWritten = true;   // volatile: before the byte, so a poll that reads the pipe after it sees it
        try {
            synchronized (one) {   // watchers and the poller's thread may race here; not the data path (once per sleep)
                one.clear();
                pipe.sink().write(one);
            }
        } catch (IOException e) {
            // the pipe is full (the selector will fire anyway) or closed with the poller
        }
    }

    // ---- the Poller ----

    @Override
    public void add(Connection c) {
        if (closed) throw new IllegalStateException("the Poller is closed");
        if (!(c instanceof LiveConnection l)) throw new IllegalArgumentException(c + " is not a Fable connection of this library");
        if (byConnection.containsKey(c)) throw new IllegalArgumentException(c + " is in this Poller already");
        if (freeCount == 0) {
            throw new IllegalStateException("this Poller holds " + capacity + " connections, its capacity (Fable.poller(mode, capacity) "
                    + "makes a larger one)");
        }
        Entry e = new Entry(l, freeTokens[--freeCount]);
        entries[e.token] = e;
        byConnection.put(c, e);
        l.readinessHook(() -> post(e));   // a switch's events and new legs: whoever watches it may not see them
        makeHot(e);   // checked at the next poll; idle at the next sleep
    }

    @Override
    public boolean remove(Connection c) {
        Entry e = byConnection.remove(c);
        if (e == null) return false;
        e.connection.readinessHook(null);
        e.removed = true;
        if (e.hot) {
            dropHot(e);
            freeToken(e);
        } else if (e.watchedToQueued()) {
            enqueue(e);   // taken from its watcher (which forgets it): the token is freed when the queue gives it back
        }   // else queued already: freed when taken
        return true;
    }

    private void freeToken(Entry e) {
        entries[e.token] = null;
        freeTokens[freeCount++] = e.token;
    }

    @Override
    public Connection poll() {
        if (pipeWritten) {   // only after a notification: a poll makes no system call otherwise
            pipeWritten = false;
            drainPipe();
        }
        int t = events.poll();
        if (t >= 0) {
            Entry e = entries[t];
            if (e != null && e.state() == Entry.QUEUED) {
                e.state = Entry.HOT;
                if (e.removed) {
                    freeToken(e);
                } else {
                    makeHot(e);
                }
            }
        }
        for (int i = 0, n = hotCount; i < n; i++) {
            int k = next + i;
            if (k >= n) k -= n;
            Entry e = hot[k];
            if (ready(e)) {
                e.idleChecks = 0;
                next = k + 1 >= n ? 0 : k + 1;
                return e.connection;
            }
            e.idleChecks++;
        }
        return null;
    }

    /**
     * Any thread: the thread in {@link #await} returns at once (with a ready connection, or null), or, if none
     * waits, the next {@code await} does. For the owner of a poller that takes work from other threads (a queue it
     * reads after each await).
     */
    public void wakeup() {
        wakeRequested = true;   // volatile: before reading sleeper (Dekker with await's sleeper = self; re-check)
        Thread t = sleeper;
        if (t != null) LockSupport.unpark(t);
    }

    /** True, once, if {@link #wakeup()} was called since the last time. */
    private boolean woken() {
        if (!wakeRequested) return false;
        wakeRequested = false;
        return true;
    }

    @Override
    public Connection await(Duration timeout) {
        Connection c = poll();
        if (c != null || woken() || byConnection.isEmpty()) return c;
        long deadline = Waiter.deadline(timeout.toNanos());
        if (Waiter.spin(anyReady, mode, spinNanos, deadline, 1)) {
            if (found == null) woken();
            return found;
        }
        while (true) {
            if (deadline != Waiter.FOREVER && deadline - System.nanoTime() <= 0) return poll();
            if (mode == WaitMode.SPIN) {
                if ((c = poll()) != null || woken()) return c;
                Thread.onSpinWait();
                continue;
            }
            goIdle();
            if (hotCount > 0) {   // data came since the last poll: those stayed hot, and no watcher would post them
                if ((c = poll()) != null || woken()) return c;
                continue;   // not ready after all: the next goIdle hands them over
            }
            sleeper = Thread.currentThread();   // volatile: before the re-check (Dekker with post and wakeup)
            if (events.isEmpty() && !wakeRequested) {
                if (deadline == Waiter.FOREVER) LockSupport.park(this);
                else LockSupport.parkNanos(this, deadline - System.nanoTime());
            }
            sleeper = null;
            if ((c = poll()) != null || woken()) return c;
        }
    }

    /** Ready to poll, or ended; a connection closed under us (its files unmapped) counts as ready: its poll says so. */
    private static boolean ready(Entry e) {
        try {
            return e.connection.readReady();
        } catch (RuntimeException closed) {
            return true;
        }
    }

    /** Every hot connection goes to its watcher (the poller is about to sleep, or to let a Selector wait for it). */
    private void goIdle() {
        for (int i = hotCount - 1; i >= 0; i--) idle(hot[i]);
    }

    /** {@code e} leaves the hot set for its watcher, unless it is ready now (then it stays). */
    private void idle(Entry e) {
        if (ready(e)) return;   // ready after all: the next poll returns it
        dropHot(e);
        handOff(e);
    }

    private ShmWatcher shmWatcher() {
        for (ShmWatcher w : watchers) if (w.hasRoom()) return w;
        ShmWatcher w = new ShmWatcher(this, capacity, watchers.size());
        watchers.add(w);
        return w;
    }

    private SocketWatcher socketWatcher() {
        if (sockets == null) {
            try {
                sockets = new SocketWatcher(this, capacity);
            } catch (IOException e) {
                throw new UncheckedIOException("a Poller could not open its selector", e);
            }
        }
        return sockets;
    }

    private void makeHot(Entry e) {
        if (hotCount == MAX_HOT) {   // room: the hot connection that was idle longest goes to its watcher
            Entry coldest = hot[0];
            for (int i = 1; i < hotCount; i++) if (hot[i].idleChecks > coldest.idleChecks) coldest = hot[i];
            dropHot(coldest);
            handOff(coldest);
        }
        e.hot = true;
        e.idleChecks = 0;
        hot[hotCount++] = e;
    }

    private void dropHot(Entry e) {
        for (int i = 0; i < hotCount; i++) {
            if (hot[i] == e) {
                hot[i] = hot[--hotCount];
                hot[hotCount] = null;
                if (next >= hotCount) next = 0;
                break;
            }
        }
        e.hot = false;
    }

    @Override
    public SelectableChannel selectable() {
        if (pipe == null) {
            try {
                pipe = Pipe.open();
                pipe.source().configureBlocking(false);
                pipe.sink().configureBlocking(false);
            } catch (IOException e) {
                throw new UncheckedIOException("a Poller could not open its pipe", e);
            }
        }
        return pipe.source();
    }

    @Override
    public void armSelectable() {
        selectable();
        goIdle();
        pipeArmed = true;   // volatile: before the re-check (Dekker with post)
        if (!events.isEmpty() || hotCount > 0) notifyPipe();
    }

    private void drainPipe() {
        try {
            while (true) {
                drain.clear();
                if (pipe.source().read(drain) <= 0) return;
            }
        } catch (IOException e) {
            // closed with the poller
        }
    }

    @Override
    public int size() {
        return byConnection.size();
    }

    @Override
    public void close() {
        if (closed) return;
        closed = true;
        for (Entry e : byConnection.values()) {
            e.connection.readinessHook(null);
            e.removed = true;
            e.watchedToQueued();   // watchers forget it
        }
        byConnection.clear();
        hotCount = 0;
        for (ShmWatcher w : watchers) w.stop();
        if (sockets != null) sockets.stop();
        if (pipe != null) {
            try {
                pipe.sink().close();
                pipe.source().close();
            } catch (IOException ignored) {
                // closing
            }
        }
    }
}
