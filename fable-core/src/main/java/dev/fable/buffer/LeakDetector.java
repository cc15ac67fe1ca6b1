package dev.fable.buffer;

import java.lang.ref.PhantomReference;
import java.lang.ref.ReferenceQueue;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Consumer;

/**
 * Reports buffers that became unreachable while handed out (neither committed nor released), like
 * Netty's leak detector but without allocating per buffer: each recyclable {@link SlotBuffer} gets
 * one phantom {@link Token} when it is created. While a buffer sits in its owner's recycle stack
 * it is strongly reachable; once handed out only the application holds it, so if the application
 * drops it the GC enqueues the token and a daemon thread reports the leak.
 *
 * <p>One detector per Fable set-up ({@code Fable.Context.leakDetection}, default
 * {@code -Dfable.leakDetection}): {@link Level#PARANOID} also records where each buffer was claimed
 * (one {@link Throwable} per hand-out: for debugging only), {@link Level#OFF} tracks nothing. Its
 * reporting thread starts with the first tracked buffer and ends with {@link #close()}.
 */
public final class LeakDetector implements AutoCloseable {
    /** How much a detector does. */
    public enum Level {
        /** Nothing is tracked. */
        OFF,
        /** Leaks are reported with the buffer's label (the default). */
        SIMPLE,
        /** Leaks are reported with where the buffer was handed out (a stack trace per hand-out). */
        PARANOID;

        /** {@code off}, {@code simple} or {@code paranoid}, any case. */
        public static Level parse(String s) {
            try {
                return valueOf(s.trim().toUpperCase(java.util.Locale.ROOT));
            } catch (IllegalArgumentException e) {
                throw new IllegalArgumentException("unknown leak detection level '" + s + "'; use off, simple or paranoid", e);
            }
        }
    }

    private static final System.Logger LOG = System.getLogger("dev.fable.leak");

    private final Level level;
    private final ReferenceQueue<SlotBuffer> queue = new ReferenceQueue<>();
    private final AtomicLong leaks = new AtomicLong();
    /** Keeps tokens reachable while their buffers are out (a phantom reference must outlive its referent). */
    private final java.util.Set<Token> roots = java.util.concurrent.ConcurrentHashMap.newKeySet();
    private final java.util.concurrent.atomic.AtomicReference<Thread> reporter = new java.util.concurrent.atomic.AtomicReference<>();
    private volatile boolean closed;
    private volatile Consumer<String> listener;

    public LeakDetector(Level level) {
        this.level = java.util.Objects.requireNonNull(level, "level");
    }

    /** Leaks this detector reported. */
    public long leaksReported() {
        return leaks.get();
    }

    /** Also hands each report to {@code l} (tests, metrics); {@code null} removes it. */
    public void setListener(Consumer<String> l) {
        listener = l;
    }

    /** Stops tracking every token (an owner is closing: its outstanding buffers are no longer leaks). */
    public static void untrackAll(Token[] tokens) {
        for (Token t : tokens) {
            t.untrack();
        }
    }

    Token track(SlotBuffer buffer, String label) {
        if (level != Level.OFF && reporter.get() == null && !closed) {
            Thread t = Thread.ofPlatform().daemon().name("fable-leak-detector").unstarted(this::reportLoop);
            if (reporter.compareAndSet(null, t)) t.start();
        }
        return new Token(this, buffer, label);
    }

    /** Stops the reporting thread; buffers tracked afterwards are not reported. */
    @Override
    public void close() {
        closed = true;
        Thread t = reporter.get();
        if (t != null) t.interrupt();
    }

    private void reportLoop() {
        while (!closed) {
            try {
                Token t = (Token) queue.remove();
                roots.remove(t);
                if (t.outstanding) {
                    leaks.incrementAndGet();
                    String msg = "LEAK: a Fable buffer (" + t.label + ") became unreachable without commit() or release(); "
                            + "its slot stays held until the connection closes. "
                            + (t.claimedAt == null ? "Set the leak detection level to paranoid (-Dfable.leakDetection=paranoid) to see where it was claimed."
                                                   : "It was handed out here:");
                    LOG.log(System.Logger.Level.WARNING, msg, t.claimedAt);
                    Consumer<String> l = listener;
                    if (l != null) l.accept(msg + (t.claimedAt == null ? "" : " " + stack(t.claimedAt)));
                }
            } catch (InterruptedException e) {
                return;
            } catch (RuntimeException e) {
                LOG.log(System.Logger.Level.ERROR, "leak reporting failed", e);
            }
        }
    }

    private static String stack(Throwable t) {
        StringBuilder sb = new StringBuilder();
        for (StackTraceElement e : t.getStackTrace()) sb.append("\n\tat ").append(e);
        return sb.toString();
    }

    /** One per recyclable buffer object, kept strongly by the buffer's owner via the buffer. */
    public static final class Token extends PhantomReference<SlotBuffer> {
        private final LeakDetector detector;
        private final boolean paranoid;   // the detector's level, copied: hand-out and return read only this object
        private final String label;
        // Written by the buffer's thread, read by the reporter after the GC enqueued the token:
        // enqueueing happens after the buffer became unreachable, i.e. after its last use, and the
        // GC's safepoint orders those plain writes before the reporter's read.
        private boolean outstanding;
        private Throwable claimedAt;

        Token(LeakDetector detector, SlotBuffer referent, String label) {
            super(referent, detector.level == Level.OFF ? null : detector.queue);
            this.detector = detector;
            this.paranoid = detector.level == Level.PARANOID;
            this.label = label;
            if (detector.level != Level.OFF) detector.roots.add(this);
        }

        void handedOut() {
            outstanding = true;
            if (paranoid) claimedAt = new Throwable("buffer handed out here");
        }

        void returned() {
            outstanding = false;
            if (paranoid) claimedAt = null;
        }

        /** Stops tracking: the owner is closing and outstanding buffers no longer count as leaks. */
        public void untrack() {
            outstanding = false;
            detector.roots.remove(this);
            clear();
        }
    }
}
