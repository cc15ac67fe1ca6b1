package dev.fable.naming;

import dev.fable.FableException;
import dev.fable.NameInUseException;
import dev.fable.NameNotFoundException;
import dev.fable.internal.OwnedDirectory;
import dev.fable.internal.PeerUser;
import dev.fable.naming.protocol.Message;
import dev.fable.naming.protocol.Message.*;
import dev.fable.naming.protocol.Messages;
import dev.fable.naming.protocol.Wire;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Supplier;
import dev.fable.naming.protocol.FlowEntry;
import dev.fable.naming.protocol.HostInfo;
import dev.fable.naming.protocol.NameEntry;
import dev.fable.naming.protocol.Route;
import dev.fable.naming.protocol.RouteRequest;
import dev.fable.naming.protocol.SwitchOrder;
import dev.fable.naming.protocol.ListenAddress;

/**
 * The library's client of {@code fabled}: one per process ({@link #get()}). It keeps one control
 * connection to the daemon — the connection's life is the life of this process's names. If the
 * daemon goes away, a reader thread reconnects with backoff (starting a daemon if allowed) and
 * registers every live name again with its listening address; established connections never
 * notice, since no data goes through the daemon.
 */
public final class DaemonNameService implements NameService {
    private static final long CONNECT_WAIT_NANOS = TimeUnit.SECONDS.toNanos(15);
    private static final long REPLY_GRACE_MILLIS = 10_000;
    private static DaemonNameService instance;

    private final Path runtimeDir;
    private final Path socket;
    private final boolean autostart;
    private final Path stateDir;   // for a daemon this client starts; null: the default
    private final Path shmDir;     // told to the daemon in HELLO
    private final Map<Integer, Pending> pending = new ConcurrentHashMap<>();
    private final AtomicInteger ids = new AtomicInteger(1);
    private final Set<Reg> live = ConcurrentHashMap.newKeySet();
    private final Object regLock = new Object();
    private final Object connLock = new Object();
    private DaemonConnection conn;   // guarded by connLock; null while reconnecting
    private HostInfo host;
    private long daemonPid;
    private volatile boolean closed;
    private volatile Supplier<List<FlowEntry>> flowSource = List::of;
    private volatile Reconfigurer reconfigurer = o -> "this process does not carry out switches";
    private volatile PolicyListener policyListener = (what, name) -> { };

    /** A request in flight: a single reply, or list chunks until the one marked last. */
    private static final class Pending {
        final CompletableFuture<Message> done = new CompletableFuture<>();
        final List<Object> items = new ArrayList<>();
    }

    /** Thrown inside when the daemon connection broke under a call; the call is retried on the next connection. */
    private static final class Lost extends Exception {
        Lost(String m) {
            super(m);
        }
    }

    /** The daemon answered the handshake with a refusal (another user, another version). */
    private static final class Refused extends IOException {
        Refused(String m) {
            super(m);
        }
    }

    private DaemonNameService(Path runtimeDir, boolean autostart, Path stateDir, Path shmDir) {
        this.runtimeDir = runtimeDir;
        this.shmDir = shmDir;
        this.stateDir = stateDir;
        this.socket = NamingConfig.daemonSocket(runtimeDir);
        this.autostart = autostart;
        createEndpointDirectory(runtimeDir);
        connectOrFail(System.nanoTime() + CONNECT_WAIT_NANOS);
    }

    /**
     * The runtime directory and {@code <runtime dir>/ep}, where endpoints bind their Unix sockets: created
     * 0700, or checked to be this uid's and closed to others' writes ({@link OwnedDirectory}).
     */
    private static void createEndpointDirectory(Path runtimeDir) {
        try {
            OwnedDirectory.ensure(runtimeDir, "Fable runtime directory", "fable.runtime.dir");
            OwnedDirectory.ensure(runtimeDir.resolve("ep"), "Fable endpoint socket directory", "fable.runtime.dir");
        } catch (OwnedDirectory.RefusedException e) {
            throw new FableException(e.getMessage(), e);
        } catch (IOException e) {
            throw new FableException("cannot create the Fable runtime directory " + runtimeDir.resolve("ep") + ": " + e
                    + "; set -Dfable.runtime.dir (or FABLE_RUNTIME_DIR) to a writable directory", e);
        }
    }

