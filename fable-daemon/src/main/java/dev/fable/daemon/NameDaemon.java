package dev.fable.daemon;

import dev.fable.transport.tls.HostIdentity;
import dev.fable.naming.protocol.FlowEntry;
import dev.fable.naming.protocol.Route;
import dev.fable.naming.NamingConfig;
import dev.fable.naming.protocol.Message;
import dev.fable.naming.protocol.Message.*;
import dev.fable.naming.protocol.Messages;
import dev.fable.naming.protocol.ProtocolException;
import dev.fable.naming.protocol.Wire;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.channels.SelectionKey;
import java.nio.channels.Selector;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.TimeUnit;

import static java.lang.System.Logger.Level.INFO;
import static java.lang.System.Logger.Level.WARNING;


/**
 * {@code fabled}: the per-host, per-user name daemon. One thread runs a selector over the Unix
 * socket, the optional TCP port for peer daemons and every client; nothing it does blocks on a
 * client (replies queue per client, bounded). Peer-daemon lookups run on virtual threads and post
 * their answers back to the loop.
 *
 * <p>A name lives as long as the control connection of the process that registered it. Every client
 * the daemon closes is logged with the reason.
 */
public final class NameDaemon implements AutoCloseable {
    static {
        DaemonLogging.install();   // before the first record: every log line has its time and level
    }

    private static final System.Logger LOG = System.getLogger(NameDaemon.class.getName());

    /** How long a client may take to send HELLO, or stay in the middle of a frame ({@code fable.daemon.stallSeconds}, default 5). */
    static final long HELLO_TIMEOUT_NANOS = TimeUnit.SECONDS.toNanos(NamingConfig.getLong("fable.daemon.stallSeconds", 5));
    static final long MID_FRAME_TIMEOUT_NANOS = HELLO_TIMEOUT_NANOS;
    static final long FLOW_QUERY_NANOS = TimeUnit.MILLISECONDS.toNanos(300);
    static final long PEER_POLL_NANOS = TimeUnit.MILLISECONDS.toNanos(100);
    static final long SWEEP_NANOS = TimeUnit.MILLISECONDS.toNanos(250);
    /** Flow rows one table may collect from all clients; a client that pushes it past this is a flood. */
    static final int MAX_FLOW_ROWS = 1 << 16;
    /** Resolves one client may have waiting at once; more is a flood. */
    static final int MAX_WAITERS_PER_CLIENT = 4096;

    private final Path runtimeDir;
    private final Path socketPath;
    private final HostIdentity identity;
    private final String advertiseHost;
    private final List<String> peers;
    private TransportPolicy policy;   // replaced when an operator changes the trusted networks (selector thread only)
    private final int maxNamesPerClient;
    private final long idleExitNanos;
    private final FileChannel lockFile;
    private final FileLock lock;
    private final Selector selector;
    private final ServerSocketChannel unixServer;
    private final ServerSocketChannel tcpServer;
    private final Registry registry = new Registry();
    private final Map<SocketChannel, Session> sessions = new HashMap<>();
    private final Map<Integer, FlowCollection> flowCollections = new HashMap<>();
    private final Map<Integer, Order> orders = new HashMap<>();
    private final ContentionPolicy contention = new ContentionPolicy(ContentionPolicy.Settings.fromConfig());
    private long nextContentionNanos = System.nanoTime();
    private long contentionRounds;
    /** Every this many contention rounds every client is asked (to find new spinning connections), else only the watched ones. */
    private static final int CONTENTION_DISCOVERY_ROUNDS = 10;
    private final Set<String> knownFingerprints = new HashSet<>();
    private final ConcurrentLinkedQueue<Runnable> tasks = new ConcurrentLinkedQueue<>();
    private final ByteBuffer readBuffer = ByteBuffer.allocate(Wire.MAX_FRAME);
    private int nextQueryId = 1;
    private long idleSinceNanos = System.nanoTime();
    private long lastSweepNanos = System.nanoTime();
    private volatile boolean running = true;
    private final java.util.concurrent.CountDownLatch stopped = new java.util.concurrent.CountDownLatch(1);

    /** A running {@code fable flows} request: who asked, which clients still owe an answer. */
    private static final class FlowCollection {
        final Session requester;   // null: the contention policy's own sample
        final Set<Session> watching = new HashSet<>();   // contention sample: clients that reported a flow the policy watches
        final int requestId;
        final long deadlineNanos;
        final Set<Session> pending = new HashSet<>();
        final Set<Session> asked = new HashSet<>();   // contention sample: every client asked
        final List<FlowEntry> flows = new ArrayList<>();

        FlowCollection(Session requester, int requestId, long deadlineNanos) {
            this.requester = requester;
            this.requestId = requestId;
            this.deadlineNanos = deadlineNanos;
        }
    }

