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
 * <p>{@code -Dfable.leakDetection=paranoid} also records where each buffer was claimed (one
 * {@link Throwable} per hand-out: for debugging only). {@code -Dfable.leakDetection=off} disables it.
 */
public final class LeakDetector {
    private LeakDetector() {}

    private static final String MODE = System.getProperty("fable.leakDetection", "simple");
    private static final boolean ENABLED = !"off".equals(MODE);
    private static final boolean PARANOID = "paranoid".equals(MODE);
    private static final ReferenceQueue<SlotBuffer> QUEUE = new ReferenceQueue<>();
    private static final AtomicLong LEAKS = new AtomicLong();
    private static final System.Logger LOG = System.getLogger("dev.fable.leak");
    private static volatile Consumer<String> listener;

    static {
        if (ENABLED) {
            Thread t = new Thread(LeakDetector::reportLoop, "fable-leak-detector");
            t.setDaemon(true);
            t.start();
        }
    }

    /** Leaks reported since the JVM started. */
    public static long leaksReported() {
        return LEAKS.get();
    }

    /** Also hands each report to {@code l} (tests, metrics); {@code null} removes it. */
    public static void setListener(Consumer<String> l) {
        listener = l;
    }

    /** Stops tracking every token (an owner is closing: its outstanding buffers are no longer leaks). */
    public static void untrackAll(Token[] tokens) {
        for (Token t : tokens) {
            t.untrack();
        }
    }

    static Token track(SlotBuffer buffer, String label) {
        return new Token(buffer, label);
    }

    private static void reportLoop() {
        while (true) {
            try {
                Token t = (Token) QUEUE.remove();
                TokenRoots.remove(t);
                if (t.outstanding) {
                    LEAKS.incrementAndGet();
                    String msg = "LEAK: a Fable buffer (" + t.label + ") became unreachable without commit() or release(); "
                            + "its slot stays held until the connection closes. "
                            + (t.claimedAt == null ? "Run with -Dfable.leakDetection=paranoid to see where it was claimed."
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
        private final String label;
        // Written by the buffer's thread, read by the reporter after the GC enqueued the token:
        // enqueueing happens after the buffer became unreachable, i.e. after its last use, and the
        // GC's safepoint orders those plain writes before the reporter's read.
        private boolean outstanding;
        private Throwable claimedAt;

        Token(SlotBuffer referent, String label) {
            super(referent, ENABLED ? QUEUE : null);
            this.label = label;
            TokenRoots.add(this);
        }

        void handedOut() {
            outstanding = true;
            if (PARANOID) claimedAt = new Throwable("buffer handed out here");
        }

        void returned() {
            outstanding = false;
            if (PARANOID) claimedAt = null;
        }

        /** Stops tracking: the owner is closing and outstanding buffers no longer count as leaks. */
        public void untrack() {
            outstanding = false;
            TokenRoots.remove(this);
            clear();
        }
    }

    /** Keeps tokens reachable while their buffers are out (a phantom reference must outlive its referent). */
    private static final class TokenRoots {
        private static final java.util.Set<Token> ROOTS = java.util.concurrent.ConcurrentHashMap.newKeySet();

        static void add(Token t) {
            if (ENABLED) ROOTS.add(t);
        }

        static void remove(Token t) {
            ROOTS.remove(t);
        }
    }
}
