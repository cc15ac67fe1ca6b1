package dev.fable.transport;

import java.io.IOException;
import java.nio.channels.Selector;
import java.util.concurrent.TimeUnit;

/** Waiting in a selector under an accept-style timeout (setup paths: listeners). */
public final class Selectors {
    private Selectors() {}

    /**
     * Sleeps in {@code selector} until something is ready or {@code deadline} ({@link System#nanoTime()}
     * based) passes. {@code timeoutNanos} is the caller's original timeout: 0 never waits, negative
     * waits without limit. Returns false when the time is up (the caller gives up), true to try again.
     */
    public static boolean awaitReady(Selector selector, long timeoutNanos, long deadline) throws IOException {
        if (timeoutNanos == 0) return false;
        long wait = 0;
        if (timeoutNanos > 0) {
            long left = deadline - System.nanoTime();
            if (left <= 0) return false;
            wait = Math.max(1, TimeUnit.NANOSECONDS.toMillis(left));
        }
        selector.select(wait);
        selector.selectedKeys().clear();
        return true;
    }
}
