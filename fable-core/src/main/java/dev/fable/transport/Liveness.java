package dev.fable.transport;

import dev.fable.internal.Libc;
import jdk.net.ExtendedSocketOptions;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.StandardSocketOptions;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;

/**
 * How soon a TCP socket (tcp, tls, plain external peers) notices a peer that went silent: a host
 * that died without a FIN or RST, or a network that was cut. Left to the kernel's defaults, a
 * connection that only receives waits forever (keepalive is off) and one with unacknowledged data
 * waits about 15 minutes of retransmissions ({@code tcp_retries2}).
 *
 * <p>With a bound of B seconds, each socket gets, once, when the connection is made:
 * <ul>
 *   <li>keepalive ({@code SO_KEEPALIVE}, {@code TCP_KEEPIDLE} = B/2, {@code TCP_KEEPINTVL} = max(1, B/10),
 *       {@code TCP_KEEPCNT} to fill B): an idle connection probes the peer;</li>
 *   <li>{@code TCP_USER_TIMEOUT} = B − one probe interval: data (or probes) unacknowledged that long ends
 *       the connection. Keepalive alone does not fire while sent data is outstanding; and with the
 *       user timeout set, Linux ends a probing connection when it has heard nothing for that long,
 *       at the next probe, so within B either way.</li>
 * </ul>
 * Linux applies the user timeout to zero-window probing too: a peer that stops reading for B (curl
 * {@code --limit-rate} reads in bursts, then sleeps for seconds) would be reset although its kernel
 * answers every probe. {@link ZeroWindowGuard} lifts the timeout while the peer advertises a zero
 * window and keeps the bound by the peer's acknowledgements instead.
 * The kernel then fails the socket with {@code ETIMEDOUT} (or the unreachable error it saw last),
 * the waiting receiver or sender wakes, and the leg ends with a {@code PeerGoneException} that says
 * how long the peer was silent. Nothing runs on the data path: no heartbeat frames, no timers of ours.
 *
 * <p>{@code TCP_USER_TIMEOUT} has no JDK socket option; it is set with {@code setsockopt} on the
 * socket's descriptor, which the JDK does not expose either. The descriptor is found, once per
 * connection, as the one stream socket of this process with the connection's local and remote
 * address ({@code /proc/self/fd}, {@code getsockname}, {@code getpeername}): unique within a network
 * namespace, and no reflection into the JDK.
 */
public final class Liveness {
    /** The default bound, 10 s. */
    public static final long DEFAULT_MILLIS = 10_000;
    /** The smallest bound other than off: keepalive counts whole seconds, and needs an idle time and a probe. */
    public static final long MIN_MILLIS = 2_000;
    /** No bound: the kernel's defaults (no keepalive, ~15 min of retransmissions). */
    public static final Liveness OFF = new Liveness(0);

    private final long boundMillis;
    private final int idleSeconds;
    private final int intervalSeconds;
    private final int probes;
    private final int userTimeoutMillis;

    private Liveness(long boundMillis) {
        this.boundMillis = boundMillis;
        int b = (int) Math.min(Integer.MAX_VALUE / 1000, boundMillis / 1000);
        this.intervalSeconds = Math.max(1, b / 10);
        this.idleSeconds = Math.max(1, b / 2);
        this.probes = Math.max(1, (b - idleSeconds) / intervalSeconds);
        this.userTimeoutMillis = (int) Math.max(0, Math.min(Integer.MAX_VALUE, boundMillis - intervalSeconds * 1000L));
    }

    /**
     * A bound of {@code millis}: 0 for off, else at least {@link #MIN_MILLIS}.
     *
     * @throws IllegalArgumentException for a negative bound or one below 2 s
     */
    public static Liveness ofMillis(long millis) {
        if (millis == 0) return OFF;
        if (millis < MIN_MILLIS) {
            throw new IllegalArgumentException("peer timeout must be 0 (off) or at least " + MIN_MILLIS + " ms, not " + millis
                    + " ms: TCP keepalive counts whole seconds and needs an idle time and one probe");
        }
        return new Liveness(millis);
    }

    /** The bound in milliseconds; 0 when off. */
    public long boundMillis() {
        return boundMillis;
    }

    public boolean enabled() {
        return boundMillis > 0;
    }

    public int idleSeconds() {
        return idleSeconds;
    }

    public int intervalSeconds() {
        return intervalSeconds;
    }

