package dev.fable.transport;

import dev.fable.internal.Libc;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.net.InetSocketAddress;
import java.nio.channels.SocketChannel;
import java.util.concurrent.TimeUnit;

import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_INT;

/**
 * Keeps {@code TCP_USER_TIMEOUT} ({@link Liveness}) from cutting a live peer that only reads slowly. Since
 * Linux 5.11 the user timeout also bounds zero-window probing: a sender whose peer keeps its window shut
 * for that long is reset, although the peer's kernel answers every probe. A reader that sleeps for seconds
 * between bursts is no dead host, so while this side has frames queued (the socket full) the
 * {@link PendingFlusher} calls {@link #stalled} every tick, and at most every {@link #CHECK_NANOS} it looks
 * at the socket ({@code TCP_INFO}):
 * <ul>
 *   <li>the peer has acknowledged everything sent and its window takes nothing more (the kernel probes it:
 *       a zero window, or one too small for the next segment): the user timeout is lifted (0). The bound still
 *       holds by the peer's acknowledgements (its answers to the probes): when none came for the user timeout
 *       plus the current gap between probes, the timeout is set again, and the kernel ends the socket at its
 *       next probe. <b>Weaker than the bound:</b> the kernel doubles that gap at each probe, up to 2 minutes, and
 *       setting the timeout does not bring the next probe forward; so a peer that dies after its window had
 *       been shut for a long while is seen within the bound plus up to two probe gaps (a peer shut for 10 s:
 *       gaps of about 6-13 s; for minutes: up to 2 min each);</li>
 *   <li>the window is open again: the timeout is set again (unacknowledged data is bounded by it as before).</li>
 * </ul>
 * {@link #drained} (nothing queued any more) sets it again too. A connection whose socket stays full for less than
 * {@link #CHECK_NANOS} never costs a system call here; a stalled one one {@code getsockopt} per {@link #CHECK_NANOS}
 * (and, the first time, a look-up of its descriptor).
 *
 * <p>Thread: the flusher's only. The descriptor is looked up at the first stall, and checked to be this
 * connection's socket before each change (the socket may have closed under the flusher).
 */
public final class ZeroWindowGuard {
    /** How often a stalled socket is looked at: well inside the kernel's first zero-window probes and any bound (≥ 2 s). */
    static final long CHECK_NANOS = TimeUnit.MILLISECONDS.toNanos(250);
    /** Linux's {@code TCP_RTO_MAX}: the longest gap between two zero-window probes. */
    private static final long TCP_RTO_MAX_MILLIS = 120_000;

    private final SocketChannel channel;
    private final Liveness liveness;
    private final MemorySegment info;   // struct tcp_info, reused
    private int fd = -1;
    private boolean unusable;           // no descriptor or no TCP_INFO: the kernel's behaviour stays
    private boolean lifted;
    private long nextCheck;
    private boolean stalling;           // frames have been queued since the last drain

    /** A guard for {@code channel}, or null when there is nothing to guard (liveness off, not TCP). */
    public static ZeroWindowGuard of(SocketChannel channel, Liveness liveness) {
        try {
            if (!liveness.enabled() || !(channel.getRemoteAddress() instanceof InetSocketAddress)) return null;
        } catch (IOException closed) {
            return null;
        }
        return new ZeroWindowGuard(channel, liveness);
    }

    private ZeroWindowGuard(SocketChannel channel, Liveness liveness) {
        this.channel = channel;
        this.liveness = liveness;
        this.info = Arena.ofAuto().allocate(512, 8);
    }

    /** The writer has frames queued at {@code now} (flusher thread, every tick). */
    public void stalled(long now) {
        if (unusable) return;
        if (!stalling) {   // a stall shorter than one check interval costs nothing (a fast writer fills its socket often)
            stalling = true;
            nextCheck = now + CHECK_NANOS;
            return;
        }
        if (now - nextCheck < 0) return;
        nextCheck = now + CHECK_NANOS;
        if (fd < 0 && !lookUp()) return;
        int n = Libc.tcpInfo(fd, info);
        if (n < Libc.TCPI_LAST_ACK_RECV + 4) {   // an error (closed meanwhile), or a struct too short to read
            if (n >= 0) unusable = true;
            return;
        }
        // frames are queued here, yet nothing is in flight: the window takes nothing, and the peer acknowledged all
        boolean probing = info.get(JAVA_INT, Libc.TCPI_UNACKED) == 0;
        long sinceAck = Integer.toUnsignedLong(info.get(JAVA_INT, Libc.TCPI_LAST_ACK_RECV));
        // a live peer answers each probe; the kernel spaces them rto << backoff apart, at most 2 min
        long rtoMillis = Integer.toUnsignedLong(info.get(JAVA_INT, Libc.TCPI_RTO)) / 1000;
        int backoff = Math.min(20, info.get(JAVA_BYTE, Libc.TCPI_BACKOFF) & 0xFF);
        long probeInterval = Math.min(TCP_RTO_MAX_MILLIS, rtoMillis << backoff);
        if (probing && sinceAck < liveness.userTimeoutMillis() + probeInterval) {
            if (!lifted) setUserTimeout(0);
        } else if (lifted) {
            setUserTimeout(liveness.userTimeoutMillis());   // data in flight again, or silent: the kernel's bound applies again
        }
    }

    /** Nothing is queued any more (flusher thread). */
    public void drained() {
        stalling = false;
        if (lifted) setUserTimeout(liveness.userTimeoutMillis());
    }

    private boolean lookUp() {
        try {
            fd = Liveness.descriptorOf(channel);
            return true;
        } catch (IOException e) {
            unusable = channel.isOpen();   // open but not found: give up; closed: nothing to guard any more
            return false;
        }
    }

    private void setUserTimeout(int millis) {
        try {
            // the descriptor may have been closed and reused since the look-up: touch only our socket
            if (!channel.isOpen() || !Libc.isStreamSocket(fd, (InetSocketAddress) channel.getLocalAddress(),
                    (InetSocketAddress) channel.getRemoteAddress())) {
                return;
            }
        } catch (IOException closed) {
            return;
        }
        if (Libc.setIntOption(fd, Libc.IPPROTO_TCP, Libc.TCP_USER_TIMEOUT, millis) == 0) lifted = millis == 0;
    }
}
