package dev.fable;

import dev.fable.buffer.LeakDetector;
import dev.fable.naming.DaemonNameService;
import dev.fable.naming.NameService;

import dev.fable.endpoint.FableRuntime;
import dev.fable.endpoint.RuntimeSettings;
import dev.fable.flow.LiveConnection;
import dev.fable.naming.NamingConfig;

import java.nio.file.Path;
import java.time.Duration;
import java.util.Objects;
import dev.fable.endpoint.EventPoller;
import dev.fable.internal.Settings;
import dev.fable.transport.PeerLimits;

/**
 * Entry point: register a name, connect to a name.
 *
 * <pre>{@code
 * try (Endpoint ep = Fable.register("ledger").listen();
 *      Connection c = ep.accept()) {
 *     Buffer b = c.receive(Duration.ofSeconds(1));
 *     ... b.getLong(0) ...
 *     b.release();
 * }
 *
 * try (Connection c = Fable.connect("xio://ledger", ConnectOptions.trusted())) {
 *     Buffer b = c.claim(64);          // null = back-pressure
 *     b.putLong(0, 42);
 *     b.commit();
 * }
 * }</pre>
 *
 * <h2>One set-up per process, or several</h2>
 * The static methods use the process's shared set-up, made on first use from a default
 * {@link Context} (system properties and environment). {@link #launch(Context)} makes another, with
 * its own naming client, transports and flow table: two contexts with different runtime
 * directories talk to two daemons and share no names or flows.
 *
 * <p>Names live in this host's name daemon ({@code fabled}), which the first call starts when none
 * runs (unless {@code -Dfable.daemon.autostart=false}); the daemon also picks the transport of an
 * {@code xio://} connect. The JVM needs {@code --enable-native-access=ALL-UNNAMED} (futex,
 * membarrier and fallocate are called through the FFM linker).
 */
public final class Fable implements AutoCloseable {
    /**
     * The settings of one Fable set-up (the {@code Aeron.Context} idea). Every value has a default, and
     * the defaults are the one place Fable reads its system properties and environment for them:
     * <ul>
     * <li>{@link #runtimeDir(Path)}: the daemon's and the endpoints' sockets ({@code fable.runtime.dir},
     *     {@code FABLE_RUNTIME_DIR}, {@code $XDG_RUNTIME_DIR/fable}, else {@code /tmp/fable-<uid>});</li>
     * <li>{@link #stateDir(Path)}: where a daemon this set-up starts keeps its host identity
     *     ({@code fable.state.dir}, {@code FABLE_STATE_DIR}, else the daemon's default);</li>
     * <li>{@link #autostartDaemon(boolean)}: start a daemon when none answers ({@code fable.daemon.autostart}, default true);</li>
     * <li>{@link #drainTimeout(Duration)}: how long read buffers of a switched-away transport may be held before
     *     they are copied off it ({@code fable.drainTimeoutMillis}, default 5 s);</li>
     * <li>{@link #shmDir(Path)}: where earlier Fable versions kept pools and rings; pools and rings are sealed memfds
     *     now, and this directory is only swept of files dead processes left there ({@code fable.shm.dir}, else
     *     {@code /dev/shm/fable-<uid>});</li>
     * <li>{@link #leakDetection(String)}: {@code off}, {@code simple} or {@code paranoid} (where each leaked
     *     buffer was claimed) ({@code fable.leakDetection}, default simple). Each set-up has its own detector.</li>
     * <li>{@link #peerTimeout(Duration)}: how soon a tcp or tls connection (and one to a plain external tcp peer)
     *     notices a peer whose host died or whose network was cut: a blocked receive or send then throws
     *     {@link PeerGoneException} ({@code fable.peerTimeoutMillis}, default 10 s; 0 leaves the kernel's
     *     defaults, under which a quiet receiver waits forever). Set with TCP keepalive and {@code TCP_USER_TIMEOUT}
     *     once per connection, nothing on the data path; see docs/transports.md.</li>
     * <li>{@link #maxPeerPoolBytes(long)}, {@link #maxPeerSlots(int)}, {@link #maxPeerFragment(int)}: how much a peer
     *     may make this set-up map or allocate for one connection, whatever its handshake declares
     *     ({@code fable.shm.maxPeerPoolBytes}, default 64 MiB of pool and ring; {@code fable.shm.maxPeerSlots}, default
     *     65,536; {@code fable.maxPeerFragment}, default 1 MiB for unix, tcp and tls). A peer that declares more is
     *     refused at the handshake, with the limit and this setting named on both sides.</li>
     * </ul>
     * Process-wide, whatever the context: the two background threads that watch shared-memory control sockets
     * and flush socket writes (they keep nothing but the connections registered with them), and the
     * {@code fable.noMembarrier} switch.
     */
    public static final class Context {
        private Path runtimeDir;
        private Path stateDir;
        private Boolean autostartDaemon;
        private Duration drainTimeout;
        private String leakDetection;
        private Path shmDir;
        private Duration peerTimeout;
        private Long maxPeerPoolBytes;
        private Integer maxPeerSlots;
        private Integer maxPeerFragment;

