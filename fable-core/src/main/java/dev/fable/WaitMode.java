package dev.fable;

/**
 * How a thread waits for data (or for free buffers) on a connection: the software tripwire of the
 * design. The choice is per side and per connection; the peer is told, so a signaller whose peer
 * never sleeps skips even the check.
 */
public enum WaitMode {
    /** Busy-poll with {@link Thread#onSpinWait()}. Lowest latency; burns a core; never use when both ends share one. */
    SPIN,
    /** Sleep on a futex at once (one system call per wait; the wake-up latency measured here is in docs/BENCHMARKS.md). */
    BLOCK,
    /** Spin for {@link ConnectOptions#spinNanos()} (20 µs by default), then sleep on the futex. The default. */
    ADAPTIVE
}
