package dev.fable.transport;

/**
 * A service thread owned by one Fable set-up ({@link LegServices}): started on first use, ended by
 * {@link #close()}. Subclasses supply the loop ({@link #run()}, which returns once {@link #closed()}
 * is true) and how to wake it ({@link #wake(Thread)}).
 */
abstract class SetUpThread implements AutoCloseable {
    private final String name;
    private volatile Thread thread;       // written once, under this
    private volatile boolean closed;

    SetUpThread(String name) {
        this.name = name;
    }

    /** Prepares what the loop needs, once, before the thread starts (under this object's lock). */
    void beforeStart() {}

    abstract void run();

    /** Makes the thread notice {@link #closed()} (or new work) now. */
    abstract void wake(Thread t);

    final boolean closed() {
        return closed;
    }

    /** The thread, started on the first call; null once closed. Lock-free once started (senders call it). */
    final Thread started() {
        Thread t = thread;
        if (t != null) return closed ? null : t;
        return startOnce();
    }

    private synchronized Thread startOnce() {
        if (closed) return null;
        if (thread == null) {
            beforeStart();
            thread = Thread.ofPlatform().daemon().name(name).start(this::run);
        }
        return thread;
    }

    /** True while the thread runs (tests: a closed set-up leaves no thread behind). */
    public final synchronized boolean running() {
        return thread != null && thread.isAlive();
    }

    /** Ends the thread and waits for it. */
    @Override
    public final void close() {
        Thread t;
        synchronized (this) {
            if (closed) return;
            closed = true;
            t = thread;
        }
        if (t == null) return;
        wake(t);
        try {
            t.join();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