        /** Settings with every value unset: each getter then returns its default, as the list above says. */
        public Context() {}

        /**
         * Sets the runtime directory: the daemon's and the endpoints' sockets.
         *
         * @param dir the directory (created 0700 on first use if missing)
         * @return this context
         * @throws NullPointerException if {@code dir} is null
         */
        public Context runtimeDir(Path dir) {
            this.runtimeDir = Objects.requireNonNull(dir, "runtimeDir");
            return this;
        }

        /**
         * The runtime directory: the one set here, else {@code fable.runtime.dir}, {@code FABLE_RUNTIME_DIR},
         * {@code $XDG_RUNTIME_DIR/fable}, else {@code /tmp/fable-<uid>}.
         *
         * @return the runtime directory
         */
        public Path runtimeDir() {
            return runtimeDir != null ? runtimeDir : NamingConfig.runtimeDir();
        }

        /**
         * Sets where a daemon this set-up starts keeps its host identity.
         *
         * @param dir the state directory
         * @return this context
         * @throws NullPointerException if {@code dir} is null
         */
        public Context stateDir(Path dir) {
            this.stateDir = Objects.requireNonNull(dir, "stateDir");
            return this;
        }

        /**
         * The state directory set here, or null for the daemon's default.
         *
         * @return the directory set here, else {@code fable.state.dir} or {@code FABLE_STATE_DIR}, else {@code null}
         */
        public Path stateDir() {
            if (stateDir != null) return stateDir;
            String p = NamingConfig.get("fable.state.dir");
            return p == null ? null : Path.of(p);
        }

        /**
         * Sets whether this set-up starts a daemon when none answers.
         *
         * @param start {@code true} to start one, {@code false} to fail instead
         * @return this context
         */
        public Context autostartDaemon(boolean start) {
            this.autostartDaemon = start;
            return this;
        }

        /**
         * Whether this set-up starts a daemon when none answers.
         *
         * @return the value set here, else {@code fable.daemon.autostart} ({@code false}, {@code 0}, {@code no} or
         *         {@code off} turn it off), default {@code true}
         */
        public boolean autostartDaemon() {
            return autostartDaemon != null ? autostartDaemon : NamingConfig.autostart();
        }

        /**
         * Sets how long read buffers of a switched-away transport may be held before they are copied off it.
         *
         * @param d the drain timeout, zero or more
         * @return this context
         * @throws IllegalArgumentException if {@code d} is negative
         */
        public Context drainTimeout(Duration d) {
            if (d.isNegative()) throw new IllegalArgumentException("drain timeout must be >= 0, not " + d);
            this.drainTimeout = d;
            return this;
        }

        /**
         * How long read buffers of a switched-away transport may be held before they are copied off it.
         *
         * @return the value set here, else {@code fable.drainTimeoutMillis}, default 5 s
         */
        public Duration drainTimeout() {
            return drainTimeout != null ? drainTimeout
                    : Duration.ofMillis(NamingConfig.getLong("fable.drainTimeoutMillis", LiveConnection.DEFAULT_DRAIN_MILLIS));
        }

