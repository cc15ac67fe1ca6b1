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
    /** Largest message written in place in a shared-memory log (never more than a slot); larger ones take a slot. */
    public static final int INLINE_MAX_BYTES = 512;
    /** Default log per direction: 1 MiB (about 13,000 messages of 64 B in flight). */
    public static final int DEFAULT_LOG_BYTES = 1 << 20;
    /** Smallest log: 64 KiB. */
    public static final int MIN_LOG_BYTES = 1 << 16;
    /** Largest log: 1 GiB. */
    public static final int MAX_LOG_BYTES = 1 << 30;

    private final boolean trusted;
    private final WaitMode waitMode;
    private final long spinNanos;
    private final int slotSize;
    private final int slotCount;
    private final int readQuota;
    private final Duration connectTimeout;
    private final int maxMessageSize;
    private final boolean fixedWaitMode;
    private final int logBytes;
    private final boolean contributePool;
    private final int broadcastLogBytes;
    private final boolean broadcastLossless;

    private ConnectOptions(boolean trusted, WaitMode waitMode, long spinNanos, int slotSize, int slotCount,
                           int readQuota, Duration connectTimeout, int maxMessageSize, boolean fixedWaitMode, int logBytes,
                           boolean contributePool, int broadcastLogBytes, boolean broadcastLossless) {
        this.contributePool = contributePool;
        this.broadcastLogBytes = broadcastLogBytes;
        this.broadcastLossless = broadcastLossless;
        this.fixedWaitMode = fixedWaitMode;
        this.logBytes = logBytes;
        this.trusted = trusted;
        this.waitMode = waitMode;
        this.spinNanos = spinNanos;
        this.slotSize = slotSize;
        this.slotCount = slotCount;
        this.readQuota = readQuota;
        this.connectTimeout = connectTimeout;
        this.maxMessageSize = maxMessageSize;
    }

    /**
     * The peer is trusted: read buffers are the peer's shared memory itself (zero copy).
     *
     * @return trusted options with the defaults: {@link WaitMode#ADAPTIVE} with a 20 µs spin,
     *         {@link #DEFAULT_SLOT_COUNT} slots of {@link #DEFAULT_SLOT_SIZE} bytes, read quota 0 (see
     *         {@link #readQuota(int)}), connect timeout zero, 64 MiB largest message, wait mode not fixed
     */
    public static ConnectOptions trusted() {
        return new ConnectOptions(true, WaitMode.ADAPTIVE, 20_000, DEFAULT_SLOT_SIZE, DEFAULT_SLOT_COUNT, 0,
                Duration.ZERO, 64 << 20, false, DEFAULT_LOG_BYTES, false, 0, false);
    }

    /**
     * The peer is not trusted: every read buffer is a private copy taken after the peer committed.
     *
     * @return untrusted options, otherwise with the defaults of {@link #trusted()}
     */
    public static ConnectOptions untrusted() {
        return trusted().trust(false);
    }

    /**
     * Whether this side trusts its peer: see {@link #trusted()} and {@link #untrusted()}.
     *
     * @param trustPeer {@code true} to read the peer's memory in place, {@code false} for private copies
     * @return a copy of these options with that trust
     */
    public ConnectOptions trust(boolean trustPeer) {
        return new ConnectOptions(trustPeer, waitMode, spinNanos, slotSize, slotCount, readQuota, connectTimeout, maxMessageSize, fixedWaitMode, logBytes, contributePool, broadcastLogBytes, broadcastLossless);
    }

    /**
     * How this side waits for data and for free buffers.
     *
     * @param mode the wait mode
     * @return a copy of these options with that wait mode
     * @throws NullPointerException if {@code mode} is null
     */
    public ConnectOptions waitMode(WaitMode mode) {
        return new ConnectOptions(trusted, Objects.requireNonNull(mode, "mode"), spinNanos, slotSize, slotCount,
                readQuota, connectTimeout, maxMessageSize, fixedWaitMode, logBytes, contributePool, broadcastLogBytes, broadcastLossless);
    }

    /**
     * {@code true}: no policy may change this side's wait mode (the daemon's contention policy leaves the
     * connection alone even when both ends spin on one CPU). For benchmarks that spin on one core on purpose.
     * Default false.
     *
     * @param fixed {@code true} to keep this side's wait mode whatever a policy decides
     * @return a copy of these options with that setting
     */
    public ConnectOptions fixedWaitMode(boolean fixed) {
        return new ConnectOptions(trusted, waitMode, spinNanos, slotSize, slotCount, readQuota, connectTimeout, maxMessageSize, fixed, logBytes, contributePool, broadcastLogBytes, broadcastLossless);
    }

    /**
     * Spin budget of {@link WaitMode#ADAPTIVE} before sleeping (default 20 µs).
     *
     * @param budget how long to spin before sleeping, 0 or more (kept in nanoseconds)
     * @return a copy of these options with that spin budget
     * @throws IllegalArgumentException if {@code budget} is negative
     */
    public ConnectOptions spin(Duration budget) {
        long n = budget.toNanos();
        if (n < 0) throw new IllegalArgumentException("spin budget must not be negative: " + budget);
        return new ConnectOptions(trusted, waitMode, n, slotSize, slotCount, readQuota, connectTimeout, maxMessageSize, fixedWaitMode, logBytes, contributePool, broadcastLogBytes, broadcastLossless);
    }

    /**
     * Bytes per slot of the pool this side writes into: a multiple of 64 (a cache line), 64 B … 1 GiB.
     * It is the largest fragment one buffer of this side carries ({@link Connection#maxFragment()}); the socket
     * transports (unix, tcp, tls) cap it at their own largest frame.
     *
     * @param bytes the slot size: a multiple of 64 from 64 to {@link #MAX_SLOT_SIZE}
     * @return a copy of these options with that slot size
     * @throws IllegalArgumentException if {@code bytes} is not a multiple of 64 or out of range
     */
    public ConnectOptions slotSize(int bytes) {
        if (bytes < 64 || bytes > MAX_SLOT_SIZE || bytes % 64 != 0) {
            throw new IllegalArgumentException("slotSize must be a multiple of 64 between 64 and " + MAX_SLOT_SIZE + ": " + bytes);
        }
        return new ConnectOptions(trusted, waitMode, spinNanos, bytes, slotCount, readQuota, connectTimeout, maxMessageSize, fixedWaitMode, logBytes, contributePool, broadcastLogBytes, broadcastLossless);
    }

    /**
     * Slots in the pool this side writes into: the most messages (fragments) in flight, 2 … 2^24.
     *
     * @param count the number of slots, 2 … {@link #MAX_SLOT_COUNT}
     * @return a copy of these options with that slot count
     * @throws IllegalArgumentException if {@code count} is out of range
     */
    public ConnectOptions slotCount(int count) {
        if (count < 2 || count > MAX_SLOT_COUNT) {
            throw new IllegalArgumentException("slotCount must be between 2 and " + MAX_SLOT_COUNT + ": " + count);
        }
        return new ConnectOptions(trusted, waitMode, spinNanos, slotSize, count, readQuota, connectTimeout, maxMessageSize, fixedWaitMode, logBytes, contributePool, broadcastLogBytes, broadcastLossless);
    }

    /**
     * Bytes of the log of the shared-memory direction this side writes (its records: small messages
     * written in place, and a 16-byte record per slot sent). Messages of at most {@value #INLINE_MAX_BYTES}
     * bytes (and at most a slot) go inline while the log has room; a larger log lets more of them be in flight, which the
     * throughput of small messages follows (docs/BENCHMARKS.md). The peer maps it: it counts against the
     * peer's {@code maxPeerPoolBytes}.
     *
     * @param bytes a power of two from {@link #MIN_LOG_BYTES} to {@link #MAX_LOG_BYTES}
     * @return a copy of these options with that log size
     * @throws IllegalArgumentException if {@code bytes} is not such a power of two
     */
    public ConnectOptions logBytes(int bytes) {
        if (bytes < MIN_LOG_BYTES || bytes > MAX_LOG_BYTES || Integer.bitCount(bytes) != 1) {
            throw new IllegalArgumentException("logBytes must be a power of two between " + MIN_LOG_BYTES + " and " + MAX_LOG_BYTES + ": " + bytes);
        }
        return new ConnectOptions(trusted, waitMode, spinNanos, slotSize, slotCount, readQuota, connectTimeout, maxMessageSize, fixedWaitMode, bytes, contributePool, broadcastLogBytes, broadcastLossless);
    }

    /**
     * Most read buffers this side may hold at once before {@link Connection#poll()} throws
     * {@link QuotaExceededException}. 0 (default) means: every slot of the peer's pool when trusted,
     * min(32, slots) private copies when untrusted.
     *
     * @param buffers the most read buffers held at once, or 0 for the default
     * @return a copy of these options with that read quota
     * @throws IllegalArgumentException if {@code buffers} is negative
     */
    public ConnectOptions readQuota(int buffers) {
        if (buffers < 0) throw new IllegalArgumentException("readQuota must not be negative: " + buffers);
        return new ConnectOptions(trusted, waitMode, spinNanos, slotSize, slotCount, buffers, connectTimeout, maxMessageSize, fixedWaitMode, logBytes, contributePool, broadcastLogBytes, broadcastLossless);
    }

    /**
     * How long {@code connect} waits for a listener to appear; zero (default) fails at once.
     *
     * @param timeout how long to wait for the name, zero or more
     * @return a copy of these options with that connect timeout
     * @throws IllegalArgumentException if {@code timeout} is negative
     */
    public ConnectOptions connectTimeout(Duration timeout) {
        if (timeout.isNegative()) throw new IllegalArgumentException("connectTimeout must not be negative");
        return new ConnectOptions(trusted, waitMode, spinNanos, slotSize, slotCount, readQuota, timeout, maxMessageSize, fixedWaitMode, logBytes, contributePool, broadcastLogBytes, broadcastLossless);
    }

    /**
     * Largest message {@link Connection#receiveMessage} reassembles (default 64 MiB); larger fails the connection.
     *
     * @param bytes the largest message size in bytes, at least 1
     * @return a copy of these options with that limit
     * @throws IllegalArgumentException if {@code bytes} is 0 or negative
     */
    public ConnectOptions maxMessageSize(int bytes) {
        if (bytes < 1) throw new IllegalArgumentException("maxMessageSize must be positive: " + bytes);
        return new ConnectOptions(trusted, waitMode, spinNanos, slotSize, slotCount, readQuota, connectTimeout, bytes, fixedWaitMode, logBytes, contributePool, broadcastLogBytes, broadcastLossless);
    }

    /**
     * Whether the peer is trusted ({@link #trust(boolean)}).
     *
     * @return {@code true} if read buffers are the peer's memory itself, {@code false} for private copies
     */
    public boolean isTrusted() { return trusted; }

    /**
     * How this side waits ({@link #waitMode(WaitMode)}).
     *
     * @return the wait mode
     */
    public WaitMode waitMode() { return waitMode; }

    /**
     * Spin budget of {@link WaitMode#ADAPTIVE} before sleeping ({@link #spin(Duration)}).
     *
     * @return the spin budget in nanoseconds
     */
    public long spinNanos() { return spinNanos; }

    /**
     * Bytes per slot of the pool this side writes into ({@link #slotSize(int)}).
     *
     * @return the slot size in bytes
     */
    public int slotSize() { return slotSize; }

    /**
     * Bytes of the log this side writes into ({@link #logBytes(int)}).
     *
     * @return the log size in bytes
     */
    public int logBytes() { return logBytes; }

    /**
     * Slots in the pool this side writes into ({@link #slotCount(int)}).
     *
     * @return the slot count
     */
    public int slotCount() { return slotCount; }

    /**
     * Most read buffers this side may hold at once ({@link #readQuota(int)}).
     *
     * @return the read quota, or 0 for the default
     */
    public int readQuota() { return readQuota; }

    /**
     * How long {@code connect} waits for a listener to appear ({@link #connectTimeout(Duration)}).
     *
     * @return the connect timeout; zero fails at once
     */
    public Duration connectTimeout() { return connectTimeout; }

    /**
     * Largest message {@link Connection#receiveMessage} reassembles ({@link #maxMessageSize(int)}).
     *
     * @return the largest message size in bytes
     */
    public int maxMessageSize() { return maxMessageSize; }

    /**
     * A subscription ({@link Fable#subscribe}) only: offer the publisher a pool of {@link #slotCount()} slots of
     * {@link #slotSize()} bytes for this subscriber alone (early classification, the Barrelfish bulk transport's
     * §2.9): what the publisher claims for this subscriber ({@link Publisher#claim(int, Subscriber)}) is written
     * straight into it, no other subscriber maps it, and it is unmapped by both when the subscription ends. The
     * subscriber's own pool is that pool (a subscriber sends nothing), so it costs no more memory than any
     * connection's. Shared memory only; ignored over sockets and by a publisher that takes no contributions.
     *
     * @param contribute whether to offer the pool
     * @return a copy of these options with that setting
     */
    public ConnectOptions contributePool(boolean contribute) {
        return new ConnectOptions(trusted, waitMode, spinNanos, slotSize, slotCount, readQuota, connectTimeout, maxMessageSize, fixedWaitMode, logBytes, contribute, broadcastLogBytes, broadcastLossless);
    }

    /**
     * A publisher ({@link Endpoint#publish(ConnectOptions)}) only: a broadcast log of {@code bytes} for small messages
     * published to all. A message of at most {@value #INLINE_MAX_BYTES} bytes claimed with {@link Publisher#claim(int)}
     * and published to every subscriber is written once into this log, which every shared-memory subscriber maps
     * read-only and reads at its own pace, instead of taking a fan-out slot and a 16-byte reference per subscriber: the
     * publisher's cost per message no longer grows with the number of subscribers. Each subscriber copies each such
     * message at poll (it could change under the application in place: the publisher overwrites the log lap after lap
     * and never waits); a subscriber that falls more than about seven eighths of the log behind loses the messages it was
     * lapped by, counts them ({@link Connection#messagesDropped()}, a {@link ConnectionEvent.Type#DROPPED} event) and
     * goes on. The publisher does not see those drops ({@link Subscriber#dropped()} counts only its own). Subscribers
     * over sockets, and those that do not read the log, get a copy from the publisher as before. Every subscriber maps
     * it: it counts against their {@code maxPeerPoolBytes}.
     *
     * @param bytes 0 (the default: no broadcast log), or a power of two from {@link #MIN_LOG_BYTES} to {@link #MAX_LOG_BYTES}
     * @return a copy of these options with that setting
     * @throws IllegalArgumentException if {@code bytes} is neither
     */
    public ConnectOptions broadcastLog(int bytes) {
        return broadcastLog(bytes, false);
    }

    /**
     * As {@link #broadcastLog(int)}; with {@code lossless} the publisher never laps a subscriber reading the log but waits
     * for the slowest one ({@link Publisher#claim(int)} returns {@code null} while the log is full for it): nothing is
     * lost, and the slowest subscriber paces them all, as with a {@link #readQuota(int)} of the whole fan-out pool. A
     * subscriber that stops reading then stops the publisher until it leaves (or dies): use it with subscribers you trust
     * to keep up.
     *
     * @param bytes    0 (no broadcast log), or a power of two from {@link #MIN_LOG_BYTES} to {@link #MAX_LOG_BYTES}
     * @param lossless whether the slowest subscriber paces the publisher instead of being lapped
     * @return a copy of these options with that setting
     * @throws IllegalArgumentException if {@code bytes} is neither
     */
    public ConnectOptions broadcastLog(int bytes, boolean lossless) {
        if (bytes != 0 && (bytes < MIN_LOG_BYTES || bytes > MAX_LOG_BYTES || Integer.bitCount(bytes) != 1)) {
            throw new IllegalArgumentException("broadcastLog must be 0 or a power of two between " + MIN_LOG_BYTES + " and " + MAX_LOG_BYTES + ": " + bytes);
        }
        return new ConnectOptions(trusted, waitMode, spinNanos, slotSize, slotCount, readQuota, connectTimeout, maxMessageSize, fixedWaitMode, logBytes,
                contributePool, bytes, lossless);
    }

    /**
     * Whether a publisher's broadcast log waits for its slowest reader ({@link #broadcastLog(int, boolean)}).
     *
     * @return {@code true} if it does
     */
    public boolean broadcastLossless() { return broadcastLossless; }

    /**
     * A publisher's broadcast log size ({@link #broadcastLog(int)}).
     *
     * @return its bytes, 0 for none
     */
    public int broadcastLog() { return broadcastLogBytes; }

    /**
     * Whether a subscription offers its pool to the publisher ({@link #contributePool(boolean)}).
     *
     * @return {@code true} if it does
     */
    public boolean contributePool() { return contributePool; }

    /**
     * Whether no policy may change this side's wait mode ({@link #fixedWaitMode(boolean)}).
     *
     * @return {@code true} if the wait mode is fixed
     */
    public boolean fixedWaitMode() { return fixedWaitMode; }

    @Override
    public String toString() {
        return (trusted ? "trusted" : "untrusted") + ", wait=" + waitMode + ", slots=" + slotCount + "x" + slotSize + "B, log=" + logBytes + "B"
                + (contributePool ? ", pool contributed" : "") + (broadcastLogBytes > 0 ? ", broadcast log=" + broadcastLogBytes + "B" + (broadcastLossless ? " lossless" : "") : "");
    }
}