    /**
     * This process's client, connected to the daemon of {@link NamingConfig#runtimeDir()} (started if none answers and allowed).
     *
     * @return the process's one client; a new one if there was none or it was closed
     * @throws FableException if the runtime directory is unusable, the daemon refuses this client, or no daemon
     *                        answers within 15 s and none could be started
     */
    public static synchronized DaemonNameService get() {
        if (instance == null || instance.closed) instance = open(NamingConfig.runtimeDir(), NamingConfig.autostart());
        return instance;
    }

    /**
     * A client of the daemon in {@code runtimeDir}; for tools and tests that talk to a specific daemon.
     *
     * @param runtimeDir the runtime directory of the daemon (created 0700 if missing)
     * @param autostart  whether to start a daemon there when none answers
     * @return a new client, connected
     * @throws FableException if the runtime directory is unusable, the daemon refuses this client, or no daemon
     *                        answers within 15 s and none could be started
     */
    public static DaemonNameService open(Path runtimeDir, boolean autostart) {
        return new DaemonNameService(runtimeDir, autostart, null, dev.fable.transport.shm.ShmFiles.defaultDirectory());
    }

    /**
     * A client of the daemon in {@code runtimeDir}; a daemon it auto-starts keeps its host identity in
     * {@code stateDir} (null: {@code fable.state.dir} or its default); {@code shmDir} is where this client's
     * shared-memory files go (the daemon removes them when the client dies).
     *
     * @param runtimeDir the runtime directory of the daemon (created 0700 if missing)
     * @param autostart  whether to start a daemon there when none answers
     * @param stateDir   where a daemon this client starts keeps its host identity, or null for its default
     * @param shmDir     the directory of this client's shared-memory files, told to the daemon
     * @return a new client, connected
     * @throws FableException if the runtime directory is unusable, the daemon refuses this client, or no daemon
     *                        answers within 15 s and none could be started
     */
    public static DaemonNameService open(Path runtimeDir, boolean autostart, Path stateDir, Path shmDir) {
        return new DaemonNameService(runtimeDir, autostart, stateDir, shmDir);
    }

    /**
     * The runtime directory of the daemon this client talks to.
     *
     * @return the runtime directory
     */
    public Path runtimeDir() {
        return runtimeDir;
    }

    /**
     * The daemon's Unix socket this client connects to.
     *
     * @return {@code <runtime dir>/fabled.sock}
     */
    public Path socket() {
        return socket;
    }

    /**
     * The pid of the daemon this client is connected to now.
     *
     * @return the pid the daemon's last WELCOME gave (the previous daemon's while reconnecting)
     */
    public long daemonPid() {
        synchronized (connLock) {
            return daemonPid;
        }
    }

    // ---- connection management ----

    private void connectOrFail(long deadline) {
        String why = tryConnect(deadline, true);
        if (why != null) throw new FableException(why);
    }

    /** Connects (starting a daemon if allowed) until {@code deadline}; returns null, or why it could not. */
    private String tryConnect(long deadline, boolean first) {
        Process spawned = null;
        long backoff = 5;
        String last = null;
        // Built before connecting: the first call of the shm directory initialises the native-call layer
        // (Libc), ~1 s in a fresh JVM and several on a loaded host, and the daemon gives a connection 5 s
        // (fable.daemon.stallSeconds) to send HELLO before it refuses it as hostile.
        ByteBuffer hello = Messages.encode(new Hello(0, ProcessHandle.current().pid(), ProcessHandle.current().info().command().orElse("java"),
                shmDir.toAbsolutePath().toString()));
        while (!closed) {
            try {
                DaemonConnection c = DaemonConnection.open(socket);
                try {
                    checkDaemonUid(c);
                    handshake(c, hello.duplicate());
                    return null;
                } catch (IOException e) {
                    c.close();
                    last = e.getMessage();
                    // retrying cannot help a first connect; a reconnect (the reader thread's loop) backs off below
                    // until its deadline instead of spinning on a refusal
                    if (e instanceof Refused && first) return last;
                }
            } catch (IOException e) {
                last = "no daemon answers at " + socket + " (" + e.getMessage() + ")";
                if (autostart && spawned == null) spawned = DaemonLauncher.spawn(runtimeDir, stateDir);
            }
            if (spawned != null && !spawned.isAlive() && spawned.exitValue() != 0 && first) {
                // Another process may have started one at the same moment (ours then lost the lock): keep trying until the deadline.
                last = "the name daemon started for " + socket + " exited with status " + spawned.exitValue() + "; its log "
                        + DaemonLauncher.logFile(runtimeDir) + " ends with:\n" + DaemonLauncher.tail(runtimeDir);
            }
            if (System.nanoTime() - deadline >= 0) break;
            try {
                Thread.sleep(backoff);   // waiting for a daemon to come up: setup path, not the rendezvous hot path
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return "interrupted while connecting to the name daemon at " + socket;
            }
            backoff = Math.min(backoff * 2, first ? 50 : 250);
        }
        if (closed) return "the name service of this process was closed";
        if (autostart) {
            return "cannot reach the name daemon at " + socket + ": " + last + "; the daemon started for it logs to "
                    + DaemonLauncher.logFile(runtimeDir) + ", or start one with 'fable daemon'";
        }
        return "cannot reach the name daemon at " + socket + ": " + last + "; auto-start is off (fable.daemon.autostart / "
                + "FABLE_DAEMON_AUTOSTART): start one with 'fable daemon' (or the fabled.service unit)";
    }