        /**
         * Sets the directory swept of shared-memory files that dead processes of earlier Fable versions left.
         *
         * @param dir the directory
         * @return this context
         * @throws NullPointerException if {@code dir} is null
         */
        public Context shmDir(Path dir) {
            this.shmDir = Objects.requireNonNull(dir, "shmDir");
            return this;
        }

        /**
         * The directory swept of shared-memory files that dead processes of earlier Fable versions left.
         *
         * @return the directory set here, else {@code fable.shm.dir}, else {@code /dev/shm/fable-<uid>}
         */
        public Path shmDir() {
            return shmDir != null ? shmDir : dev.fable.transport.shm.ShmFiles.defaultDirectory();
        }

        /**
         * Sets how this set-up's leak detector watches buffers.
         *
         * @param level {@code off}, {@code simple} or {@code paranoid} (any case)
         * @return this context
         * @throws IllegalArgumentException for another level
         */
        public Context leakDetection(String level) {
            LeakDetector.Level.parse(level);   // checked now: a typo fails here, not at the first buffer
            this.leakDetection = level;
            return this;
        }

        /**
         * How this set-up's leak detector watches buffers.
         *
         * @return the level set here, else {@code fable.leakDetection}, default {@code simple}
         */
        public String leakDetection() {
            return leakDetection != null ? leakDetection : NamingConfig.get("fable.leakDetection", "simple");
        }

        /**
         * The liveness bound of this set-up's TCP connections (tcp, tls, plain external peers): a peer that
         * gives no sign of life for this long (host down, network cut) ends the connection with
         * {@link PeerGoneException}. Zero: off (the kernel's defaults); else at least 2 s, since TCP
         * keepalive counts whole seconds.
         *
         * @param d the liveness bound: zero (off) or at least 2 s; kept in whole milliseconds
         * @return this context
         * @throws IllegalArgumentException if negative or between 0 and 2 s
         */
        public Context peerTimeout(Duration d) {
            dev.fable.transport.Liveness.ofMillis(d.toMillis());   // checked now, with the reason
            this.peerTimeout = d;
            return this;
        }

        /**
         * The liveness bound of this set-up's TCP connections ({@link #peerTimeout(Duration)}).
         *
         * @return the value set here, else {@code fable.peerTimeoutMillis}, default 10 s; zero: off
         */
        public Duration peerTimeout() {
            return peerTimeout != null ? peerTimeout
                    : Duration.ofMillis(NamingConfig.getLong("fable.peerTimeoutMillis", dev.fable.transport.Liveness.DEFAULT_MILLIS));
        }

        /**
         * Most bytes of pool and ring a shared-memory peer may declare for the direction this set-up reads (both
         * are mapped here, and an untrusted reader's private copies come out of the same bound). A bigger
         * declaration is refused at the handshake. At least 64 KiB.
         *
         * @param bytes the most bytes of pool and ring, at least 65,536
         * @return this context
         * @throws IllegalArgumentException if below 64 KiB
         */
        public Context maxPeerPoolBytes(long bytes) {
            this.maxPeerPoolBytes = PeerLimits.checkPoolBytes(bytes);
            return this;
        }

        /**
         * Most bytes of pool and ring a shared-memory peer may declare ({@link #maxPeerPoolBytes(long)}).
         *
         * @return the value set here, else {@code fable.shm.maxPeerPoolBytes}, default 64 MiB
         * @throws IllegalArgumentException if the property holds a value below 64 KiB
         */
        public long maxPeerPoolBytes() {
            return maxPeerPoolBytes != null ? maxPeerPoolBytes
                    : PeerLimits.checkPoolBytes(Settings.getLong(PeerLimits.POOL_PROPERTY, PeerLimits.DEFAULT_MAX_POOL_BYTES));
        }

        /**
         * Most slots a shared-memory peer may declare (this side keeps a slot view and a flag per peer slot,
         * about 60 B of heap). 2 … 2^24.
         *
         * @param slots the most slots, 2 … 2^24
         * @return this context
         * @throws IllegalArgumentException if out of range
         */
        public Context maxPeerSlots(int slots) {
            this.maxPeerSlots = PeerLimits.checkSlots(slots);
            return this;
        }