    /**
     * Takes the daemon lock in {@code runtimeDir}, loads or creates the host identity and binds the
     * sockets. Fails if another daemon holds the lock.
     *
     * @param idleExitSeconds exit after this long without clients and names; 0: never
     */
    public NameDaemon(Path runtimeDir, Path stateDir, String advertiseHost, int tcpPort, List<String> peers,
                      TransportPolicy policy, int maxNamesPerClient, long idleExitSeconds) throws IOException {
        this.runtimeDir = runtimeDir;
        this.socketPath = NamingConfig.daemonSocket(runtimeDir);
        this.advertiseHost = advertiseHost;
        this.peers = List.copyOf(peers);
        this.policy = policy;
        this.maxNamesPerClient = maxNamesPerClient;
        this.idleExitNanos = TimeUnit.SECONDS.toNanos(idleExitSeconds);
        Files.createDirectories(runtimeDir, PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rwx------")));
        Path lockPath = runtimeDir.resolve("fabled.lock");
        lockFile = FileChannel.open(lockPath, StandardOpenOption.CREATE, StandardOpenOption.READ, StandardOpenOption.WRITE);
        lock = lockFile.tryLock();
        if (lock == null) {
            String holder = new String(Files.readAllBytes(lockPath), StandardCharsets.US_ASCII).trim();
            lockFile.close();
            throw new IllegalStateException("another fabled (pid " + (holder.isEmpty() ? "?" : holder) + ") already serves " + socketPath
                    + " (lock " + lockPath + "); stop it first, or use another -Dfable.runtime.dir");
        }
        lockFile.truncate(0).write(ByteBuffer.wrap((ProcessHandle.current().pid() + "\n").getBytes(StandardCharsets.US_ASCII)), 0);
        try {
            identity = HostIdentity.loadOrCreate(stateDir);
            knownFingerprints.add(identity.fingerprint());
            if (Files.deleteIfExists(socketPath)) LOG.log(INFO, "removed the stale socket " + socketPath + " of a daemon that is gone");
            selector = Selector.open();
            unixServer = ServerSocketChannel.open(StandardProtocolFamily.UNIX);
            unixServer.bind(UnixDomainSocketAddress.of(socketPath), 512);
            unixServer.configureBlocking(false);
            unixServer.register(selector, SelectionKey.OP_ACCEPT);
            if (tcpPort >= 0) {
                tcpServer = ServerSocketChannel.open();
                tcpServer.bind(new InetSocketAddress(advertiseHost, tcpPort), 128);
                tcpServer.configureBlocking(false);
                tcpServer.register(selector, SelectionKey.OP_ACCEPT);
            } else {
                tcpServer = null;
            }
        } catch (IOException | RuntimeException e) {
            lock.release();
            lockFile.close();
            throw e;
        }
    }

    /** A daemon configured from system properties and environment (see {@code docs/naming.md}). */
    public static NameDaemon fromConfig(boolean foreground) throws IOException {
        String trusted = NamingConfig.get("fable.trusted.networks", "127.0.0.0/8");
        TransportPolicy policy = new TransportPolicy(Cidr.parseList(trusted), NamingConfig.get("fable.policy.local"),
                NamingConfig.get("fable.policy.remote"));
        String peersCsv = NamingConfig.get("fable.daemon.peers", "");
        List<String> peers = new ArrayList<>();
        for (String p : peersCsv.split(",")) if (!p.isBlank()) peers.add(p.trim());
        long idle = NamingConfig.getLong("fable.daemon.idleExitSeconds", foreground ? 0 : 60);
        return new NameDaemon(NamingConfig.runtimeDir(), HostIdentity.defaultDirectory(),
                NamingConfig.get("fable.host.address", "127.0.0.1"), (int) NamingConfig.getLong("fable.daemon.port", -1),
                peers, policy, (int) NamingConfig.getLong("fable.daemon.maxNamesPerClient", 4096), idle);
    }

    /**
     * Runs a daemon in the foreground; {@code --autostarted} marks one the library spawned (exits when idle).
     * The ready line goes to stdout, where a parent process waits for it; an auto-started daemon's stdout is
     * its log file, so there the line is logged instead (every log line has its time and level).
     */
    public static void main(String[] args) {
        boolean autostarted = args.length > 0 && args[0].equals("--autostarted");
        NameDaemon d;
        try {
            d = fromConfig(!autostarted);
        } catch (IOException | RuntimeException e) {
            LOG.log(WARNING, "cannot start: " + e.getMessage());
            System.exit(2);
            return;
        }
        Runtime.getRuntime().addShutdownHook(new Thread(d::stopAndWait, "fabled-shutdown"));
        String ready = "fabled ready on " + d.socketPath() + " pid " + ProcessHandle.current().pid()
                + (d.tcpPort() > 0 ? " tcp " + d.advertiseHost + ":" + d.tcpPort() : "");
        if (autostarted) {
            LOG.log(INFO, ready);
        } else {
            System.out.println(ready);
            System.out.flush();
        }
        d.run();
        System.exit(0);
    }

    public Path socketPath() {
        return socketPath;
    }

    /** The bound TCP port for peer daemons, or 0 without one. */
    public int tcpPort() {
        try {
            return tcpServer == null ? 0 : ((InetSocketAddress) tcpServer.getLocalAddress()).getPort();
        } catch (IOException e) {
            return 0;
        }
    }

    /** For a shutdown hook: stops the loop and waits (bounded) until it removed its socket and released its lock. */
    public void stopAndWait() {
        close();
        try {
            if (!stopped.await(2, TimeUnit.SECONDS)) Files.deleteIfExists(socketPath);
        } catch (InterruptedException | IOException e) {
            // exiting anyway
        }
    }

    /** Serves until {@link #close()} or the idle timeout. */
    public void run() {
        LOG.log(INFO, "serving " + socketPath + " as " + identity + ", advertise " + advertiseHost
                + (tcpServer != null ? ", peer port " + tcpPort() : "") + (peers.isEmpty() ? "" : ", peers " + peers)
                + (idleExitNanos > 0 ? ", exits after " + TimeUnit.NANOSECONDS.toSeconds(idleExitNanos) + " s idle" : ""));
        while (running) {
            try {
                selector.select(nextTimeoutMillis());
                Runnable t;
                while ((t = tasks.poll()) != null) t.run();
                for (SelectionKey k : selector.selectedKeys()) handleKey(k);
                selector.selectedKeys().clear();
                housekeeping(System.nanoTime());
            } catch (IOException | RuntimeException e) {
                LOG.log(WARNING, "event loop error (continuing): " + e);
            }
        }
        shutdown();
    }

    private long nextTimeoutMillis() {
        long now = System.nanoTime();
        long next = now + TimeUnit.SECONDS.toNanos(1);   // idle and stalled-client checks
        for (Registry.Waiter w : registry.waiters()) {
            next = Math.min(next, w.deadlineNanos);
            if (!peers.isEmpty() && !w.peerQueryInFlight) next = Math.min(next, w.nextPeerQueryNanos);
        }
        for (FlowCollection c : flowCollections.values()) next = Math.min(next, c.deadlineNanos);
        if (contention.settings().enabled() && !sessions.isEmpty()) next = Math.min(next, nextContentionNanos);
        return Math.max(1, TimeUnit.NANOSECONDS.toMillis(next - now + 999_999));
    }

    private void handleKey(SelectionKey k) {
        if (!k.isValid()) return;
        try {
            if (k.isAcceptable()) {
                accept((ServerSocketChannel) k.channel());
                return;
            }
            Session s = (Session) k.attachment();
            if (k.isWritable()) s.flush();
            if (k.isValid() && k.isReadable()) read(s);
        } catch (IOException e) {
            Object a = k.attachment();
            if (a instanceof Session s) closeSession(s, "connection error: " + e.getMessage());
        }
    }

    private void accept(ServerSocketChannel server) throws IOException {
        SocketChannel ch = server.accept();
        if (ch == null) return;
        boolean tcp = server == tcpServer;
        ch.configureBlocking(false);
        if (!tcp) {
            String other = dev.fable.internal.PeerUser.otherUser(ch);
            if (other != null) {
                String why = "a process of user '" + other + "' connected to " + socketPath
                        + ", which serves only user '" + dev.fable.internal.PeerUser.me() + "'; run a daemon of your own (fable daemon, or a private -Dfable.runtime.dir)";
                ch.write(Messages.encode(new Fail(0, Wire.E_DENIED, why)));
                ch.close();
                LOG.log(WARNING, "refused: " + why);
                return;
            }
        } else {
            ch.setOption(java.net.StandardSocketOptions.TCP_NODELAY, true);
        }
        SelectionKey key = ch.register(selector, SelectionKey.OP_READ);
        Session s = new Session(ch, key, tcp);
        key.attach(s);
        sessions.put(ch, s);
    }

    private void read(Session s) throws IOException {
        readBuffer.clear();
        int n = s.channel.read(readBuffer);
        if (n < 0) {
            closeSession(s, s.decoder.midFrame() ? "disconnected in the middle of a frame" : "disconnected");
            return;
        }
        readBuffer.flip();
        try {
            ByteBuffer payload;
            while (!s.closed && (payload = s.decoder.next(readBuffer)) != null) {
                handle(s, Messages.decode(payload));
            }
        } catch (ProtocolException e) {
            reject(s, e.code(), e.getMessage());
            return;
        }
        if (!s.closed) s.midFrameSinceNanos = s.decoder.midFrame() ? (s.midFrameSinceNanos == 0 ? System.nanoTime() : s.midFrameSinceNanos) : 0;
    }

    /** Sends an error frame (best effort) and closes the client, logging why. */
    private void reject(Session s, int code, String why) {
        try {
            s.channel.write(Messages.encode(new Fail(0, code, why)));
        } catch (IOException | RuntimeException ignored) {
            // the client is going anyway; the log line below says why
        }
        closeSession(s, why);
    }

    private void reply(Session s, Message m) throws IOException {
        replyFrames(s, List.of(Messages.encode(m)));
    }

    private void replyFrames(Session s, List<ByteBuffer> frames) throws IOException {
        if (s.closed) return;
        if (!s.send(frames)) {
            closeSession(s, "does not read its replies (" + s.queuedBytes() + " bytes queued, limit " + Session.MAX_QUEUED + ")");
        }
    }

    private void handle(Session s, Message m) throws IOException {
        if (s.peerDaemon) {
            if (m instanceof PeerResolve pr) {
                peerResolve(s, pr);
            } else if (m instanceof PeerListening pl) {
                peerListening(s, pl);
            } else {
                reject(s, Wire.E_BAD_REQUEST, "a TCP connection may only send PEER_RESOLVE or PEER_LISTENING, not " + m.getClass().getSimpleName());
            }
            return;
        }
        if (!s.helloDone) {
            if (m instanceof Hello h) {
                s.helloDone = true;
                s.pid = h.pid();
                s.description = h.description() == null ? "?" : h.description();
                s.shmDir = h.shmDir() == null ? "" : h.shmDir();
                reply(s, new Welcome(h.id(), identity.hostId(), advertiseHost, identity.fingerprint(), ProcessHandle.current().pid()));
            } else {
                reject(s, Wire.E_BAD_REQUEST, "the first message must be HELLO, not " + m.getClass().getSimpleName());
            }
            return;
        }
        switch (m) {
            case Register r -> register(s, r);
            case Listening l -> listening(s, l);
            case Unregister u -> {
                Registry.Entry e = registry.get(u.name());
                if (e != null && e.owner == s) {
                    registry.remove(u.name());
                    s.names.remove(u.name());
                    reply(s, new Ok(u.id()));
                } else {
                    reply(s, new Fail(u.id(), Wire.E_NOT_FOUND, "'" + u.name() + "' is not registered by this process"));
                }
            }
            case Resolve r -> resolve(s, r);
            case NamesRequest n -> replyFrames(s, Messages.encodeNames(n.id(), registry.list(identity.hostId())));
            case FlowsRequest f -> startFlowCollection(s, f);
            case FlowReport f -> flowReport(s, f);
            case StatsRequest st -> {
                System.gc();
                System.gc();
                Runtime rt = Runtime.getRuntime();
                reply(s, new Stats(st.id(), rt.totalMemory() - rt.freeMemory(), registry.size(), sessions.size(), registry.waiterCount()));
            }
            case Reconfigure r -> reconfigure(s, r);
            case Trust t -> trust(s, t);
            case Ok o when orders.containsKey(o.id()) -> answerOrder(s, o.id(), null);
            case Fail f when orders.containsKey(f.id()) -> answerOrder(s, f.id(), f.text());
            case KnownHost kh -> reply(s, knownFingerprints.contains(kh.fingerprint()) ? new Ok(kh.id())
                    : new Fail(kh.id(), Wire.E_NOT_FOUND, "certificate " + kh.fingerprint() + " is not this host's nor a peer's"));
            case Hello h -> reject(s, Wire.E_BAD_REQUEST, "HELLO sent twice");
            default -> reject(s, Wire.E_BAD_REQUEST, "a client may not send " + m.getClass().getSimpleName());
        }
    }

    private void register(Session s, Register r) throws IOException {
        try {
            NamingConfig.checkName(r.name());
        } catch (IllegalArgumentException e) {
            reply(s, new Fail(r.id(), Wire.E_BAD_REQUEST, e.getMessage()));
            return;
        }
        Registry.Entry held = registry.get(r.name());
        if (held != null) {
            String who = held.owner == s ? "this process (pid " + s.pid + ")" : "pid " + held.owner.pid;
            reply(s, new Fail(r.id(), Wire.E_NAME_IN_USE, "endpoint name '" + r.name() + "' is already registered by " + who
                    + " with the daemon at " + socketPath + "; pick another name or stop that process"));
            return;
        }
        if (s.names.size() >= maxNamesPerClient) {
            reject(s, Wire.E_LIMIT, "registered more than " + maxNamesPerClient + " names (fable.daemon.maxNamesPerClient)");
            return;
        }
        registry.put(new Registry.Entry(r.name(), s));
        s.names.add(r.name());
        reply(s, new Ok(r.id()));
    }

    private void listening(Session s, Listening l) throws IOException {
        Registry.Entry e = registry.get(l.name());
        if (e == null || e.owner != s) {
            reply(s, new Fail(l.id(), Wire.E_NOT_FOUND, "'" + l.name() + "' is not registered by this process; register it first"));
            return;
        }
        e.unixPath = l.unixPath();
        e.tcpHost = l.tcpHost();
        e.tcpPort = l.tcpPort();
        e.listening = true;
        reply(s, new Ok(l.id()));
        for (Registry.Waiter w : registry.takeWaiters(l.name())) {
            answerLocal(w, e);
        }
        announceListening(l.name(), s.pid);
    }

    /**
     * The migration policy's trigger: endpoint {@code name} listens on this host now (it is new, or
     * its process moved here and registered again, {@code NameService.rehome}). Clients of this host
     * that hold connections to it ask for their route again, and so do the clients of every peer
     * daemon: a tcp connection from this host becomes shm, and shm to a process that left becomes tcp or tls.
     */
    private void announceListening(String name, long pid) throws IOException {
        broadcastPolicy("endpoint '" + name + "' listens on host " + identity.hostId() + " (pid " + pid + ")", name);
        for (String p : peers) {
            Thread.ofVirtual().name("fabled-peer-notice").start(() -> {
                try {
                    PeerClient.notice(p, name, advertiseHost, identity.hostId());
                } catch (IOException e) {
                    LOG.log(WARNING, "could not tell peer daemon " + p + " that '" + name + "' listens here: " + e.getMessage());
                }
            });
        }
    }

    /** Tells every client (not peer daemons) that routes may have changed: for endpoint {@code name}, or all if null. */
    private void broadcastPolicy(String what, String name) throws IOException {
        ByteBuffer note = Messages.encode(new PolicyChanged(0, what, name));
        for (Session other : new ArrayList<>(sessions.values())) {
            if (!other.peerDaemon && other.helloDone && !other.closed) replyFrames(other, List.of(note.duplicate()));
        }
    }

    private void resolve(Session s, Resolve r) throws IOException {
        Registry.Entry e = registry.get(r.name());
        if (e != null && e.listening) {
            Registry.Waiter w = new Registry.Waiter(s, r, 0);
            answerLocal(w, e);
            return;
        }
        long now = System.nanoTime();
        if (s.waiting >= MAX_WAITERS_PER_CLIENT) {
            reject(s, Wire.E_LIMIT, "has more than " + MAX_WAITERS_PER_CLIENT + " resolves waiting at once");
            return;
        }
        Registry.Waiter w = new Registry.Waiter(s, r, now + TimeUnit.MILLISECONDS.toNanos(Math.min(r.waitMillis(), TimeUnit.DAYS.toMillis(365))));
        if (peers.isEmpty() && r.waitMillis() == 0) {
            reply(s, notFound(r, e));
            return;
        }
        registry.addWaiter(w);
        if (!peers.isEmpty()) queryPeers(w);
    }

    private Fail notFound(Resolve r, Registry.Entry e) {
        String state = e != null ? "'" + r.name() + "' is registered (pid " + e.owner.pid + ") but not listening yet"
                : "no endpoint is registered as '" + r.name() + "'";
        return new Fail(r.id(), Wire.E_NOT_FOUND, state + " with the daemon at " + socketPath
                + (peers.isEmpty() ? "" : " or its peers " + peers) + (r.waitMillis() > 0 ? " within " + r.waitMillis() + " ms" : ""));
    }

    private void answerLocal(Registry.Waiter w, Registry.Entry e) throws IOException {
        if (w.answered || w.session.closed) return;
        w.answered = true;
        Resolve r = w.request;
        Message answer;
        try {
            TransportPolicy.Decision d = policy.choose(true, r.trusted(), r.forcedTransport(), e.tcpHost);
            answer = new RouteReply(r.id(), new Route(d.transport(), d.reason(), e.name, e.owner.pid, identity.hostId(), true,
                    e.unixPath, e.tcpHost, e.tcpPort, identity.fingerprint()));
        } catch (TransportPolicy.Refused ex) {
            answer = new Fail(r.id(), Wire.E_POLICY, "cannot connect to '" + r.name() + "': " + ex.getMessage());
        }
        reply(w.session, answer);
    }

    /** Asks the peer daemons for the waiter's name on a virtual thread; the answer comes back as a task. */
    private void queryPeers(Registry.Waiter w) {
        w.peerQueryInFlight = true;
        String name = w.request.name();
        Thread.ofVirtual().name("fabled-peer-query").start(() -> {
            Route found = null;
            String peer = null;
            List<String> failures = new ArrayList<>();
            for (String p : peers) {
                try {
                    found = PeerClient.query(p, name, advertiseHost, identity.hostId(), identity.fingerprint());
                    if (found != null && !found.peerHostId().equals(identity.hostId())) {
                        peer = p;
                        break;
                    }
                    found = null;
                } catch (IOException e) {
                    failures.add(e.getMessage());
                }
            }
            Route result = found;
            String from = peer;
            tasks.add(() -> peerAnswer(w, result, from, failures));
            selector.wakeup();
        });
    }

    private void peerAnswer(Registry.Waiter w, Route found, String peer, List<String> failures) {
        w.peerQueryInFlight = false;
        w.nextPeerQueryNanos = System.nanoTime() + PEER_POLL_NANOS;
        if (w.answered || w.session.closed) {
            registry.removeWaiter(w);
            return;
        }
        if (!failures.isEmpty()) LOG.log(WARNING, "peer lookup of '" + w.request.name() + "': " + failures);
        try {
            if (found != null) {
                w.answered = true;
                registry.removeWaiter(w);
                knownFingerprints.add(found.peerCertFingerprint());
                Resolve r = w.request;
                Message answer;
                if (found.tcpPort() <= 0 || found.tcpHost() == null) {
                    answer = new Fail(r.id(), Wire.E_POLICY, "endpoint '" + r.name() + "' on host " + found.peerHostId() + " (via peer daemon " + peer
                            + ") listens on no TCP port, so it cannot be reached from this host");
                } else {
                    try {
                        TransportPolicy.Decision d = policy.choose(false, r.trusted(), r.forcedTransport(), found.tcpHost());
                        answer = new RouteReply(r.id(), new Route(d.transport(), d.reason(), found.peerName(), found.peerPid(), found.peerHostId(),
                                false, null, found.tcpHost(), found.tcpPort(), found.peerCertFingerprint()));
                    } catch (TransportPolicy.Refused ex) {
                        answer = new Fail(r.id(), Wire.E_POLICY, "cannot connect to '" + r.name() + "': " + ex.getMessage());
                    }
                }
                reply(w.session, answer);
            } else if (System.nanoTime() - w.deadlineNanos >= 0) {
                w.answered = true;
                registry.removeWaiter(w);
                reply(w.session, notFound(w.request, registry.get(w.request.name())));
            }
        } catch (IOException e) {
            closeSession(w.session, "connection error: " + e.getMessage());
        }
    }

    /**
     * A configured peer asked: remember its certificate, so tls connections from its host's
     * endpoints pass this host's client check ({@code KNOWN_HOST}). Only from the address of a
     * peer in {@code fable.daemon.peers}: anyone else's claim is not recorded (the peer link itself
     * is plain TCP, so configure peers only on networks you control; docs/naming.md).
     */
    private void learnPeerHost(Session s, PeerResolve pr) {
        String from = configuredPeerAddress(s, "asking for '" + pr.name() + "'");
        if (from == null) return;
        if (knownFingerprints.add(pr.askerFingerprint())) {
            LOG.log(INFO, "peer host " + printable(pr.askerHostId()) + " at " + from + " is known now (certificate sha256 "
                    + pr.askerFingerprint().substring(0, Math.min(16, pr.askerFingerprint().length())) + "…)");
        }
    }

    /** The address {@code s} comes from if it is one of a peer in {@code fable.daemon.peers}, else null. */
    private String configuredPeerAddress(Session s, String doing) {
        try {
            java.net.InetAddress from = ((java.net.InetSocketAddress) s.channel.getRemoteAddress()).getAddress();
            for (String p : peers) {
                String host = p.substring(0, Math.max(0, p.lastIndexOf(':')));
                for (java.net.InetAddress a : java.net.InetAddress.getAllByName(host)) {
                    if (a.equals(from)) return from.getHostAddress();
                }
            }
        } catch (IOException | RuntimeException e) {
            LOG.log(WARNING, "could not check the address of a peer daemon " + doing + ": " + e);
        }
        return null;
    }

    /**
     * The migration policy from another host: a configured peer says endpoint {@code name} listens
     * there now; this daemon's clients with connections to it ask for their route again. Anyone else
     * is refused: the peer port is plain TCP, and each notice makes every client re-resolve.
     */
    private void peerListening(Session s, PeerListening pl) throws IOException {
        String from = configuredPeerAddress(s, "saying where '" + printable(pl.name()) + "' listens");
        if (from == null) {
            reject(s, Wire.E_BAD_REQUEST, "PEER_LISTENING from an address that is not a peer in fable.daemon.peers " + peers);
            return;
        }
        try {
            NamingConfig.checkName(pl.name());
        } catch (IllegalArgumentException e) {
            reject(s, Wire.E_BAD_REQUEST, e.getMessage());
            return;
        }
        reply(s, new Ok(pl.id()));
        if (pl.hostId().equals(identity.hostId())) return;
        String host = printable(pl.hostId());
        LOG.log(INFO, "peer host " + host + " says endpoint '" + pl.name() + "' listens there (from " + from + ")");
        broadcastPolicy("endpoint '" + pl.name() + "' listens on host " + host, pl.name());
    }

    /** A peer's free text for the log and for clients: printable ASCII, at most 64 characters. */
    private static String printable(String text) {
        String t = text.length() > 64 ? text.substring(0, 64) + "…" : text;
        return t.replaceAll("[^\\x20-\\x7E…]", "?");
    }

    private void peerResolve(Session s, PeerResolve pr) throws IOException {
        learnPeerHost(s, pr);
        Registry.Entry e = registry.get(pr.name());
        if (e == null || !e.listening) {
            reply(s, new Fail(pr.id(), Wire.E_NOT_FOUND, "host " + identity.hostId() + " has no listening endpoint '" + pr.name() + "'"));
            return;
        }
        reply(s, new RouteReply(pr.id(), new Route(null, null, e.name, e.owner.pid, identity.hostId(), false, null, e.tcpHost, e.tcpPort,
                identity.fingerprint())));
    }

    /**
     * {@code fable trust add|remove}: changes the trusted networks of the transport policy, then tells
     * every client, which re-asks for the routes of its {@code xio://} connections and switches those
     * whose transport the policy now chooses differently (tls to tcp on a newly trusted network, and back).
     */
    private void trust(Session s, Trust t) throws IOException {
        Cidr network;
        try {
            network = Cidr.parse(t.network());
        } catch (IllegalArgumentException e) {
            reply(s, new Fail(t.id(), Wire.E_BAD_REQUEST, e.getMessage()));
            return;
        }
        policy = policy.withNetwork(network, t.trusted());
        String what = "network " + network + (t.trusted() ? " marked trusted" : " no longer trusted") + "; trusted networks now "
                + policy.trustedNetworks();
        LOG.log(INFO, "policy: " + what + ", by " + s);
        reply(s, new Ok(t.id()));
        broadcastPolicy(what, null);
    }

    /** A switch order on its way to the process that holds the connection. */
    private record Order(Session requester, int requestId, Session target, String what, long contentionId) {}

    /**
     * {@code fable reconfigure}: forwards the order to the client process with that pid (the data path
     * never touches the daemon; the process switches its own connection) and relays its answer.
     */
    private void reconfigure(Session s, Reconfigure r) throws IOException {
        Session target = null;
        for (Session o : sessions.values()) {
            if (!o.peerDaemon && o.helloDone && !o.closed && o.pid == r.pid()) {
                target = o;
                break;
            }
        }
        if (target == null) {
            reply(s, new Fail(r.id(), Wire.E_NOT_FOUND, "no process with pid " + r.pid() + " uses this host's name daemon; "
                    + "'fable flows' lists the connections"));
            return;
        }
        int qid = nextQueryId++;
        String what = "pid " + r.pid() + " connection '" + r.localName() + "' -> " + r.transport()
                + (r.reason() == null || r.reason().isBlank() ? "" : " (" + r.reason() + ")");
        orders.put(qid, new Order(s, r.id(), target, what, 0));
        LOG.log(INFO, "reconfigure " + what + ", asked by " + s);
        replyFrames(target, List.of(Messages.encode(new Reconfigure(qid, r.pid(), r.localName(), r.transport(), r.reason(), r.connectionId(), r.waitMode()))));
    }

    private void answerOrder(Session s, int qid, String failure) throws IOException {
        Order o = orders.get(qid);
        if (o == null || o.target() != s) return;
        orders.remove(qid);
        if (failure == null) LOG.log(INFO, "reconfigured " + o.what()); else LOG.log(WARNING, "reconfigure " + o.what() + " failed: " + failure);
        if (o.requester() == null) {
            contention.answered(o.contentionId());
            return;
        }
        if (!o.requester().closed) reply(o.requester(), failure == null ? new Ok(o.requestId()) : new Fail(o.requestId(), Wire.E_POLICY, failure));
    }

    private void startFlowCollection(Session s, FlowsRequest f) throws IOException {
        int qid = nextQueryId++;
        FlowCollection c = new FlowCollection(s, f.id(), System.nanoTime() + FLOW_QUERY_NANOS);
        flowCollections.put(qid, c);
        ByteBuffer query = Messages.encode(new FlowQuery(qid));
        for (Session other : new ArrayList<>(sessions.values())) {
            if (other.peerDaemon || !other.helloDone || other.closed) continue;
            c.pending.add(other);
            replyFrames(other, List.of(query.duplicate()));
        }
        c.pending.removeIf(x -> x.closed);
        if (c.pending.isEmpty()) finishFlows(qid);
    }

    private void flowReport(Session s, FlowReport f) throws IOException {
        FlowCollection c = flowCollections.get(f.id());
        if (c == null || !c.pending.contains(s)) return;   // a late answer after the 300 ms: the table went out without it
        List<FlowEntry> rows = new ArrayList<>(f.entries().size());
        for (FlowEntry e : f.entries()) {   // a client reports its own connections only: the policy sends orders by these pids
            if (e.pid() == s.pid && e.localName() != null && e.peerName() != null && e.transport() != null) rows.add(e);
        }
        if (rows.size() < f.entries().size()) {
            LOG.log(WARNING, s + " reported " + (f.entries().size() - rows.size()) + " flow row(s) of another process or without names; dropped");
        }
        if (c.flows.size() + rows.size() > MAX_FLOW_ROWS) {
            reject(s, Wire.E_LIMIT, "reported more than " + MAX_FLOW_ROWS + " flow rows for one table");
            return;
        }
        c.flows.addAll(rows);
        if (c.requester == null && ContentionPolicy.watches(rows)) c.watching.add(s);
        if (f.last()) {
            c.pending.remove(s);
            if (c.pending.isEmpty()) finishFlows(f.id());
        }
    }

    private void finishFlows(int qid) throws IOException {
        FlowCollection c = flowCollections.remove(qid);
        if (c == null) return;
        if (c.requester == null) {
            contentionSample(c);
            return;
        }
        if (!c.pending.isEmpty()) LOG.log(WARNING, "flow table sent without " + c.pending.size() + " client(s) that did not answer within 300 ms: " + c.pending);
        replyFrames(c.requester, Messages.encodeFlows(Wire.FLOW_LIST, c.requestId, withAcceptorReasons(c.flows)));
    }

    /**
     * Only the connecting side knows why its transport was chosen (it asked this daemon); the
     * accepting side reports "accepted". Give it the connector's reason when both ends are in the table.
     */
    static List<FlowEntry> withAcceptorReasons(List<FlowEntry> flows) {
        Map<String, String> reasonByEnds = new java.util.HashMap<>();
        for (var f : flows) {
            if (!ACCEPTED.equals(f.reason())) reasonByEnds.putIfAbsent(f.localName() + "\u0000" + f.peerName() + "\u0000" + f.transport(), f.reason());
        }
        List<FlowEntry> out = new ArrayList<>(flows.size());
        for (var f : flows) {
            String r = ACCEPTED.equals(f.reason()) ? reasonByEnds.get(f.peerName() + "\u0000" + f.localName() + "\u0000" + f.transport()) : null;
            out.add(r == null ? f : f.withReason(r + " (accepting side)"));
        }
        return out;
    }

    static final String ACCEPTED = dev.fable.naming.NameService.ACCEPTED_REASON;

    /**
     * A contention round: asks the clients that reported a spinning (or policy-blocked) shm connection
     * last time, and every {@link #CONTENTION_DISCOVERY_ROUNDS}th round all clients, for their flows.
     */
    private void startContentionSample(long now) throws IOException {
        ContentionPolicy.Settings cs = contention.settings();
        nextContentionNanos = now + cs.periodNanos();
        boolean discover = contentionRounds++ % CONTENTION_DISCOVERY_ROUNDS == 0;
        int qid = nextQueryId++;
        FlowCollection c = new FlowCollection(null, 0, now + Math.min(FLOW_QUERY_NANOS, cs.periodNanos()));
        ByteBuffer query = Messages.encode(new FlowQuery(qid));
        for (Session other : new ArrayList<>(sessions.values())) {
            if (other.peerDaemon || !other.helloDone || other.closed || !(discover || other.contentionWatched)) continue;
            c.pending.add(other);
            c.asked.add(other);
            replyFrames(other, List.of(query.duplicate()));
        }
        c.pending.removeIf(x -> x.closed);
        if (c.asked.isEmpty()) return;
        flowCollections.put(qid, c);
        if (c.pending.isEmpty()) finishFlows(qid);
    }

    /** The answers of a contention round: which clients to watch, and the switches the policy orders. */
    private void contentionSample(FlowCollection c) throws IOException {
        for (Session s : c.asked) s.contentionWatched = c.watching.contains(s);
        for (ContentionPolicy.Order o : contention.observe(c.flows)) {
            Session target = null;
            for (Session x : c.asked) if (x.pid == o.pid() && !x.closed) target = x;
            if (target == null) {
                contention.answered(o.connectionId());
                continue;
            }
            int qid = nextQueryId++;
            String what = "pid " + o.pid() + " connection '" + o.localName() + "' -> shm with " + o.waitMode() + " waits (" + o.reason() + ")";
            orders.put(qid, new Order(null, 0, target, what, o.connectionId()));
            LOG.log(INFO, "policy: reconfigure " + what);
            replyFrames(target, List.of(Messages.encode(new Reconfigure(qid, o.pid(), o.localName(), "shm", o.reason(), o.connectionId(), o.waitMode()))));
        }
    }

    private void housekeeping(long now) throws IOException {
        if (contention.settings().enabled() && now - nextContentionNanos >= 0 && !sessions.isEmpty()) startContentionSample(now);
        if (registry.waiterCount() > 0) expireWaiters(now);
        for (Map.Entry<Integer, FlowCollection> c : new ArrayList<>(flowCollections.entrySet())) {
            if (now - c.getValue().deadlineNanos >= 0) finishFlows(c.getKey());
        }
        sweep(now);
    }

    private void expireWaiters(long now) throws IOException {
        for (Registry.Waiter w : registry.waiters()) {
            if (w.answered || w.session.closed) {
                registry.removeWaiter(w);
            } else if (now - w.deadlineNanos >= 0 && !w.peerQueryInFlight) {
                w.answered = true;
                registry.removeWaiter(w);
                reply(w.session, notFound(w.request, registry.get(w.request.name())));
            } else if (!peers.isEmpty() && !w.peerQueryInFlight && now - w.nextPeerQueryNanos >= 0) {
                queryPeers(w);
            }
        }
    }

    /** Coarse checks, every {@link #SWEEP_NANOS}: stalled clients and the idle exit. */
    private void sweep(long now) {
        if (now - lastSweepNanos < SWEEP_NANOS) return;   // the rest is coarse: stalled clients and idle exit
        lastSweepNanos = now;
        for (Session s : new ArrayList<>(sessions.values())) {
            if (s.peerDaemon && now - s.connectedAtNanos > HELLO_TIMEOUT_NANOS) {
                reject(s, Wire.E_BAD_REQUEST, "a peer daemon connection stayed open longer than "
                        + TimeUnit.NANOSECONDS.toSeconds(HELLO_TIMEOUT_NANOS) + " s (one lookup per connection)");
            } else if (!s.peerDaemon && !s.helloDone && now - s.connectedAtNanos > HELLO_TIMEOUT_NANOS) {
                reject(s, Wire.E_BAD_REQUEST, "sent no HELLO within " + TimeUnit.NANOSECONDS.toSeconds(HELLO_TIMEOUT_NANOS) + " s");
            } else if (s.midFrameSinceNanos != 0 && now - s.midFrameSinceNanos > MID_FRAME_TIMEOUT_NANOS) {
                reject(s, Wire.E_BAD_REQUEST, "stalled in the middle of a frame for more than "
                        + TimeUnit.NANOSECONDS.toSeconds(MID_FRAME_TIMEOUT_NANOS) + " s");
            }
        }
        boolean idle = registry.size() == 0 && sessions.values().stream().allMatch(x -> x.peerDaemon);
        if (!idle) {
            idleSinceNanos = now;
        } else if (idleExitNanos > 0 && now - idleSinceNanos > idleExitNanos) {
            LOG.log(INFO, "no clients and no names for " + TimeUnit.NANOSECONDS.toSeconds(idleExitNanos) + " s: exiting");
            running = false;
        }
    }

    /**
     * A client's control connection closed: if the process died ({@code kill -9}), remove the
     * shared-memory files it created and never unlinked (a prepared pool, a handshake in flight).
     * The socket closes while the process exits, before it is reaped, so look again for a second.
     */
    private static void sweepSharedMemoryOf(java.nio.file.Path dir, long pid) {
        Thread.ofVirtual().name("fabled-shm-sweep-" + pid).start(() -> {
            for (int i = 0; i < 20; i++) {
                if (ProcessHandle.of(pid).map(p -> !p.isAlive()).orElse(true)) {
                    int n = dev.fable.transport.shm.ShmFiles.removeFilesOf(dir, pid);
                    if (n > 0) LOG.log(INFO, "removed " + n + " shared-memory file(s) of dead pid " + pid);
                    return;
                }
                try {
                    Thread.sleep(50);   // a retry interval, not synchronisation: the process is still exiting
                } catch (InterruptedException e) {
                    return;
                }
            }
        });
    }

    private void closeSession(Session s, String reason) {
        if (s.closed) return;
        s.closed = true;
        sessions.remove(s.channel);
        s.key.cancel();
        try {
            s.channel.close();
        } catch (IOException ignored) {
            // already gone
        }
        for (String n : s.names) registry.remove(n);
        if (!s.peerDaemon && s.pid > 0 && !s.shmDir.isEmpty()) sweepSharedMemoryOf(java.nio.file.Path.of(s.shmDir), s.pid);
        String names = s.names.isEmpty() ? "" : "; released " + s.names.size() + " name(s)" + (s.names.size() <= 5 ? " " + s.names : "");
        if (s.peerDaemon) {
            if (!reason.equals("disconnected")) LOG.log(WARNING, "closed peer daemon connection: " + reason);
        } else if (!s.helloDone && reason.equals("disconnected")) {
            LOG.log(INFO, "closed a client that left before HELLO");
        } else {
            if (reason.equals("disconnected")) {
                LOG.log(INFO, "closed " + s + ": " + reason + names);
            } else {
                LOG.log(WARNING, "closed " + s + ": " + reason + names);
            }
        }
        s.names.clear();
        for (Map.Entry<Integer, Order> o : new ArrayList<>(orders.entrySet())) {
            if (o.getValue().target() != s && o.getValue().requester() != s) continue;
            orders.remove(o.getKey());
            if (o.getValue().requester() == null) {
                contention.answered(o.getValue().contentionId());
            } else if (o.getValue().target() == s && !o.getValue().requester().closed) {
                try {
                    reply(o.getValue().requester(), new Fail(o.getValue().requestId(), Wire.E_NOT_FOUND,
                            "the process went away before it answered (" + reason + ")"));
                } catch (IOException ignored) {
                    // the requester is going too
                }
            }
        }
        for (Map.Entry<Integer, FlowCollection> c : new ArrayList<>(flowCollections.entrySet())) {
            if (c.getValue().requester == s) {
                flowCollections.remove(c.getKey());
            } else if (c.getValue().pending.remove(s) && c.getValue().pending.isEmpty()) {
                try {
                    finishFlows(c.getKey());
                } catch (IOException e) {
                    closeSession(c.getValue().requester, "connection error: " + e.getMessage());
                }
            }
        }
    }

    /** Stops the loop (from any thread); the loop closes everything and releases the socket and lock. */
    @Override
    public void close() {
        running = false;
        selector.wakeup();
    }

    private void shutdown() {
        for (Session s : new ArrayList<>(sessions.values())) closeSession(s, "daemon stopping");
        try {
            selector.close();
            unixServer.close();
            if (tcpServer != null) tcpServer.close();
            Files.deleteIfExists(socketPath);
            lock.release();
            lockFile.close();
        } catch (IOException e) {
            LOG.log(WARNING, "cleaning up " + runtimeDir + ": " + e);
        }
        LOG.log(INFO, "stopped");
        stopped.countDown();
    }
}