    /**
     * Refuses a daemon socket served by another uid ({@code SO_PEERCRED} of the listening process) before
     * anything is sent to it: a daemon socket that someone else created would learn this process's names.
     */
    private void checkDaemonUid(DaemonConnection c) throws IOException {
        int daemon = c.peerUid();
        int me = PeerUser.me();
        if (daemon != me) {
            throw new Refused("the name daemon at " + socket + " runs as uid " + daemon + ", this process as uid " + me
                    + "; refusing it (someone else may have created " + socket + ")");
        }
    }

    /** Sends {@code hello} (an encoded HELLO) and waits for the daemon's WELCOME. */
    private void handshake(DaemonConnection c, ByteBuffer hello) throws IOException {
        try {
            c.sendFrame(hello);
        } catch (IOException e) {
            // a daemon that refuses this client has already written why and closed: read it below
        }
        Message m = c.readWithin(5000);
        if (!(m instanceof Welcome w)) {
            String text = m instanceof Fail f ? f.text() : m.getClass().getSimpleName();
            throw new Refused("the daemon at " + socket + " refused this client: " + text);
        }
        synchronized (connLock) {
            conn = c;
            host = new HostInfo(w.hostId(), w.advertiseHost(), w.certFingerprint());
            daemonPid = w.daemonPid();
            connLock.notifyAll();
        }
        Thread t = new Thread(() -> readLoop(c), "fable-daemon-reader");
        t.setDaemon(true);
        t.start();
    }

    private void readLoop(DaemonConnection c) {
        String why;
        try {
            while (true) dispatch(c, c.read());
        } catch (IOException e) {
            why = e.getMessage() == null ? e.toString() : e.getMessage();
        }
        synchronized (connLock) {
            if (conn == c) conn = null;
        }
        c.close();
        for (Map.Entry<Integer, Pending> p : pending.entrySet()) {
            p.getValue().done.completeExceptionally(new Lost("lost the connection to the name daemon at " + socket + ": " + why));
        }
        if (closed) return;
        System.getLogger("dev.fable.naming").log(System.Logger.Level.WARNING,
                "lost the name daemon at " + socket + " (" + why + "); reconnecting and registering " + live.size() + " name(s) again");
        while (!closed) {
            String failure = tryConnect(System.nanoTime() + TimeUnit.SECONDS.toNanos(30), false);
            if (failure == null) {
                reRegister();
                return;
            }
            System.getLogger("dev.fable.naming").log(System.Logger.Level.WARNING, failure + "; still trying");
        }
    }

    private void reRegister() {
        synchronized (regLock) {
            for (Reg r : live) {
                try {
                    Message m = reply(call(new Register(nextId(), r.name), 0));
                    boolean mineAlready = m instanceof Fail f && f.code() == Wire.E_NAME_IN_USE && f.text().contains("this process");
                    if (!mineAlready) expectOk(m, r.name);
                    ListenAddress a = r.address;
                    if (a != null) expectOk(call(new Listening(nextId(), r.name, a.unixPath(), a.tcpHost(), a.tcpPort()), 0), r.name);
                } catch (RuntimeException e) {
                    System.getLogger("dev.fable.naming").log(System.Logger.Level.ERROR,
                            "could not register '" + r.name + "' again with the restarted daemon at " + socket + ": " + e.getMessage());
                }
            }
        }
    }