        /**
         * Most slots a shared-memory peer may declare ({@link #maxPeerSlots(int)}).
         *
         * @return the value set here, else {@code fable.shm.maxPeerSlots}, default 65,536
         * @throws IllegalArgumentException if the property holds a value out of range
         */
        public int maxPeerSlots() {
            return maxPeerSlots != null ? maxPeerSlots
                    : PeerLimits.checkSlots(Settings.getLong(PeerLimits.SLOTS_PROPERTY, PeerLimits.DEFAULT_MAX_SLOTS));
        }

        /**
         * Largest fragment a unix, tcp or tls peer may declare it sends (this side's receive areas are sized from
         * it). A peer whose slot size is bigger is refused at the handshake. 64 B … 16 MiB.
         *
         * @param bytes the largest fragment, 64 B … 16 MiB
         * @return this context
         * @throws IllegalArgumentException if out of range
         */
        public Context maxPeerFragment(int bytes) {
            this.maxPeerFragment = PeerLimits.checkFragment(bytes);
            return this;
        }

        /**
         * Largest fragment a unix, tcp or tls peer may declare ({@link #maxPeerFragment(int)}).
         *
         * @return the value set here, else {@code fable.maxPeerFragment}, default 1 MiB
         * @throws IllegalArgumentException if the property holds a value out of range
         */
        public int maxPeerFragment() {
            return maxPeerFragment != null ? maxPeerFragment
                    : PeerLimits.checkFragment(Settings.getLong(PeerLimits.FRAGMENT_PROPERTY, PeerLimits.DEFAULT_MAX_FRAGMENT));
        }

        PeerLimits peerLimits() {
            return new PeerLimits(maxPeerPoolBytes(), maxPeerSlots(), maxPeerFragment());
        }

        @Override
        public String toString() {
            return "Fable.Context[runtimeDir=" + runtimeDir() + ", stateDir=" + stateDir() + ", autostartDaemon=" + autostartDaemon()
                    + ", shmDir=" + shmDir() + ", drainTimeout=" + drainTimeout() + ", leakDetection=" + leakDetection() + ", peerTimeout=" + peerTimeout()
                    + ", maxPeerPoolBytes=" + maxPeerPoolBytes() + ", maxPeerSlots=" + maxPeerSlots() + ", maxPeerFragment=" + maxPeerFragment() + "]";
        }
    }

    private static volatile Fable shared;

    private final Context context;
    private final FableRuntime runtime;

    private Fable(Context context, java.util.function.Supplier<NameService> names) {
        this.context = context;
        this.runtime = new FableRuntime(names, new RuntimeSettings(context.runtimeDir(), context.stateDir(), context.shmDir(), context.drainTimeout().toNanos(),
                LeakDetector.Level.parse(context.leakDetection()), context.peerTimeout().toMillis(), context.peerLimits()));
    }

    /**
     * A set-up of its own: its own client of the daemon in {@code context}'s runtime directory
     * (started if none answers and the context allows), its own transports and flow table. Close it
     * to close its connection to the daemon (which drops its names).
     *
     * @param context the settings of the new set-up
     * @return the set-up, connected to its daemon
     * @throws NullPointerException if {@code context} is null
     * @throws FableException if no daemon answers in the runtime directory and none could be started
     */
    public static Fable launch(Context context) {
        Objects.requireNonNull(context, "context");
        Fable f = new Fable(context, () -> DaemonNameService.open(context.runtimeDir(), context.autostartDaemon(), context.stateDir(), context.shmDir()));
        f.runtime.names();   // now: a set-up that cannot reach its daemon fails here, not at its first endpoint
        return f;
    }

    private static Fable shared() {
        Fable f = shared;
        if (f == null) {
            synchronized (Fable.class) {
                f = shared;
                if (f == null) shared = f = new Fable(new Context(), DaemonNameService::get);   // the process's one client (the CLI's too)
            }
        }
        return f;
    }

    /**
     * Registers {@code name} in this set-up; closing the endpoint unregisters it.
     *
     * @param name the endpoint name: 1–64 characters from {@code A-Z a-z 0-9 . _ -}, starting with a letter or digit
     * @return the registered endpoint, not yet listening ({@link Endpoint#listen()})
     * @throws IllegalArgumentException if {@code name} is not a valid endpoint name
     * @throws NameInUseException if a live process already holds {@code name}
     * @throws FableException if the daemon cannot be reached
     */
    public Endpoint endpoint(String name) {
        return runtime.register(name);
    }

