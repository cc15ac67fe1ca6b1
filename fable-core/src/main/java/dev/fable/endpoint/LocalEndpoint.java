package dev.fable.endpoint;

import dev.fable.internal.Closeables;
import dev.fable.naming.NameService;
import dev.fable.naming.NamingConfig;
import dev.fable.transport.ControlChannel;
import dev.fable.transport.EndpointListener;
import dev.fable.transport.Frames;
import dev.fable.transport.Transport;
import dev.fable.transport.Leg;
import dev.fable.flow.LiveConnection;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import dev.fable.Endpoint;
import dev.fable.ConnectOptions;
import dev.fable.Connection;
import dev.fable.FableException;
import dev.fable.PeerGoneException;
import dev.fable.WaitMode;
import dev.fable.naming.protocol.Route;
import dev.fable.naming.protocol.RouteRequest;
import dev.fable.transport.PeerRef;
import dev.fable.transport.tls.DoorProof;
import dev.fable.transport.tls.HostIdentity;
import dev.fable.naming.protocol.ListenAddress;

/**
 * The endpoint implementation: a name held through the {@link NameService}, an
 * {@link EndpointListener} once listening, and the transports ({@link TransportRegistry}).
 *
 * <h2>Sessions</h2>
 * Every control channel a Fable connector opens starts with a session frame: {@code int magic
 * "FSES", byte kind (1 OPEN, 2 REJOIN), long connection id, long epoch}; a REJOIN goes on with
 * {@code byte[16] nonce, string reason, byte wait mode, byte[32] authenticator}; SUBSCRIBE (3) opens a
 * subscription to a publishing endpoint ({@link LocalPublisher}) as OPEN opens a connection (wait mode 0: the
 * endpoint's own, else {@link WaitMode} ordinal + 1; the authenticator is an HMAC-SHA256, keyed
 * with the connection's secret, over the frame before it). Then the transport's own handshake.
 * OPEN starts a connection (the application accepts it); REJOIN is the next leg of a live
 * connection being reconfigured ({@link LiveConnection}), which this endpoint hands to that
 * connection without the application's involvement. The dispatcher accepts every incoming channel
 * and reads its session frame on a virtual thread of its own ({@link #session}), queueing OPENs for
 * {@link #accept}.
 *
 * <h2>Doors (docs/security.md)</h2>
 * <ul>
 *   <li>The Unix socket admits only processes of this uid ({@code SO_PEERCRED}), and only the
 *       transports that run on this host: shm and unix.</li>
 *   <li>The TCP port admits only tcp and tls, and only connectors that first answer a
 *       {@link DoorProof} challenge with a host key this host's daemon knows; plain tcp besides only
 *       from this host or a trusted network ({@code fable trust}).</li>
 *   <li>The acceptor of a connection's first leg makes the connection's secret and hands it over
 *       inside that leg's handshake (inside TLS for tls); a REJOIN whose authenticator does not
 *       verify with it, or whose epoch is not the next one, is refused and the connection flows on.</li>
 * </ul>
 * Refusals are logged as one line with the peer's address and counted ({@link #refusals()}).
 */
final class LocalEndpoint implements Endpoint {
    private static final long ACCEPT_HANDSHAKE_NANOS = TimeUnit.SECONDS.toNanos(30);
    private static final long SESSION_NANOS = TimeUnit.SECONDS.toNanos(5);
    private static final int SESSION_MAGIC = 0x46534553;   // "FSES"
    private static final byte OPEN = 1;
    private static final byte REJOIN = 2;
    private static final byte SUBSCRIBE = 3;
    private static final int SESSION_BYTES = 4 + 1 + 8 + 8;
    private static final int REJOIN_NONCE_BYTES = 16;
    private static final int MAC_BYTES = 32;
    private static final byte[] MAC_CONTEXT = "fable-rejoin-v1".getBytes(java.nio.charset.StandardCharsets.US_ASCII);
    /** How long a refused connection may keep sending before we close it anyway. */
    private static final long REFUSAL_LINGER_NANOS = TimeUnit.SECONDS.toNanos(2);
    /** How long a connector waits for the door's challenge. */
    private static final long DOOR_NANOS = TimeUnit.SECONDS.toNanos(10);
    private static final java.security.SecureRandom IDS = new java.security.SecureRandom();

    /** A control channel past the door, waiting for accept(): its transport hello, its connection id (0: session-less) and secret. */
    private record Pending(ControlChannel channel, ByteBuffer hello, long id, byte[] secret) {}

    private static final Pending CLOSED = new Pending(null, null, 0, null);

    /** A connection this endpoint accepts or accepted: the connection once accept() made it, and the secret its REJOINs prove. */
    private record LiveEntry(java.util.concurrent.CompletableFuture<LiveConnection> connection, byte[] secret, boolean subscription) {}

