package dev.fable.testing;

import java.time.Duration;
import java.util.function.BooleanSupplier;
import java.util.function.Supplier;

/** Bounded polling of an observable condition: the only waiting tests do besides reading peer lines. */
public final class Await {
    private Await() {}

    /**
     * Polls {@code condition} until it holds and returns the nanoseconds that took; fails with
     * {@code what} if {@code limit} passes first. Yields between polls (no sleeping).
     */
    public static long until(BooleanSupplier condition, Duration limit, Supplier<String> what) {
        long start = System.nanoTime();
        if (!within(condition, limit)) throw new AssertionError("not within " + limit + ": " + what.get());
        return System.nanoTime() - start;
    }

    /**
     * Polls {@code condition} until it holds (true) or {@code limit} passes (false): for a test that
     * counts the cases where it does not hold instead of failing at the first. Yields between polls.
     */
    public static boolean within(BooleanSupplier condition, Duration limit) {
        long deadline = System.nanoTime() + limit.toNanos();
        while (!condition.getAsBoolean()) {
            if (System.nanoTime() - deadline >= 0) return false;
            Thread.yield();
        }
        return true;
    }
}
