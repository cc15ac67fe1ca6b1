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
        long deadline = start + limit.toNanos();
        while (!condition.getAsBoolean()) {
            if (System.nanoTime() - deadline >= 0) {
                throw new AssertionError("not within " + limit + ": " + what.get());
            }
            Thread.yield();
        }
        return System.nanoTime() - start;
    }
}