    public int probes() {
        return probes;
    }

    public int userTimeoutMillis() {
        return userTimeoutMillis;
    }

    /**
     * Sets the options on a connected TCP socket; does nothing when off or for a Unix domain socket.
     * Called once per connection, on the set-up path. A socket accepted from a listener that got
     * the options with {@link #applyToListener} has them already (Linux copies them to each accepted
     * socket): seen by its keepalive settings, it costs four {@code getsockopt}s and no descriptor scan.
     *
     * @throws IOException if the socket refuses an option (it is closed, say); the caller closes it
     */
    public void apply(SocketChannel ch) throws IOException {
        apply(ch, -1);
    }

    /**
     * Opens a TCP connection to {@code to} whose socket has the bound before it is returned. The
     * descriptor is found without a scan in the usual case: the kernel gives a new socket the lowest
     * free descriptor, which is looked up just before (another thread may take it first: then the scan).
     *
     * @throws IOException if the connection or an option fails (the socket is closed then)
     */
    public SocketChannel connect(InetSocketAddress to) throws IOException {
        int guess = enabled() ? Libc.lowestFreeDescriptor() : -1;
        SocketChannel ch = SocketChannel.open(to);
        try {
            apply(ch, guess);
            return ch;
        } catch (IOException | RuntimeException e) {
            ch.close();
            throw e;
        }
    }

    /** {@code guess}: the descriptor {@code ch} probably has, tried before a scan (-1: none). */
    private void apply(SocketChannel ch, int guess) throws IOException {
        if (!enabled() || !(ch.getRemoteAddress() instanceof InetSocketAddress remote)) return;
        if (ch.getOption(StandardSocketOptions.SO_KEEPALIVE) && ch.getOption(ExtendedSocketOptions.TCP_KEEPIDLE) == idleSeconds
                && ch.getOption(ExtendedSocketOptions.TCP_KEEPINTERVAL) == intervalSeconds
                && ch.getOption(ExtendedSocketOptions.TCP_KEEPCOUNT) == probes) {
            return;   // inherited from our listener, with the user timeout set beside them
        }
        ch.setOption(StandardSocketOptions.SO_KEEPALIVE, true);
        ch.setOption(ExtendedSocketOptions.TCP_KEEPIDLE, idleSeconds);
        ch.setOption(ExtendedSocketOptions.TCP_KEEPINTERVAL, intervalSeconds);
        ch.setOption(ExtendedSocketOptions.TCP_KEEPCOUNT, probes);
        InetSocketAddress local = (InetSocketAddress) ch.getLocalAddress();
        int fd = guess >= 0 && Libc.isStreamSocket(guess, local, remote) ? guess : descriptor(ch.isOpen(), local, remote);
        set(fd, Libc.IPPROTO_TCP, Libc.TCP_USER_TIMEOUT, userTimeoutMillis, "TCP_USER_TIMEOUT");
    }

    /**
     * Sets the options on a listening TCP socket, once, so that every socket it accepts has them
     * from the start ({@link #apply} then finds them there). Does nothing when off.
     *
     * @throws IOException if the socket refuses an option
     */
    public void applyToListener(ServerSocketChannel ss) throws IOException {
        if (!enabled() || !(ss.getLocalAddress() instanceof InetSocketAddress local)) return;
        int fd = descriptor(ss.isOpen(), local, null);
        set(fd, Libc.SOL_SOCKET, Libc.SO_KEEPALIVE, 1, "SO_KEEPALIVE");
        set(fd, Libc.IPPROTO_TCP, Libc.TCP_KEEPIDLE, idleSeconds, "TCP_KEEPIDLE");
        set(fd, Libc.IPPROTO_TCP, Libc.TCP_KEEPINTVL, intervalSeconds, "TCP_KEEPINTVL");
        set(fd, Libc.IPPROTO_TCP, Libc.TCP_KEEPCNT, probes, "TCP_KEEPCNT");
        set(fd, Libc.IPPROTO_TCP, Libc.TCP_USER_TIMEOUT, userTimeoutMillis, "TCP_USER_TIMEOUT");
    }

    private static void set(int fd, int level, int option, int value, String what) throws IOException {
        int err = Libc.setIntOption(fd, level, option, value);
        if (err != 0) throw new IOException("setsockopt(" + what + ", " + value + ") failed: " + Libc.strerror(err));
    }

