package dev.fable.endpoint;

import dev.fable.Connection;
import dev.fable.WaitMode;

import java.time.Duration;
import java.util.ArrayList;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import java.util.Queue;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.locks.LockSupport;

/**
 * The one thread that serves every {@link LocalRelay} of this process: one {@link EventPoller} over both
 * connections of each relay. A ready connection is served by its relay's direction that reads it
 * ({@link LocalRelay.Pump#serve}); a direction whose target had no room holds that buffer and leaves the poller
 * until a retry places it (retried every turn, with parks backing off from 1 µs to 1 ms while any direction
 * waits so); a relay ending cleanly waits, without blocking the thread, until its target has flushed.
 *
 * <p>Other threads only {@link #execute} tasks (start a relay, close one): queued, and the loop woken. Everything
 * else, and every task, runs on the loop thread. The thread starts with the first relay and then stays (a daemon
 * thread that parks without a deadline while there is no relay).
 */
final class RelayLoop implements Runnable {
    private static final Duration FOREVER = Duration.ofNanos(-1);
    /** The parks while a direction waits: 1 µs doubling to about 1 ms (made once: the loop allocates nothing per turn). */
    private static final Duration[] PARKS = new Duration[11];

    static {
        for (int i = 0; i < PARKS.length; i++) PARKS[i] = Duration.ofNanos(1_000L << i);
    }
    private static RelayLoop shared;   // guarded by RelayLoop.class

    private final EventPoller poller = new EventPoller(WaitMode.ADAPTIVE, 20_000);
    private final Queue<Runnable> tasks = new ConcurrentLinkedQueue<>();
    private final Thread thread = Thread.ofPlatform().daemon().name("fable-relays").unstarted(this);
    // loop thread only
    private final Map<Connection, LocalRelay.Pump> bySource = new IdentityHashMap<>();
    private final List<LocalRelay.Pump> waiting = new ArrayList<>();   // hold a buffer, or wait for their target's flush
    private int park;   // index into PARKS

    private RelayLoop() {
    }

    /** The process's relay loop, started on first use. */
    static synchronized RelayLoop shared() {
        if (shared == null) {
            shared = new RelayLoop();
            shared.thread.start();
        }
        return shared;
    }

    /** Any thread: runs {@code task} on the loop thread soon. */
    void execute(Runnable task) {
        tasks.add(task);
        poller.wakeup();
        LockSupport.unpark(thread);   // when it parks without a poller's await (no relay yet)
    }

    /** True on the loop thread. */
    boolean inLoop() {
        return Thread.currentThread() == thread;
    }

    /** Loop thread: {@code p} reads {@code source} (from now on only this thread reads it). */
    void watch(Connection source, LocalRelay.Pump p) {
        bySource.put(source, p);
        poller.add(source);
    }

    /** Loop thread: stop reading {@code source} (for good, or until {@link #resume}). */
    void pause(Connection source) {
        poller.remove(source);
    }

    /** Loop thread: read {@code source} again (its pump placed what it held). */
    void resume(Connection source) {
        if (bySource.containsKey(source)) poller.add(source);
    }

    /** Loop thread: {@code source}'s relay ended. */
    void forget(Connection source) {
        if (bySource.remove(source) != null) poller.remove(source);
    }

    /** Loop thread: {@code p} must be looked at every turn until it says it is done ({@link LocalRelay.Pump#retry}). */
    void retryEveryTurn(LocalRelay.Pump p) {
        if (!waiting.contains(p)) waiting.add(p);
    }

    @Override
    public void run() {
        while (true) {
            try {
                turn();
            } catch (RuntimeException | Error e) {   // a bug: the other relays keep their thread
                System.getLogger("dev.fable").log(System.Logger.Level.ERROR, "relay loop: " + e, e);
            }
        }
    }

    private void turn() {
        for (Runnable t; (t = tasks.poll()) != null; ) t.run();
        boolean progress = false;
        for (int i = waiting.size() - 1; i >= 0; i--) {
            LocalRelay.Pump p = waiting.get(i);
            int r = p.retry();
            if (r != LocalRelay.Pump.STILL_WAITING) {
                progress = true;
                if (r == LocalRelay.Pump.DONE) waiting.remove(i);
            }
        }
        park = progress ? 0 : Math.min(park + 1, PARKS.length - 1);
        if (poller.size() == 0) {   // no source to read (no relay, or every direction waits): an await would return at once
            if (tasks.isEmpty()) {
                if (waiting.isEmpty()) LockSupport.park(this);   // execute() unparks
                else LockSupport.parkNanos(this, PARKS[park].toNanos());
            }
            return;
        }
        Connection c = poller.await(waiting.isEmpty() ? FOREVER : PARKS[park]);
        if (c == null) return;
        LocalRelay.Pump p = bySource.get(c);
        if (p == null) {
            poller.remove(c);   // its relay ended meanwhile
            return;
        }
        p.serve();
    }
}