    /**
     * Connects from an anonymous endpoint of this set-up to {@code uri} (forms as {@link #connect}).
     *
     * @param uri     where to connect: {@code xio://name}, {@code xio+shm|unix|tcp|tls://name}, {@code tcp://host:port}
     *                or {@code unix:///path}
     * @param options this side's options for the connection
     * @return the connection, open
     * @throws IllegalArgumentException if {@code uri} is not one of those forms
     * @throws FableException if the connection cannot be made; see {@link Endpoint#connect(String, ConnectOptions)}
     */
    public Connection open(String uri, ConnectOptions options) {
        return runtime.connect(uri, options);
    }

    /**
     * Subscribes from an anonymous endpoint of this set-up to the publisher {@code uri}; see {@link #subscribe(String, ConnectOptions)}.
     *
     * @param uri     the publisher's name
     * @param options this side's options
     * @return the subscription, open
     */
    public Connection openSubscription(String uri, ConnectOptions options) {
        return runtime.subscribe(uri, options);
    }

    /**
     * This set-up's naming client: names, flows, host identity.
     *
     * @return the client of this set-up's daemon (connected to it first if it is not yet)
     * @throws FableException if the daemon cannot be reached
     */
    public NameService nameService() {
        return runtime.names();
    }

    /**
     * The settings this set-up was made with.
     *
     * @return this set-up's context
     */
    public Context context() {
        return context;
    }

    /**
     * Buffers this set-up's leak detector reported (dropped while handed out, neither committed nor released).
     *
     * @return the number of leaks reported so far
     */
    public long leaksReported() {
        return runtime.leaks().leaksReported();
    }

    /**
     * Also hands each of this set-up's leak reports to {@code listener} (tests, metrics); null removes it.
     *
     * @param listener called with each report's text, or {@code null} to remove the one set
     */
    public void onLeak(java.util.function.Consumer<String> listener) {
        runtime.leaks().setListener(listener);
    }

    /**
     * As {@link #listenExternal(String, ConnectOptions)}, in this set-up.
     *
     * @param uri     {@code tcp://host:port} to listen on (port 0: any free one)
     * @param options this side's options for every accepted connection
     * @return the listener, bound
     * @throws IllegalArgumentException if {@code uri} is not {@code tcp://host:port}
     * @throws FableException if the address cannot be bound
     */
    public ExternalListener externalListener(String uri, ConnectOptions options) {
        return runtime.listenExternal(uri, options);
    }

    /** Closes this set-up's client of the daemon: its names are dropped. Connections already made keep flowing. */
    @Override
    public void close() {
        runtime.close();
    }

    /**
     * Registers {@code name} for this process; closing the endpoint unregisters it.
     *
     * @param name the endpoint name: 1–64 characters from {@code A-Z a-z 0-9 . _ -}, starting with a letter or digit
     * @return the registered endpoint, not yet listening ({@link Endpoint#listen()})
     * @throws IllegalArgumentException if {@code name} is not a valid endpoint name
     * @throws NameInUseException if a live process already holds {@code name}
     * @throws FableException if the daemon cannot be reached (and none could be started)
     */
    public static Endpoint register(String name) {
        return shared().endpoint(name);
    }

    /**
     * Connects from an anonymous endpoint of this process to {@code uri}: {@code xio://name} (the
     * daemon picks the transport), {@code xio+shm|unix|tcp|tls://name} (forced), or a plain
     * external peer {@code tcp://host:port} / {@code unix:///path}.
     *
     * @param uri     where to connect, in one of the forms above
     * @param options this side's options for the connection
     * @return the connection, open
     * @throws IllegalArgumentException if {@code uri} is not one of the forms above
     * @throws NameNotFoundException if no endpoint listens under the name within {@link ConnectOptions#connectTimeout()}
     * @throws FableException if the connection cannot be made otherwise; see {@link Endpoint#connect(String, ConnectOptions)}
     */
    public static Connection connect(String uri, ConnectOptions options) {
        return shared().open(uri, options);
    }