    private final java.util.concurrent.LinkedBlockingQueue<Pending> pending = new java.util.concurrent.LinkedBlockingQueue<>(MAX_PENDING);
    /** Connections by id, entered when their OPEN passed the door (a REJOIN can follow the connector's handshake at once). */
    private final java.util.Map<Long, LiveEntry> live = new java.util.concurrent.ConcurrentHashMap<>();
    private final java.util.concurrent.atomic.AtomicLong refusals = new java.util.concurrent.atomic.AtomicLong();
    /** Door tickets this endpoint issued to connectors that passed its TCP door. */
    private final DoorTickets.Issued issued = new DoorTickets.Issued();
    private final java.util.concurrent.atomic.AtomicLong challenged = new java.util.concurrent.atomic.AtomicLong();
    private final java.util.concurrent.atomic.AtomicLong ticketed = new java.util.concurrent.atomic.AtomicLong();

    private final String name;
    private final NameService names;
    private final TransportRegistry transports;
    private final FlowTable flows;
    private final RuntimeSettings settings;
    private final NameService.Registration registration;   // null for anonymous endpoints
    private EndpointListener listener;                      // guarded by this
    private boolean closed;                                 // guarded by this
    private volatile ConnectOptions listenOptions;
    private volatile LocalPublisher publisher;              // set once by publish(); then this endpoint takes subscriptions only

    LocalEndpoint(String name, NameService names, TransportRegistry transports, FlowTable flows, RuntimeSettings settings, boolean register) {
        this.settings = settings;
        this.flows = flows;
        this.name = name;
        this.names = names;
        this.transports = transports;
        this.registration = register ? names.register(NamingConfig.checkName(name)) : null;
    }

    @Override
    public String name() {
        return name;
    }

    @Override
    public synchronized Endpoint listen(ConnectOptions options) {
        if (registration == null) throw new IllegalStateException("an anonymous endpoint cannot listen; use Fable.register(name)");
        if (closed) throw new IllegalStateException("endpoint '" + name + "' is closed; register the name again");
        if (publisher != null) throw new IllegalStateException("endpoint '" + name + "' publishes: it takes subscribers, not one-to-one connections");
        this.listenOptions = options;
        startListening(options);
        return this;
    }

    /** Binds the endpoint's sockets and starts its dispatcher, once. Caller holds the monitor. */
    private void startListening(ConnectOptions options) {
        if (listener == null) {
            Path sock = NamingConfig.endpointSocket(settings.runtimeDir(), name);
            listener = new EndpointListener(name, sock, names.host().advertiseHost(), transports.services().liveness());
            EndpointListener l = listener;
            Thread.ofPlatform().daemon().name("fable-endpoint-" + name).start(() -> dispatch(l));
            java.net.InetSocketAddress tcp = listener.tcpAddress();
            registration.listening(new ListenAddress(listener.unixPath().toString(), tcp.getAddress().getHostAddress(), tcp.getPort()));
            transports.shm().prepare(options);   // the first shm accept finds its pool ready
        }
    }

    @Override
    public synchronized dev.fable.Publisher publish(ConnectOptions options) {
        if (registration == null) throw new IllegalStateException("an anonymous endpoint cannot publish; use Fable.register(name)");
        if (closed) throw new IllegalStateException("endpoint '" + name + "' is closed; register the name again");
        if (publisher != null) throw new IllegalStateException("endpoint '" + name + "' publishes already");
        if (listenOptions != null) throw new IllegalStateException("endpoint '" + name + "' listens for one-to-one connections; register another name to publish");
        dev.fable.transport.shm.FanoutPool pool = dev.fable.transport.shm.FanoutPool.create(options.slotSize(), options.slotCount(),
                Math.min(options.readQuota(), options.slotCount()), "publisher '" + name + "'", transports.services().leaks());
        // each subscriber's leg: over shm its own pool carries only what is claimed for that subscriber alone, over a
        // socket it is the staging of the copies (with the socket buffer, a socket subscriber's queue): 8 slots; the log
        // is an shm subscriber's queue
        this.listenOptions = options.slotCount(8).readQuota(0);
        dev.fable.transport.shm.BroadcastLog log;
        try {
            log = options.broadcastLog() == 0 ? null : dev.fable.transport.shm.BroadcastLog.create(options.broadcastLog(),
                    Math.min(ConnectOptions.INLINE_MAX_BYTES, options.slotSize()), "publisher '" + name + "'", transports.services().leaks());
        } catch (RuntimeException e) {
            pool.close();
            throw e;
        }
        LocalPublisher p = new LocalPublisher(this, pool, log, options.broadcastLossless(), flows);
        this.publisher = p;
        try {
            startListening(listenOptions);
        } catch (RuntimeException e) {
            pool.close();
            if (log != null) log.close();
            throw e;
        }
        return p;
    }