    private void dispatch(DaemonConnection c, Message m) throws IOException {
        switch (m) {
            case FlowQuery q -> Thread.ofVirtual().name("fable-flow-report").start(() -> reportFlows(c, q.id()));
            case Reconfigure r -> Thread.ofVirtual().name("fable-reconfigure").start(() -> obey(c, r));
            case PolicyChanged pc -> Thread.ofVirtual().name("fable-policy").start(() -> policyListener.changed(pc.what(), pc.name()));
            case Fail f when f.id() == 0 -> throw new IOException("the daemon closed this client: " + f.text());
            case NameList l -> chunk(l.id(), l.entries(), l.last());
            case FlowList l -> chunk(l.id(), l.entries(), l.last());
            default -> {
                Pending p = pending.get(m.id());
                if (p != null) p.done.complete(m);
            }
        }
    }

    private void chunk(int id, List<?> entries, boolean last) {
        Pending p = pending.get(id);
        if (p == null) return;
        p.items.addAll(entries);
        if (last) p.done.complete(new Ok(id));
    }

    /** The daemon forwards an operator's switch order: carry it out and answer ok or why not. */
    private void obey(DaemonConnection c, Reconfigure r) {
        String why;
        try {
            why = reconfigurer.reconfigure(new SwitchOrder(r.localName(), r.connectionId(), r.transport(), r.waitMode(), r.reason()));
        } catch (RuntimeException e) {
            why = String.valueOf(e.getMessage());
        }
        try {
            c.send(why == null ? new Ok(r.id()) : new Fail(r.id(), Wire.E_POLICY, why));
        } catch (IOException e) {
            // the daemon went away: the operator's call fails on its side
        }
    }

    private void reportFlows(DaemonConnection c, int queryId) {
        List<FlowEntry> flows;
        try {
            flows = flowSource.get();
        } catch (RuntimeException e) {
            System.getLogger("dev.fable.naming").log(System.Logger.Level.WARNING, "the flow source failed; reporting no flows", e);
            flows = List.of();
        }
        try {
            for (ByteBuffer f : Messages.encodeFlows(Wire.FLOW_REPORT, queryId, flows)) c.sendFrame(f);
        } catch (IOException e) {
            // the connection broke: the reader thread reconnects; this table is lost with it
        }
    }

    private int nextId() {
        int id = ids.getAndIncrement();
        if (id == 0) id = ids.getAndIncrement();   // 0 is the daemon's "whole connection" id
        return id;
    }

    private DaemonConnection connection(long deadline) {
        synchronized (connLock) {
            while (conn == null) {
                if (closed) throw new FableException("the name service of this process was closed");
                long left = deadline - System.nanoTime();
                if (left <= 0) {
                    throw new FableException("no connection to the name daemon at " + socket + " (it went away and has not come back); "
                            + (autostart ? "see " + DaemonLauncher.logFile(runtimeDir) : "start one with 'fable daemon'"));
                }
                try {
                    TimeUnit.NANOSECONDS.timedWait(connLock, left);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    throw new FableException("interrupted while waiting for the name daemon at " + socket);
                }
            }
            return conn;
        }
    }

    /**
     * The daemon answers most requests within tens of microseconds; parking now would add a wake-up
     * of this thread (tens of µs on a VM whose other vCPU idles; docs/naming.md) to every connect. So spin a little
     * first: setup path only, bounded, and only when the caller asked for an answer.
     */
    private static void spinForReply(Pending p) {
        long end = System.nanoTime() + REPLY_SPIN_NANOS;
        while (!p.done.isDone() && System.nanoTime() - end < 0) Thread.onSpinWait();
    }

    private static final long REPLY_SPIN_NANOS = TimeUnit.MICROSECONDS.toNanos(500);

    /** Sends a request and waits for its reply; retries on a new connection if the daemon went away meanwhile. */
    private Pending call(Message request, long waitMillis) {
        long deadline = System.nanoTime() + CONNECT_WAIT_NANOS + TimeUnit.MILLISECONDS.toNanos(waitMillis);
        while (true) {
            DaemonConnection c = connection(deadline);
            Pending p = new Pending();
            pending.put(request.id(), p);
            try {
                c.send(request);
                spinForReply(p);
                p.done.get(waitMillis + REPLY_GRACE_MILLIS, TimeUnit.MILLISECONDS);
                return p;
            } catch (IOException e) {
                c.close();   // the reader thread notices and reconnects
            } catch (ExecutionException e) {
                if (!(e.getCause() instanceof Lost)) throw new FableException("name daemon call failed: " + e.getCause(), e.getCause());
            } catch (TimeoutException e) {
                throw new FableException("the name daemon at " + socket + " did not answer " + request.getClass().getSimpleName()
                        + " within " + (waitMillis + REPLY_GRACE_MILLIS) + " ms; is it overloaded? (see 'fable names')");
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new FableException("interrupted while waiting for the name daemon at " + socket);
            } finally {
                pending.remove(request.id());
            }
        }
    }

