package dev.fable;

import java.time.Duration;
import java.util.Objects;

/**
 * Immutable options for one side of a connection: how this side reads (trusted zero-copy or a private
 * copy), how it waits, and the shape of the pool it writes into. Each side owns the pool for the
 * direction it writes, so each side's options shape its own outgoing direction.
 *
 * <pre>{@code
 * ConnectOptions.trusted().waitMode(WaitMode.SPIN).slotSize(4096).slotCount(1024)
 * }</pre>
 */
public final class ConnectOptions {
    /** Default slot size: 64 KiB (a 16 MiB message spans 256 slots). */
    public static final int DEFAULT_SLOT_SIZE = 64 * 1024;
    /** Default slot count per direction (8 MiB of /dev/shm per direction with the default slot size). */
    public static final int DEFAULT_SLOT_COUNT = 128;
    /** Largest slot: one slot pointer encodes lengths up to this. */
    public static final int MAX_SLOT_SIZE = 1 << 30;
    /** Most slots in one pool: a slot pointer has 24 bits of slot index. */
    public static final int MAX_SLOT_COUNT = 1 << 24;

    private final boolean trusted;
    private final WaitMode waitMode;
    private final long spinNanos;
    private final int slotSize;
    private final int slotCount;
    private final int readQuota;
    private final Duration connectTimeout;
    private final int maxMessageSize;
    private final boolean fixedWaitMode;

    private ConnectOptions(boolean trusted, WaitMode waitMode, long spinNanos, int slotSize, int slotCount,
                           int readQuota, Duration connectTimeout, int maxMessageSize, boolean fixedWaitMode) {
        this.fixedWaitMode = fixedWaitMode;
        this.trusted = trusted;
        this.waitMode = waitMode;
        this.spinNanos = spinNanos;
        this.slotSize = slotSize;
        this.slotCount = slotCount;
        this.readQuota = readQuota;
        this.connectTimeout = connectTimeout;
        this.maxMessageSize = maxMessageSize;
    }

    /** The peer is trusted: read buffers are the peer's shared memory itself (zero copy). */
    public static ConnectOptions trusted() {
        return new ConnectOptions(true, WaitMode.ADAPTIVE, 20_000, DEFAULT_SLOT_SIZE, DEFAULT_SLOT_COUNT, 0,
                Duration.ZERO, 64 << 20, false);
    }

    /** The peer is not trusted: every read buffer is a private copy taken after the peer committed. */
    public static ConnectOptions untrusted() {
        return trusted().trust(false);
    }

    public ConnectOptions trust(boolean trustPeer) {
        return new ConnectOptions(trustPeer, waitMode, spinNanos, slotSize, slotCount, readQuota, connectTimeout, maxMessageSize, fixedWaitMode);
    }

    public ConnectOptions waitMode(WaitMode mode) {
        return new ConnectOptions(trusted, Objects.requireNonNull(mode, "mode"), spinNanos, slotSize, slotCount,
                readQuota, connectTimeout, maxMessageSize, fixedWaitMode);
    }

    /**
     * {@code true}: no policy may change this side's wait mode (the daemon's contention policy leaves the
     * connection alone even when both ends spin on one CPU). For benchmarks that spin on one core on purpose.
     * Default false.
     */
    public ConnectOptions fixedWaitMode(boolean fixed) {
        return new ConnectOptions(trusted, waitMode, spinNanos, slotSize, slotCount, readQuota, connectTimeout, maxMessageSize, fixed);
    }

    /** Spin budget of {@link WaitMode#ADAPTIVE} before sleeping. */
    public ConnectOptions spin(Duration budget) {
        long n = budget.toNanos();
        if (n < 0) throw new IllegalArgumentException("spin budget must not be negative: " + budget);
        return new ConnectOptions(trusted, waitMode, n, slotSize, slotCount, readQuota, connectTimeout, maxMessageSize, fixedWaitMode);
    }

    /** Bytes per slot of the pool this side writes into: a multiple of 64 (a cache line), 64 B … 1 GiB. */
    public ConnectOptions slotSize(int bytes) {
        if (bytes < 64 || bytes > MAX_SLOT_SIZE || bytes % 64 != 0) {
            throw new IllegalArgumentException("slotSize must be a multiple of 64 between 64 and " + MAX_SLOT_SIZE + ": " + bytes);
        }
        return new ConnectOptions(trusted, waitMode, spinNanos, bytes, slotCount, readQuota, connectTimeout, maxMessageSize, fixedWaitMode);
    }

    /** Slots in the pool this side writes into: the most messages (fragments) in flight, 2 … 2^24. */
    public ConnectOptions slotCount(int count) {
        if (count < 2 || count > MAX_SLOT_COUNT) {
            throw new IllegalArgumentException("slotCount must be between 2 and " + MAX_SLOT_COUNT + ": " + count);
        }
        return new ConnectOptions(trusted, waitMode, spinNanos, slotSize, count, readQuota, connectTimeout, maxMessageSize, fixedWaitMode);
    }

    /**
     * Most read buffers this side may hold at once before {@link Connection#poll()} throws
     * {@link QuotaExceededException}. 0 (default) means: every slot of the peer's pool when trusted,
     * min(32, slots) private copies when untrusted.
     */
    public ConnectOptions readQuota(int buffers) {
        if (buffers < 0) throw new IllegalArgumentException("readQuota must not be negative: " + buffers);
        return new ConnectOptions(trusted, waitMode, spinNanos, slotSize, slotCount, buffers, connectTimeout, maxMessageSize, fixedWaitMode);
    }

    /** How long {@code connect} waits for a listener to appear; zero (default) fails at once. */
    public ConnectOptions connectTimeout(Duration timeout) {
        if (timeout.isNegative()) throw new IllegalArgumentException("connectTimeout must not be negative");
        return new ConnectOptions(trusted, waitMode, spinNanos, slotSize, slotCount, readQuota, timeout, maxMessageSize, fixedWaitMode);
    }

    /** Largest message {@link Connection#receiveMessage} reassembles (default 64 MiB); larger fails the connection. */
    public ConnectOptions maxMessageSize(int bytes) {
        if (bytes < 1) throw new IllegalArgumentException("maxMessageSize must be positive: " + bytes);
        return new ConnectOptions(trusted, waitMode, spinNanos, slotSize, slotCount, readQuota, connectTimeout, bytes, fixedWaitMode);
    }

    public boolean isTrusted() { return trusted; }
    public WaitMode waitMode() { return waitMode; }
    public long spinNanos() { return spinNanos; }
    public int slotSize() { return slotSize; }
    public int slotCount() { return slotCount; }
    public int readQuota() { return readQuota; }
    public Duration connectTimeout() { return connectTimeout; }
    public int maxMessageSize() { return maxMessageSize; }
    public boolean fixedWaitMode() { return fixedWaitMode; }

    @Override
    public String toString() {
        return (trusted ? "trusted" : "untrusted") + ", wait=" + waitMode + ", slots=" + slotCount + "x" + slotSize + "B";
    }
}