    /**
     * Subscribes from an anonymous endpoint of this process to the publisher {@code uri} ({@link Endpoint#publish}):
     * {@code xio://name}, or {@code xio+shm|unix|tcp|tls://name}. The connection reads what the publisher publishes
     * to this subscriber, with the usual {@link Connection#poll()}/{@link Connection#receive} and single-use read
     * buffers: over shared memory in place in the publisher's fan-out pool (read-only; with
     * {@link ConnectOptions#untrusted()}, a private copy at poll), over a socket as a copy. Messages the publisher
     * dropped because this side's queue was full are told as {@link ConnectionEvent.Type#DROPPED} events and counted
     * by {@link Connection#messagesDropped()}. Nothing can be sent on it: {@code claim} fails.
     *
     * @param uri     the publisher's name, {@code xio://name} or with a forced transport
     * @param options this side's options (trust, wait mode, connect timeout; the read quota bounds held buffers)
     * @return the subscription, open
     * @throws IllegalArgumentException if {@code uri} is not an {@code xio} name
     * @throws NameNotFoundException if no endpoint has the name within {@link ConnectOptions#connectTimeout()}
     * @throws FableException if the endpoint does not publish (it accepts one-to-one connections), or the subscription
     *                        cannot be made otherwise
     */
    public static Connection subscribe(String uri, ConnectOptions options) {
        return shared().openSubscription(uri, options);
    }

    /**
     * Accepts plain, non-Fable TCP peers on {@code tcp://host:port} (port 0: any free one); see
     * {@link ExternalListener}. No name, no daemon: the address is the rendezvous.
     *
     * @param uri     {@code tcp://host:port} to listen on (port 0: any free one)
     * @param options this side's options for every accepted connection
     * @return the listener, bound
     * @throws IllegalArgumentException if {@code uri} is not {@code tcp://host:port}
     * @throws FableException if the address cannot be bound
     */
    public static ExternalListener listenExternal(String uri, ConnectOptions options) {
        return shared().externalListener(uri, options);
    }

    /**
     * Splices {@code a} and {@code b} both ways: everything one receives is forwarded to the other with
     * {@link Buffer#forward}, zero copy where both are shared memory on this host, one copy otherwise, until either
     * side ends; then the other is closed. See {@link Relay} (the issue's {@code Relay.between(a, b)}). The
     * connections may belong to any set-up; the relay takes over their receiving (and sending) threads: do not poll
     * or claim on them while it runs.
     *
     * @param a one connection, open
     * @param b the other connection, open
     * @return the running relay
     * @throws IllegalArgumentException if {@code a} and {@code b} are the same connection
     * @throws IllegalStateException if either is not open, or already in a running relay
     */
    public static Relay relay(Connection a, Connection b) {
        return dev.fable.endpoint.LocalRelay.start(a, b);
    }

    /**
     * A poller over connections of every transport that waits with {@code mode} (spinning up to 20 µs first unless
     * BLOCK), for up to 65,536 connections.
     *
     * @param mode how the poller waits: {@link WaitMode#SPIN} never sleeps
     * @return a new, empty poller; use it from one thread
     */
    public static Poller poller(WaitMode mode) {
        return new EventPoller(mode, 20_000);
    }

    /**
     * A poller that takes up to {@code capacity} connections ({@link #poller(WaitMode)} takes 65,536).
     *
     * @param mode     how the poller waits: {@link WaitMode#SPIN} never sleeps
     * @param capacity the most connections it holds at once, 1 to 2^24
     * @return a new, empty poller; use it from one thread
     * @throws IllegalArgumentException if {@code capacity} is out of range
     */
    public static Poller poller(WaitMode mode, int capacity) {
        return new EventPoller(mode, 20_000, capacity);
    }

    /**
     * The naming layer of this process's shared set-up (the daemon client): names, flows, host identity.
     *
     * @return the client of this process's daemon
     * @throws FableException if the daemon cannot be reached (and none could be started)
     */
    public static NameService names() {
        return shared().nameService();
    }

    /**
     * Buffers the leak detector of the process's shared set-up reported.
     *
     * @return the number of leaks reported so far
     */
    public static long leakedBuffers() {
        return shared().leaksReported();
    }
}