    @Override
    public Connection accept() {
        return accept(-1);
    }

    @Override
    public Connection accept(Duration timeout) {
        return accept(timeout.toNanos());
    }

    @Override
    public Connection tryAccept() {
        return accept(0);
    }

    private Connection accept(long timeoutNanos) {
        synchronized (this) {
            if (listener == null || listenOptions == null) {
                throw new IllegalStateException("endpoint '" + name + "' is not listening: call listen() first");
            }
        }
        Pending p;
        try {
            p = timeoutNanos < 0 ? pending.take() : pending.poll(timeoutNanos, TimeUnit.NANOSECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new FableException("accept on endpoint '" + name + "' was interrupted", e);
        }
        if (p == null) return null;
        if (p == CLOSED) {
            pending.add(CLOSED);   // for other threads waiting in accept
            throw new FableException("endpoint '" + name + "' was closed while accept waited");
        }
        synchronized (this) {
            if (closed) {   // queued by a session thread just as the endpoint closed: nobody accepts for it any more
                live.remove(p.id());
                p.channel().close();
                throw new FableException("endpoint '" + name + "' is closed; register the name again");
            }
        }
        ControlChannel ch = p.channel();
        try {
            ch.secretToSend(p.secret());
            Leg leg = acceptLeg(ch, p.hello(), null);
            LiveConnection c = new LiveConnection(leg, p.id(), null, () -> live.remove(p.id()), settings.drainNanos());
            LiveEntry entry = live.get(p.id());
            if (entry != null) entry.connection().complete(c);
            flows.add(c, NameService.ACCEPTED_REASON);
            return c;
        } catch (RuntimeException e) {
            LiveEntry entry = live.remove(p.id());
            if (entry != null) entry.connection().completeExceptionally(e);
            ch.close();
            throw e;
        }
    }

    /** {@code waitMode}: the wait mode a switch asked for, or null for the endpoint's own. */
    private Leg acceptLeg(ControlChannel ch, ByteBuffer hello, WaitMode waitMode) {
        String transport = Frames.getString(hello, "transport");
        Transport t = transports.get(transport);
        if (t == null) throw new FableException("endpoint '" + name + "': a peer asked for unknown transport '" + transport + "'");
        ConnectOptions o = listenOptions;
        return t.accept(ch, name, hello, waitMode == null ? o : o.waitMode(waitMode));
    }

    /**
     * The endpoint's dispatcher thread: accepts each incoming control channel and hands it to a
     * virtual thread of its own ({@link #session}), at most {@link #MAX_SESSIONS} at once, so that a
     * peer that is slow to send its session frame or its handshake holds up nobody else. Ends when
     * the endpoint closes; the connections still queued for {@link #accept} are closed then.
     */
    private void dispatch(EndpointListener l) {
        while (true) {
            ControlChannel ch;
            try {
                ch = l.accept(-1);
            } catch (FableException e) {
                if (!l.isClosed()) {   // a passing failure (too many open files, say): the endpoint stays
                    System.getLogger("dev.fable").log(System.Logger.Level.WARNING, e.getMessage() + "; accepting again in 10 ms");
                    java.util.concurrent.locks.LockSupport.parkNanos(TimeUnit.MILLISECONDS.toNanos(10));
                    continue;
                }
                for (Pending p; (p = pending.poll()) != null; ) {
                    live.remove(p.id());
                    if (p.channel() != null) p.channel().close();
                }
                pending.add(CLOSED);
                return;
            }
            sessions.acquireUninterruptibly();   // at the cap, the kernel's backlog holds the next connects
            Thread.ofVirtual().name("fable-session-" + name).start(() -> {
                try {
                    session(ch);
                } finally {
                    sessions.release();
                }
            });
        }
    }

    /** Session handshakes under way at once (each on its own virtual thread). */
    private static final int MAX_SESSIONS = 64;
    private final java.util.concurrent.Semaphore sessions = new java.util.concurrent.Semaphore(MAX_SESSIONS);
    /** New connections waiting for {@link #accept}; beyond this, more are refused (closed) rather than piled up. */
    private static final int MAX_PENDING = 128;
    /** Transports one connection may hold open at once (the newest and old ones still draining). */
    private static final int MAX_OPEN_LEGS = 32;
    
    /**
     * One incoming control channel: reads its session frame, queues a new connection for
     * {@link #accept}, or runs a reconfiguration leg's handshake and hands the leg to its connection.
     */
    private void session(ControlChannel ch) {
        String from = ch.peerAddress();
        try {
            long deadline = System.nanoTime() + SESSION_NANOS;
            ByteBuffer first = ch.readFrame(deadline);
            ByteBuffer whole = first.duplicate();   // as sent: what the door proof signs
            if (first.remaining() < SESSION_BYTES || first.getInt(0) != SESSION_MAGIC) {
                if (ch.overTcp()) refuse(ch, "it sent no session frame; the TCP door admits only Fable connectors that prove their host key");
                checkDoor(ch, first);
                queue(new Pending(ch, first, 0, null));   // a local connector that sends no session frame: its first frame is the hello
                return;
            }
            byte kind = first.get(4);
            long id = first.getLong(5);
            long epoch = first.getLong(13);
            ch.epoch(epoch);
            if (kind != OPEN && kind != REJOIN && kind != SUBSCRIBE) refuse(ch, "unknown session kind " + kind);
            LocalPublisher pub = publisher;
            if (kind == OPEN && pub != null) {
                refuse(ch, "endpoint '" + name + "' publishes: subscribe to it (Fable.subscribe), one-to-one connections are not taken here");
            }
            if (kind == SUBSCRIBE && pub == null) {
                refuse(ch, "endpoint '" + name + "' does not publish: connect to it (Fable.connect); only a publisher takes subscribers");
            }
            LiveEntry entry = kind == REJOIN ? checkRejoin(ch, first, id) : null;   // before the door's proof: a MAC is cheaper
            if (ch.overTcp()) passDoor(ch, whole, deadline);
            if (kind == OPEN || kind == SUBSCRIBE) {
                if (epoch != 0) refuse(ch, "a new connection announced epoch " + epoch + ", not 0");
                ByteBuffer hello = ch.readFrame(deadline);   // read here, so that accept() only sees connections past the door
                checkDoor(ch, hello);
                byte[] secret = new byte[ControlChannel.SECRET_BYTES];
                IDS.nextBytes(secret);
                // entered before accept() can finish the handshake; an id already here is a replay or a collision: refused
                if (live.putIfAbsent(id, new LiveEntry(new java.util.concurrent.CompletableFuture<>(), secret, kind == SUBSCRIBE)) != null) {
                    refuse(ch, "it opened connection " + Long.toHexString(id) + ", which exists already");
                }
                if (kind == SUBSCRIBE) {
                    subscribe(pub, ch, hello, id, secret);
                } else {
                    queue(new Pending(ch, hello, id, secret));
                }
            } else {
                Rejoin r = null;
                try {
                    r = rejoinRequest(first);
                } catch (Transport.Refused e) {
                    refuse(ch, e.getMessage());
                }
                rejoin(ch, id, entry, r.reason(), r.waitMode());
            }
        } catch (Transport.Refused e) {
            refusals.incrementAndGet();
            ch.closeAfterRefusal(REFUSAL_LINGER_NANOS);
            System.getLogger("dev.fable").log(System.Logger.Level.WARNING, "endpoint '" + name + "' refused a connection from "
                    + from + ": " + e.getMessage());
            names.reportRefusal(name, from, e.getMessage());
        } catch (RuntimeException e) {
            ch.close();
            System.getLogger("dev.fable").log(System.Logger.Level.WARNING, "endpoint '" + name + "': " + e.getMessage());
        }
    }

    /** Connectors that passed the TCP door by a challenge (tests). */
    long doorChallengesPassed() {
        return challenged.get();
    }

    /** Connectors that passed the TCP door with a ticket (tests). */
    long doorTicketsPassed() {
        return ticketed.get();
    }

    /** Tests: this endpoint forgets every ticket it issued (as a restart would), so that held ones go stale. */
    void forgetIssuedTickets() {
        issued.clear();
    }

    /** Tests: a ticket issued now to the host of {@code fingerprint}. */
    byte[] issueTicket(String fingerprint) {
        return issued.issue(fingerprint);
    }

    /** Connections this endpoint refused at its doors (bad proof, wrong door, untrusted network, forged switch). */
    long refusals() {
        return refusals.get();
    }

    /** Tells the connector why (best effort) and throws {@link Transport.Refused}. */
    private static void refuse(ControlChannel ch, String why) {
        try {
            Transport.reject(ch, Transport.REJECT, "door", why);
        } catch (Transport.Refused told) {
            throw new Transport.Refused(why);   // the log line says "refused a connection from ADDR: why"
        }
    }

    /**
     * The TCP door: the connector proves it holds a known host key, with a ticket this endpoint
     * issued before or by answering a fresh challenge ({@link DoorProof}); either way it gets a new
     * ticket for its next connection, in the transport's reply.
     */
    private void passDoor(ControlChannel ch, ByteBuffer sessionFrame, long deadline) {
        // this host's own key needs no daemon query (its fingerprint came with the daemon's WELCOME); others do
        String own = names.host().certFingerprint();
        HostIdentity self;
        try {
            self = transports.identity(own);
        } catch (FableException e) {
            System.getLogger("dev.fable").log(System.Logger.Level.ERROR, "endpoint '" + name + "': " + e.getMessage());
            refuse(ch, "the endpoint cannot prove its host: " + e.getMessage());
            return;
        }
        java.util.function.Predicate<String> known = fp -> fp.equalsIgnoreCase(own) || names.isKnownHost(fp);
        ByteBuffer first = ch.readFrame(deadline);
        byte kind = first.hasRemaining() ? first.get(first.position()) : 0;
        String prover = null;
        try {
            if (kind == DoorProof.TICKET) {
                prover = DoorProof.verifyTicket(self, first, sessionFrame, issued::redeem);
                if (!known.test(prover)) {   // trust may have been withdrawn since the ticket was issued
                    throw new Transport.Refused("its host key (certificate sha256 " + prover + ") is no longer a known peer host's");
                }
                ticketed.incrementAndGet();
            } else if (kind == DoorProof.ASK && first.remaining() == 1) {
                byte[] nonce = new byte[DoorProof.NONCE_BYTES];
                ch.writeFrame(DoorProof.challenge(self, nonce));
                prover = DoorProof.verify(self, ch.readFrame(deadline), nonce, sessionFrame, known);
                challenged.incrementAndGet();
            } else {
                throw new Transport.Refused("its first door frame (" + first.remaining() + " B) is neither a ticket nor a request for a challenge");
            }
        } catch (Transport.Refused e) {
            refuse(ch, e.getMessage());
        }
        ch.ticketToSend(issued.issue(prover));
    }

    /**
     * Which transports come through which door: shm and unix only through the Unix socket, tcp and
     * tls only through the TCP port, plain tcp only from this host or a trusted network.
     */
    private void checkDoor(ControlChannel ch, ByteBuffer hello) {
        String transport = Frames.getString(hello.duplicate(), "transport");
        Transport t = transports.get(transport);
        if (t == null) refuse(ch, "it asked for unknown transport '" + transport + "'");
        if (t.crossesHosts() != ch.overTcp()) {
            refuse(ch, ch.overTcp() ? "it asked for " + transport + " through the TCP door; shm and unix come only through the endpoint's "
                    + "Unix socket, from this user" : "it asked for " + transport + " through the Unix socket; tcp and tls use the TCP door");
        }
        if (transport.equals(dev.fable.TransportName.TCP) && ch.overTcp()) {
            java.net.InetAddress from;
            try {
                from = ((InetSocketAddress) ch.channel().getRemoteAddress()).getAddress();
            } catch (IOException e) {
                throw new FableException("endpoint '" + name + "': the peer left during the handshake: " + e, e);
            }
            if (!names.isTrustedAddress(from)) {
                refuse(ch, "plain tcp from " + from.getHostAddress() + ", which is not in a trusted network of this host; "
                        + "connect with tls, or mark the network trusted here (fable trust add NETWORK)");
            }
        }
    }

    /** A REJOIN's authenticator, checked with its connection's secret: returns the connection's entry, or refuses. */
    private LiveEntry checkRejoin(ControlChannel ch, ByteBuffer frame, long id) {
        LiveEntry entry = live.get(id);
        if (entry == null) refuse(ch, "it asked to switch connection " + Long.toHexString(id) + ", which this endpoint does not have (closed?)");
        try {
            authenticate(frame, entry.secret(), id);
        } catch (Transport.Refused e) {
            refuse(ch, e.getMessage());
        }
        return entry;
    }

    /**
     * The socket-free part of {@link #checkRejoin} (the session-frame fuzz test drives it): checks the REJOIN
     * frame's authenticator with {@code secret} and drops it from the frame's limit, else throws
     * {@link Transport.Refused} with the reason.
     */
    static void authenticate(ByteBuffer frame, byte[] secret, long id) {
        int n = frame.remaining();
        if (n < SESSION_BYTES + REJOIN_NONCE_BYTES + 2 + 1 + MAC_BYTES) throw new Transport.Refused("its switch request is " + n + " B, too short to be authenticated");
        byte[] want = mac(secret, frame.duplicate().limit(frame.limit() - MAC_BYTES));
        byte[] got = new byte[MAC_BYTES];
        frame.get(frame.limit() - MAC_BYTES, got);
        if (!java.security.MessageDigest.isEqual(want, got)) {
            throw new Transport.Refused("its switch request for connection " + Long.toHexString(id) + " carries a wrong authenticator "
                    + "(forged, or not from this connection's peer); the connection flows on");
        }
        frame.limit(frame.limit() - MAC_BYTES);
    }

    /** What an authenticated REJOIN asks for: the reason of the switch and the wait mode (null: the endpoint's own). */
    record Rejoin(String reason, WaitMode waitMode) {}

    /**
     * Reads what a REJOIN frame asks for, after {@link #authenticate} (socket-free; fuzzed): {@link Transport.Refused}
     * for a wait mode out of range, another {@link dev.fable.FableException} for a malformed frame.
     */
    static Rejoin rejoinRequest(ByteBuffer frame) {
        frame.position(SESSION_BYTES + REJOIN_NONCE_BYTES);
        String why = Frames.getString(frame, "reason");
        int wait = Frames.getByte(frame, "wait mode");
        if (wait < 0 || wait > WaitMode.values().length) {
            throw new Transport.Refused("it asked for wait mode " + wait + " (0.." + WaitMode.values().length + ")");
        }
        return new Rejoin(why, wait == 0 ? null : WaitMode.values()[wait - 1]);
    }

    /** HMAC-SHA256 under {@code secret} over the context string and {@code bytes}. */
    private static byte[] mac(byte[] secret, ByteBuffer bytes) {
        try {
            javax.crypto.Mac m = javax.crypto.Mac.getInstance("HmacSHA256");
            m.init(new javax.crypto.spec.SecretKeySpec(secret, "HmacSHA256"));
            m.update(MAC_CONTEXT);
            m.update(bytes);
            return m.doFinal();
        } catch (java.security.GeneralSecurityException e) {
            throw new IllegalStateException("HmacSHA256 is part of every JDK", e);
        }
    }

    /** A subscriber's first leg, on its session thread: the handshake (sharing the fan-out pool), then the publisher takes it in. */
    private void subscribe(LocalPublisher pub, ControlChannel ch, ByteBuffer hello, long id, byte[] secret) {
        try {
            ch.secretToSend(secret).fanout(pub.pool()).broadcast(pub.broadcastLog());
            Leg leg = acceptLeg(ch, hello, null);
            LiveConnection c = new LiveConnection(leg, id, null, () -> live.remove(id), settings.drainNanos());
            LiveEntry entry = live.get(id);
            if (entry != null) entry.connection().complete(c);
            flows.add(c, "subscribed to publisher '" + name + "'");
            pub.join(c);
        } catch (RuntimeException e) {
            LiveEntry entry = live.remove(id);
            if (entry != null) entry.connection().completeExceptionally(e);
            ch.close();
            throw e;
        }
    }

    /** Queues a new connection for {@link #accept}, or refuses it when {@link #MAX_PENDING} already wait. */
    private void queue(Pending p) {
        if (!pending.offer(p)) {
            live.remove(p.id());
            throw new Transport.Refused("endpoint '" + name + "': " + MAX_PENDING + " new connections already wait for accept(); refused one");
        }
    }

    /** A reconfiguration leg for connection {@code id}: handshake here, then the connection adopts it. */
    private void rejoin(ControlChannel ch, long id, LiveEntry entry, String reason, WaitMode waitMode) {
        LiveConnection c;
        try {   // the connector's handshake is done, so accept() is finishing it here: at most a moment
            c = entry.connection().get(ACCEPT_HANDSHAKE_NANOS, TimeUnit.NANOSECONDS);
        } catch (InterruptedException | java.util.concurrent.ExecutionException | java.util.concurrent.TimeoutException e) {
            throw new FableException("a peer asked to switch connection " + Long.toHexString(id) + ", which was never accepted here: " + e, e);
        }
        synchronized (entry) {   // one REJOIN of a connection at a time (each on its own thread): the next waits for this one's adopt
            LocalPublisher pub = publisher;
            if (entry.subscription() && pub != null) ch.fanout(pub.pool());   // a subscription's next leg shares the pool too
            rejoinLocked(ch, c, reason, waitMode);
        }
    }

    private void rejoinLocked(ControlChannel ch, LiveConnection c, String reason, WaitMode waitMode) {
        if (c.openLegs() >= MAX_OPEN_LEGS) {   // old legs close as they drain: a peer that never ends its old ones gets no more
            throw new FableException("a peer asked to switch " + c + ", which already holds " + c.openLegs() + " transports that have "
                    + "not drained; refused until they have");
        }
        if (ch.epoch() != c.epoch() + 1) {   // switches follow one another: the next leg is the newest one's successor
            throw new FableException("a peer offered epoch " + ch.epoch() + " for " + c + ", whose next epoch is " + (c.epoch() + 1));
        }
        ByteBuffer hello = ch.readFrame(System.nanoTime() + ACCEPT_HANDSHAKE_NANOS);
        checkDoor(ch, hello);
        Leg leg = acceptLeg(ch, hello, waitMode);
        if (!leg.peerName().equals(c.peerName())) {   // only the connection's own peer may extend it
            leg.close();
            throw new FableException("'" + leg.peerName() + "' asked to take over " + c + ", whose peer is '" + c.peerName() + "'");
        }
        c.adopt(leg, reason, waitMode);
    }

    @Override
    public Connection connect(String uri, ConnectOptions options) {
        return connect(uri, options, false);
    }

    /** Subscribes to the publisher {@code uri} (see {@code Fable.subscribe}). */
    Connection subscribe(String uri, ConnectOptions options) {
        return connect(uri, options, true);
    }

    private Connection connect(String uri, ConnectOptions options, boolean subscribe) {
        Target target = Target.parse(uri);
        if (target.external()) {
            if (subscribe) throw new IllegalArgumentException("subscribe(" + uri + "): a publisher is named by xio://name, not by an address");
            return transports.external(target, name, options);
        }
        Route route = names.resolve(target.name(), new RouteRequest(options.isTrusted(), target.forcedTransport()),
                options.connectTimeout().toNanos());
        Transport t = transports.get(route.transport());
        if (t == null) {
            throw new FableException("the name daemon chose transport '" + route.transport() + "' for '" + target.name()
                    + "', which this library does not have; update Fable on this host");
        }
        long id = IDS.nextLong() | 1;   // never 0 (0: a peer without sessions)
        java.util.concurrent.atomic.AtomicReference<ControlChannel> firstLeg = new java.util.concurrent.atomic.AtomicReference<>();
        Leg leg = connectLeg(route, t, subscribe ? SUBSCRIBE : OPEN, id, 0, null, null, null, options, firstLeg, subscribe);
        byte[] secret = firstLeg.get().secretReceived();   // the key of this connection's switch requests
        if (secret == null) {
            leg.close();
            throw new FableException("endpoint '" + route.peerName() + "' handed over no connection secret in its " + t.name()
                    + " handshake; it runs an older Fable: update it");
        }
        LiveConnection c = new LiveConnection(leg, id, (transport, epoch, cid, why, wait) -> openLeg(target.name(), transport, epoch, cid, why, wait, options, secret, subscribe), () -> { }, settings.drainNanos());
        if (subscribe) c.subscription();
        if (target.forcedTransport() == null) {   // xio://: the daemon's policy chose the transport, and may choose again
            c.policy(() -> {
                Route r = names.resolve(target.name(), new RouteRequest(options.isTrusted(), null),
                        options.connectTimeout().toNanos());
                return new LiveConnection.Choice(r.transport(), r.reason());
            });
        }
        flows.add(c, subscribe ? "subscription: " + route.reason() : route.reason());
        return c;
    }

    /** The next leg of live connection {@code id}: a handshake over {@code transport} with the peer's endpoint, epoch {@code epoch}. */
    private Leg openLeg(String peer, String transport, long epoch, long id, String reason, WaitMode wait, ConnectOptions own, byte[] secret,
                        boolean subscription) {
        ConnectOptions options = wait == null ? own : own.waitMode(wait);
        Route route = names.resolve(peer, new RouteRequest(options.isTrusted(), transport), options.connectTimeout().toNanos());
        Transport t = transports.get(route.transport());
        if (t == null) throw new FableException("this library has no transport '" + route.transport() + "'");
        return connectLeg(route, t, REJOIN, id, epoch, reason, wait, secret, options, new java.util.concurrent.atomic.AtomicReference<>(), subscription);
    }

    /**
     * A leg over {@code t} to {@code route}'s endpoint ({@link #open}, then the transport's
     * handshake); {@code opened} gets its control channel. At a TCP door a held ticket proves first;
     * if the door no longer holds it, the tickets for that door are dropped and the door asked for a
     * challenge once more. A ticket the handshake handed over is kept for the next leg.
     */
    private Leg connectLeg(Route route, Transport t, byte kind, long id, long epoch, String reason, WaitMode wait, byte[] secret,
                           ConnectOptions options, java.util.concurrent.atomic.AtomicReference<ControlChannel> opened, boolean subscription) {
        PeerRef peer = new PeerRef(route.peerName(), route.peerCertFingerprint());
        String where = route.tcpHost() + ":" + route.tcpPort();
        Leg leg;
        try {
            leg = t.connect(() -> remember(opened, open(route, t, kind, id, epoch, reason, wait, secret, true).subscribing(subscription)), name, peer, options);
        } catch (FableException e) {
            if (!t.crossesHosts() || e.getMessage() == null || !e.getMessage().contains(DoorProof.STALE_TICKET)) throw e;
            transports.tickets().forget(where);
            leg = t.connect(() -> remember(opened, open(route, t, kind, id, epoch, reason, wait, secret, false).subscribing(subscription)), name, peer, options);
        }
        byte[] ticket = opened.get().ticketReceived();
        if (t.crossesHosts() && ticket != null) transports.tickets().add(where, ticket);
        return leg;
    }

    private static ControlChannel remember(java.util.concurrent.atomic.AtomicReference<ControlChannel> to, ControlChannel ch) {
        to.set(ch);
        return ch;
    }

    /**
     * Opens the socket the transport runs over (the peer's Unix socket on this host, else its TCP
     * port), sends the session frame (a REJOIN's authenticated with {@code secret}) and, at a TCP
     * door, answers its challenge with this host's key.
     */
    private ControlChannel open(Route route, Transport t, byte kind, long id, long epoch, String reason, WaitMode wait, byte[] secret,
                                boolean useTicket) {
        boolean viaTcp = t.crossesHosts();
        String where = viaTcp ? route.tcpHost() + ":" + route.tcpPort() : route.unixPath();
        if (viaTcp ? route.tcpPort() <= 0 : route.unixPath() == null) {
            throw new FableException("endpoint '" + route.peerName() + "' has no " + (viaTcp ? "TCP" : "Unix socket")
                    + " address for transport " + t.name() + " (route: " + route + ")");
        }
        SocketChannel ch = null;
        try {
            ch = viaTcp ? transports.services().liveness().connect(new InetSocketAddress(route.tcpHost(), route.tcpPort()))
                    : SocketChannel.open(StandardProtocolFamily.UNIX);
            if (!viaTcp) {
                ch.connect(UnixDomainSocketAddress.of(route.unixPath()));
                EndpointListener.checkSameUser(ch, "endpoint '" + route.peerName() + "'");
            }
            ControlChannel control = new ControlChannel(ch, t.name() + " to '" + route.peerName() + "' at " + where).epoch(epoch);
            ByteBuffer session = ByteBuffer.allocate(SESSION_BYTES + REJOIN_NONCE_BYTES + 2 + 4 * 1000 + 1 + MAC_BYTES)
                    .putInt(SESSION_MAGIC).put(kind).putLong(id).putLong(epoch);
            if (kind == REJOIN) {
                byte[] nonce = new byte[REJOIN_NONCE_BYTES];
                IDS.nextBytes(nonce);
                session.put(nonce);
                Frames.putString(session, reason.length() > 1000 ? reason.substring(0, 1000) : reason);
                session.put((byte) (wait == null ? 0 : wait.ordinal() + 1));
                session.put(mac(secret, session.duplicate().flip()));
            }
            session.flip();
            control.writeFrame(session.duplicate());
            if (viaTcp) {
                DoorTickets.Use ticket = useTicket ? transports.tickets().take(where, route.peerCertFingerprint()) : null;
                if (ticket != null) {   // no round trip: the ticket proves in the first flight
                    control.writeFrame(DoorProof.proveWithTicket(transports.identity(), ticket.ticket(), ticket.fingerprint(),
                            ticket.certificate(), session));
                } else {
                    String what = t.name() + " connection to '" + route.peerName() + "' at " + where;
                    control.writeFrame(DoorProof.ask());
                    DoorProof.Challenge c = DoorProof.challengeOf(control.readFrame(System.nanoTime() + DOOR_NANOS), what);
                    if (!c.fingerprint().equalsIgnoreCase(route.peerCertFingerprint())) {   // no MAC for a door that is not our peer's host
                        throw new FableException(what + ": the endpoint presented host key " + c.fingerprint() + ", but its route names "
                                + route.peerCertFingerprint() + "; not answering its challenge (a stale route, or someone else at that address)");
                    }
                    transports.tickets().remember(where, c.fingerprint(), c.certificate());
                    control.writeFrame(DoorProof.prove(transports.identity(), c, session));
                }
            }
            return control;
        } catch (IOException | RuntimeException e) {
            Closeables.closeQuietly(ch);
            if (e instanceof FableException f) throw f;
            throw new PeerGoneException("cannot reach endpoint '" + route.peerName() + "' at " + where + " over " + t.name()
                    + ": " + e + "; it may have just exited (its name goes within a second)", e);
        }
    }

    @Override
    public synchronized void close() {
        if (closed) return;   // once the name is released, its socket may be a new owner's
        closed = true;
        if (listener != null) listener.close();
        // no REJOIN can reach this endpoint any more: its connections go on, but can no longer switch
        live.clear();
        if (registration != null) registration.close();
    }

    @Override
    public String toString() {
        return "endpoint '" + name + "'";
    }
}