    private static Message reply(Pending p) {
        return p.done.getNow(null);
    }

    private void expectOk(Pending p, String name) {
        expectOk(reply(p), name);
    }

    private void expectOk(Message m, String name) {
        if (m instanceof Ok) return;
        throw failure(m, name);
    }

    private FableException failure(Message m, String name) {
        if (!(m instanceof Fail f)) {
            return new FableException("the name daemon at " + socket + " answered " + m.getClass().getSimpleName() + " about '" + name + "'");
        }
        return switch (f.code()) {
            case Wire.E_NAME_IN_USE -> new NameInUseException(f.text());
            case Wire.E_NOT_FOUND -> new NameNotFoundException(f.text() + "; start the listener first (Fable.register(\"" + name
                    + "\").listen(), or 'fable recv " + name + "'), or pass a connect timeout to wait for it; 'fable names' lists the names");
            default -> new FableException("name daemon at " + socket + ": " + f.text());
        };
    }

    // ---- NameService ----

    @Override
    public HostInfo host() {
        connection(System.nanoTime() + CONNECT_WAIT_NANOS);
        synchronized (connLock) {
            return host;
        }
    }

    @Override
    public Registration register(String name) {
        NamingConfig.checkName(name);
        synchronized (regLock) {
            expectOk(call(new Register(nextId(), name), 0), name);
            Reg r = new Reg(name);
            live.add(r);
            return r;
        }
    }

    @Override
    public Route resolve(String name, RouteRequest request, long timeoutNanos) {
        NamingConfig.checkName(name);
        long waitMillis = timeoutNanos < 0 ? TimeUnit.DAYS.toMillis(365) : (timeoutNanos + 999_999) / 1_000_000;
        Message m = reply(call(new Resolve(nextId(), name, request.trusted(), request.forcedTransport(), waitMillis), waitMillis));
        if (m instanceof RouteReply r) return r.route();
        throw failure(m, name);
    }

    @Override
    @SuppressWarnings("unchecked")
    public List<NameEntry> names() {
        return (List<NameEntry>) (List<?>) List.copyOf(call(new NamesRequest(nextId()), 0).items);
    }

    @Override
    @SuppressWarnings("unchecked")
    public List<FlowEntry> flows() {
        return (List<FlowEntry>) (List<?>) List.copyOf(call(new FlowsRequest(nextId()), 1000).items);
    }

    @Override
    public void reconfigure(long pid, String localName, String transport, String waitMode, String reason) {
        Message m = reply(call(new Reconfigure(nextId(), pid, localName, transport, reason, 0, waitMode), RECONFIGURE_WAIT_MILLIS));
        if (m instanceof Fail f) {
            throw new FableException("cannot switch connection '" + localName + "' of pid " + pid + " to " + transport + ": " + f.text());
        }
        if (!(m instanceof Ok)) throw new FableException("the name daemon answered a reconfiguration with " + m.getClass().getSimpleName());
    }

    /** A switch may wait up to 10 s for the previous one to finish and 30 s for a handshake. */
    private static final long RECONFIGURE_WAIT_MILLIS = 45_000;

    @Override
    public void trust(String network, boolean trusted) {
        Message m = reply(call(new Trust(nextId(), network, trusted), 0));
        if (m instanceof Fail f && f.code() == Wire.E_BAD_REQUEST) throw new IllegalArgumentException(f.text());
        if (m instanceof Fail f) throw new FableException("cannot change the trust of '" + network + "': " + f.text());
    }

    /**
     * The networks this host's daemon trusts now ({@code fable trust list}).
     *
     * @return the trusted networks, CIDR as given
     * @throws FableException if the daemon refuses or cannot be reached
     */
    public List<String> trustedNetworks() {
        Message m = reply(call(new TrustListRequest(nextId()), 1000));
        if (m instanceof NetworkList l) return l.networks();
        throw failure(m, "trust list");
    }

    @Override
    public void policyListener(PolicyListener l) {
        this.policyListener = l == null ? (what, name) -> { } : l;
    }

