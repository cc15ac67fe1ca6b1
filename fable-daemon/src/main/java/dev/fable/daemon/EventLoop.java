package dev.fable.daemon;

import java.io.IOException;
import java.nio.channels.SelectionKey;
import java.nio.channels.Selector;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.Executor;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;
import java.util.function.LongUnaryOperator;

import static java.lang.System.Logger.Level.WARNING;

/**
 * The daemon's one thread, the loop thread: the thread that calls {@link #run}. Each turn it waits on the
 * selector (the Unix socket, the peer port, every connection) until something is ready or the earliest
 * deadline of a part of the daemon comes (at most 1 s), runs the tasks other threads posted
 * ({@link #execute}: the answers of peer lookups), hands the ready keys on, then the housekeeping. All
 * the daemon's state is confined to this thread; other threads only post tasks and {@link #stop}.
 *
 * <p>{@link #execute} and {@link #stop}: any thread. The rest: the loop thread (and the constructor's).
 */
final class EventLoop implements Executor {
    private static final System.Logger LOG = System.getLogger(EventLoop.class.getName());

    /** The periodic work of a turn; it may throw, the loop logs and goes on. */
    interface Housekeeping {
        void run(long now) throws IOException;
    }

    private final Selector selector;
    private final ConcurrentLinkedQueue<Runnable> tasks = new ConcurrentLinkedQueue<>();
    private volatile boolean running = true;

    EventLoop() throws IOException {
        selector = Selector.open();
    }

    /** The selector, to register channels with (loop thread). */
    Selector selector() {
        return selector;
    }

    /**
     * Turns until {@link #stop}.
     *
     * @param wakeAt the earliest deadline of the daemon's parts, given one (the idle and stalled-client checks' 1 s)
     */
    void run(LongUnaryOperator wakeAt, Consumer<SelectionKey> ready, Housekeeping housekeeping) {
        while (running) {
            try {
                long now = System.nanoTime();
                long next = wakeAt.applyAsLong(now + TimeUnit.SECONDS.toNanos(1));
                selector.select(Math.max(1, TimeUnit.NANOSECONDS.toMillis(next - now + 999_999)));
                Runnable t;
                while ((t = tasks.poll()) != null) t.run();
                for (SelectionKey k : selector.selectedKeys()) ready.accept(k);
                selector.selectedKeys().clear();
                housekeeping.run(System.nanoTime());
            } catch (IOException | RuntimeException e) {
                LOG.log(WARNING, "event loop error (continuing): " + e);
            }
        }
    }

    /** Runs {@code task} on the loop thread, soon (any thread). */
    @Override
    public void execute(Runnable task) {
        tasks.add(task);
        selector.wakeup();
    }

    /** Ends {@link #run} after the current turn (any thread). */
    void stop() {
        running = false;
        selector.wakeup();
    }

    /** Closes the selector, after {@link #run} returned. */
    void close() throws IOException {
        selector.close();
    }
}
