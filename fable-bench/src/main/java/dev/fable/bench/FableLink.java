package dev.fable.bench;

import dev.fable.Buffer;
import dev.fable.ConnectOptions;
import dev.fable.Connection;
import dev.fable.WaitMode;

import java.time.Duration;

/** A Fable connection: claim, fill in place, commit; receive, check in place, release. Zero-copy where the transport is. */
final class FableLink extends Link {
    private static final Duration FOREVER = Duration.ofSeconds(-1);
    final Connection c;

    FableLink(Connection c) {
        this.c = c;
    }

    /**
     * The log of a row that sends small messages: 64 MiB, as Aeron's IPC term and the {@code raw-ring}
     * yardstick, because a log larger than the caches is what small messages across cores need here
     * (docs/BENCHMARKS.md); the library's default is 1 MiB. The peers accept it ({@link PeerJvm}).
     */
    static final long BENCH_LOG_MIB = 64;

    /**
     * Options of a row's connection for messages of {@code size} bytes: slots of the message size,
     * about 2 MiB of pool ({@code -Dfable.bench.poolMiB} for experiments), a 64 MiB log for small
     * messages ({@code -Dfable.bench.logMiB}), the row's wait mode and trust.
     */
    static ConnectOptions options(int size, WaitMode mode, boolean trusted) {
        int slot = Math.max(Pattern.CONTROL_SIZE, (size + 63) / 64 * 64);
        int count = Math.max(16, Math.min(1 << 20, (int) ((Long.getLong("fable.bench.poolMiB", 2) << 20) / slot)));
        long logMiB = Long.getLong("fable.bench.logMiB", size <= ConnectOptions.INLINE_MAX_BYTES ? BENCH_LOG_MIB : ConnectOptions.DEFAULT_LOG_BYTES >> 20);
        int logBytes = (int) Math.min(ConnectOptions.MAX_LOG_BYTES, logMiB << 20);
        return (trusted ? ConnectOptions.trusted() : ConnectOptions.untrusted()).waitMode(mode).slotSize(slot).slotCount(count).logBytes(logBytes)
                .fixedWaitMode(true);   // same-core rows spin on one core on purpose
    }

    @Override
    void send(long seq, int size) {
        Buffer b = c.claim(size, FOREVER);
        Pattern.write(b.segment(), 0, seq, size, args);
        b.commit();
    }

    private Buffer pending;   // polled by awaitQuietly, handed to the next receive

    @Override
    void awaitQuietly() {
        while (pending == null && (pending = c.poll()) == null && c.state() == dev.fable.ConnectionState.OPEN) {
            java.util.concurrent.locks.LockSupport.parkNanos(QUIET_POLL_NANOS);
        }
    }

    @Override
    long receive(boolean verify) {
        Buffer b = pending != null ? pending : c.receive(FOREVER);
        pending = null;
        length = b.length();
        long seq = Pattern.read(b.segment(), 0, length, verify, args);
        b.release();
        return seq;
    }

    @Override
    String transport() {
        return c.transport();
    }

    @Override
    public void close() {
        c.close();
    }
}