    /**
     * The {@code TCP_USER_TIMEOUT} the kernel has for {@code ch}'s socket, in ms (0: the kernel's default);
     * the JDK cannot read it. For tests and diagnostics.
     */
    public static int userTimeoutOf(SocketChannel ch) throws IOException {
        int fd = descriptor(ch.isOpen(), (InetSocketAddress) ch.getLocalAddress(), (InetSocketAddress) ch.getRemoteAddress());
        long v = Libc.intOption(fd, Libc.IPPROTO_TCP, Libc.TCP_USER_TIMEOUT);
        if (v < 0) throw new IOException("getsockopt(TCP_USER_TIMEOUT) failed: " + Libc.strerror((int) -v));
        return (int) v;
    }

    /**
     * This process's descriptor of {@code ch}'s TCP socket (a {@code /proc/self/fd} scan: off the data path, once).
     *
     * @throws IOException if there is none (it is closed) or {@code ch} is not a TCP socket
     */
    static int descriptorOf(SocketChannel ch) throws IOException {
        if (!(ch.getLocalAddress() instanceof InetSocketAddress local) || !(ch.getRemoteAddress() instanceof InetSocketAddress remote)) {
            throw new IOException(ch + " is not a connected TCP socket");
        }
        return descriptor(ch.isOpen(), local, remote);
    }

    /**
     * This process's descriptor of the TCP socket bound to {@code local} and connected to
     * {@code remote} (null: the listening socket bound to {@code local}). Ports are compared first,
     * with no allocation per descriptor; only a descriptor whose ports match has its whole addresses read.
     */
    private static int descriptor(boolean open, InetSocketAddress local, InetSocketAddress remote) throws IOException {
        try (DirectoryStream<Path> fds = Files.newDirectoryStream(Path.of("/proc/self/fd")); Arena a = Arena.ofConfined()) {
            MemorySegment scratch = a.allocate(Libc.SOCKET_PORT_SCRATCH);
            for (Path p : fds) {
                int fd;
                try {
                    fd = Integer.parseInt(p.getFileName().toString());
                } catch (NumberFormatException e) {
                    continue;
                }
                if (Libc.socketPort(fd, false, scratch) != local.getPort()) continue;
                if (remote == null) {
                    if (Libc.socketPort(fd, true, scratch) == -1 && Libc.intOption(fd, Libc.SOL_SOCKET, Libc.SO_ACCEPTCONN) == 1
                            && local.equals(Libc.socketAddress(fd, false))) {
                        return fd;
                    }
                } else if (Libc.socketPort(fd, true, scratch) == remote.getPort() && Libc.isStreamSocket(fd, local, remote)) {
                    return fd;
                }
            }
        }
        throw new IOException("no descriptor of this process is the TCP socket " + local + (remote == null ? " (listening)" : " -> " + remote)
                + (open ? "" : " (it is closed)") + "; cannot set its liveness options");
    }

    /**
     * True if {@code m}, an {@code IOException}'s message, is the kernel giving up on a silent peer: {@code ETIMEDOUT}, or the unreachable
     * error a cut network left behind ({@code EHOSTUNREACH}, {@code ENETUNREACH}: for an established
     * connection these end it only when the timeout strikes). The JDK gives no errno, only its text.
     */
    public static boolean silencedBy(String m) {
        if (m == null) return false;
        return m.contains(TIMED_OUT) || m.contains(HOST_UNREACHABLE) || m.contains(NET_UNREACHABLE);
    }

    private static final String TIMED_OUT = Libc.strerrorText(Libc.ETIMEDOUT);
    private static final String HOST_UNREACHABLE = Libc.strerrorText(Libc.EHOSTUNREACH);
    private static final String NET_UNREACHABLE = Libc.strerrorText(Libc.ENETUNREACH);

    /** For messages: "no sign of life for 10 s". */
    public String silence() {
        long ms = boundMillis;
        return "no sign of life for " + (ms % 1000 == 0 ? ms / 1000 + " s" : ms + " ms");
    }

    @Override
    public String toString() {
        return enabled()
                ? "liveness bound " + boundMillis + " ms (keepalive idle " + idleSeconds + " s, interval "
                        + intervalSeconds + " s, " + probes + " probes; TCP_USER_TIMEOUT " + userTimeoutMillis + " ms)"
                : "liveness off (kernel defaults)";
    }
}
