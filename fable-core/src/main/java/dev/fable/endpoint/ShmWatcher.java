package dev.fable.endpoint;

import dev.fable.sync.AsymmetricFence;
import dev.fable.sync.Futex2;
import dev.fable.sync.Tripwire;
import dev.fable.sync.Waiter;
import dev.fable.transport.Pollable;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * One thread of an {@link EventPoller} that sleeps on the tripwires of up to {@link #CAPACITY} idle
 * shared-memory connections at once (one {@code futex_waitv}, whose 128 words are these and the watcher's own
 * control word) and posts each that becomes ready to the poller's event queue, once: then it stops watching it
 * until the poller hands it back ({@link #watch}). Its only duty; it never reads a connection's data.
 *
 * <p>Threads: the poller's thread calls {@link #watch}, {@link #hasRoom}; everything else is this watcher's.
 * A hand-back goes through a {@link TokenQueue} and the control tripwire (a futex wake only when the watcher
 * sleeps), so the poller never waits for the watcher.
 */
final class ShmWatcher implements Runnable {
    /** Connections per watcher: futex_waitv's 128 words, less the control word. */
    static final int CAPACITY = Futex2.MAX_WORDS - 1;

    private final EventPoller poller;
    private final TokenQueue handedBack;
    private final Tripwire control;
    private final AtomicInteger assigned = new AtomicInteger();   // watched, or handed back and not yet taken
    private final Futex2 futex = new Futex2();
    private final EventPoller.Entry[] watching = new EventPoller.Entry[CAPACITY];
    private final Pollable[] wires = new Pollable[CAPACITY];
    private int count;
    private volatile boolean stop;
    private final Thread thread;

    ShmWatcher(EventPoller poller, int tokens, int number) {
        this.poller = poller;
        this.handedBack = new TokenQueue(tokens);
        MemorySegment word = Arena.ofAuto().allocate(128, 64);
        this.control = new Tripwire(word, 0);
        this.thread = Thread.ofPlatform().daemon().name("fable-poller-watch-" + number).unstarted(this);
        thread.start();
    }

    /** The poller's thread: room for one more connection (counting those handed back and not yet taken in). */
    boolean hasRoom() {
        return assigned.get() < CAPACITY;
    }

    /** The poller's thread: watch {@code e} (idle now) until it becomes ready, then post it. Call only if {@link #hasRoom}. */
    void watch(EventPoller.Entry e) {
        assigned.incrementAndGet();
        handedBack.offer(e.token);
        control.signal();   // a futex wake only if the watcher sleeps
    }

    void stop() {
        stop = true;
        control.wakeAll();
    }

    @Override
    public void run() {
        while (!stop) {
            takeHandedBack();
            futex.clear();
            control.armWithoutFence();
            futex.add(control.address(), control.generation());
            for (int i = 0; i < count; ) {
                if (watching[i].state() != EventPoller.Entry.WATCHED) {   // removed from the poller: forget it
                    forget(i);
                    continue;
                }
                try {
                    Tripwire w = wires[i].readWire();
                    w.armWithoutFence();
                    futex.add(w.address(), w.generation());
                    i++;
                } catch (RuntimeException closed) {   // its files were unmapped under us (closed): the poller meets its end
                    EventPoller.Entry e = watching[i];
                    forget(i);
                    poller.post(e);
                }
            }
            AsymmetricFence.heavy();   // a writer that published before our arming is seen below; one after it sees the arming
            boolean found = postReady() | !handedBack.isEmpty();
            if (!found && !stop) futex.await(Waiter.FOREVER);
            control.disarm();
            for (int i = 0; i < count; i++) {
                try {
                    wires[i].readWire().disarm();
                } catch (RuntimeException closed) {
                    // unmapped: postReady below posts it
                }
            }
            postReady();
        }
    }

    /** Stops watching the entry at {@code i} (the last one takes its place). */
    private void forget(int i) {
        watching[i] = watching[--count];
        wires[i] = wires[count];
        watching[count] = null;
        wires[count] = null;
        assigned.decrementAndGet();
    }

    /** Takes in the connections the poller handed back. */
    private void takeHandedBack() {
        for (int t; (t = handedBack.poll()) >= 0; ) {
            EventPoller.Entry e = poller.watched(t);
            if (e == null || count == CAPACITY) {   // removed meanwhile (a stale token); the count guards against a double hand-back
                assigned.decrementAndGet();
                if (e != null) poller.post(e);
                continue;
            }
            Pollable p = e.connection.watchable();
            if (p == null) {   // its receiving leg is a socket's now: the poller hands it to the selector
                assigned.decrementAndGet();
                poller.post(e);
                continue;
            }
            watching[count] = e;
            wires[count++] = p;
        }
    }

    /** Posts every watched connection that is ready (or removed) and stops watching it. True if any was. */
    private boolean postReady() {
        boolean any = false;
        for (int i = 0; i < count; ) {
            EventPoller.Entry e = watching[i];
            boolean mine = e.state() == EventPoller.Entry.WATCHED;
            if (!mine || e.connection.eventsPending() || readyOrGone(wires[i])) {
                forget(i);
                if (mine && poller.post(e)) any = true;
            } else {
                i++;
            }
        }
        return any;
    }

    /** A read of the ring from this thread: a stale view can only say ready early (the poller re-checks). */
    private static boolean readyOrGone(Pollable p) {
        try {
            return p.dataOrEndSeen();
        } catch (RuntimeException e) {
            return true;   // let the poller's thread meet it
        }
    }
}