    @Override
    public void rehome() {
        DaemonConnection c;
        synchronized (connLock) {
            c = conn;
        }
        System.getLogger("dev.fable.naming").log(System.Logger.Level.INFO, "the host changed: reconnecting to the daemon at " + socket
                + " and registering " + live.size() + " name(s) there");
        if (c != null) c.close();   // the reader thread sees it, reconnects (now to this host's daemon) and registers again
    }

    @Override
    public void reconfigurer(Reconfigurer r) {
        this.reconfigurer = r == null ? o -> "this process does not carry out switches" : r;
    }

    @Override
    public void flowSource(Supplier<List<FlowEntry>> source) {
        this.flowSource = source == null ? List::of : source;
    }

    @Override
    public boolean isKnownHost(String sha256Fingerprint) {
        return reply(call(new KnownHost(nextId(), sha256Fingerprint), 0)) instanceof Ok;
    }

    /** Refusal reports per second at most; the excess is counted into the next one sent. */
    private static final int REFUSAL_REPORTS_PER_SECOND = 20;
    private final Object refusalLimiter = new Object();
    private long refusalWindowStart;   // guarded by refusalLimiter
    private int refusalsInWindow;      // guarded by refusalLimiter
    private int refusalsSuppressed;    // guarded by refusalLimiter

    @Override
    public void reportRefusal(String endpoint, String address, String reason) {
        int count;
        synchronized (refusalLimiter) {
            long now = System.nanoTime();
            if (now - refusalWindowStart > 1_000_000_000L) {
                refusalWindowStart = now;
                refusalsInWindow = 0;
            }
            if (++refusalsInWindow > REFUSAL_REPORTS_PER_SECOND) {
                refusalsSuppressed++;
                return;
            }
            count = 1 + refusalsSuppressed;
            refusalsSuppressed = 0;
        }
        try {
            reply(call(new Message.Refused(nextId(), endpoint, address, reason, count), 0));
        } catch (RuntimeException e) {
            System.getLogger("dev.fable.naming").log(System.Logger.Level.DEBUG, "could not report a refusal to the daemon: " + e);
        }
    }

    /**
     * What this host's endpoints refused, for {@code fable flows --refused}.
     *
     * @return the total since the daemon started and the latest sources
     * @throws FableException if the daemon refuses or cannot be reached
     */
    public RefusalList refusals() {
        Message m = reply(call(new RefusalsRequest(nextId()), 1000));
        if (m instanceof RefusalList l) return l;
        throw failure(m, "refusals");
    }

    @Override
    public boolean isTrustedAddress(java.net.InetAddress address) {
        if (address.isLoopbackAddress()) return true;   // this host: no network to listen in on
        return reply(call(new TrustedAddress(nextId(), address.getHostAddress()), 0)) instanceof Ok;
    }

    /**
     * The daemon's used heap as it is (no GC forced) and its table sizes.
     *
     * @return the daemon's figures
     * @throws FableException if the daemon refuses or cannot be reached
     */
    public Stats stats() {
        return stats(false);
    }

    /**
     * As {@link #stats()}, but the daemon runs two full GCs first, so used heap figures compare between
     * calls (capacity tests). It stops the daemon's loop for the GCs: a diagnostic, not for every request.
     *
     * @return the daemon's figures, the heap measured right after two full GCs
     * @throws FableException if the daemon refuses or cannot be reached
     */
    public Stats settledStats() {
        return stats(true);
    }

    private Stats stats(boolean settle) {
        Message m = reply(call(new StatsRequest(nextId(), settle), 2000));
        if (m instanceof Stats s) return s;
        throw failure(m, "stats");
    }

    @Override
    public void close() {
        closed = true;
        synchronized (connLock) {
            if (conn != null) conn.close();
            connLock.notifyAll();
        }
    }

    private final class Reg implements Registration {
        final String name;
        volatile ListenAddress address;
        private boolean released;

        Reg(String name) {
            this.name = name;
        }

        @Override
        public String name() {
            return name;
        }

        @Override
        public void listening(ListenAddress a) {
            address = a;
            synchronized (regLock) {
                expectOk(call(new Listening(nextId(), name, a.unixPath(), a.tcpHost(), a.tcpPort()), 0), name);
            }
        }

        @Override
        public void close() {
            synchronized (regLock) {
                if (released) return;
                released = true;
                live.remove(this);
                if (closed) return;
                Message m = reply(call(new Unregister(nextId(), name), 0));
                if (!(m instanceof Ok) && !(m instanceof Fail f && f.code() == Wire.E_NOT_FOUND)) throw failure(m, name);
            }
        }
    }
}
