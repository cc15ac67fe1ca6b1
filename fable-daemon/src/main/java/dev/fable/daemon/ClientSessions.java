package dev.fable.daemon;

import dev.fable.internal.PeerUser;
import dev.fable.naming.NamingConfig;
import dev.fable.naming.protocol.Message;
import dev.fable.naming.protocol.Message.Fail;
import dev.fable.naming.protocol.Message.Hello;
import dev.fable.naming.protocol.Message.Welcome;
import dev.fable.naming.protocol.Messages;
import dev.fable.naming.protocol.ProtocolException;
import dev.fable.naming.protocol.Wire;
import dev.fable.transport.tls.HostIdentity;

import java.io.IOException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SelectionKey;
import java.nio.channels.Selector;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.function.BiConsumer;

import static java.lang.System.Logger.Level.INFO;
import static java.lang.System.Logger.Level.WARNING;

/**
 * The daemon's connections ({@link Session}s): binds the Unix socket, accepts clients on it (the daemon's uid only;
 * the daemon listens on no network port), reads their frames, answers HELLO and hands every other message to
 * the daemon's dispatch; queues and writes replies. A connection that breaks a per-client limit is
 * closed with the reason in the log: a malformed frame, no HELLO (or a frame left half-sent) for
 * {@link #HELLO_TIMEOUT_NANOS}, more than {@link Session#MAX_QUEUED}
 * bytes of unread replies. On every close the daemon's close hook lets the other parts forget the
 * connection (its names, its orders, the flow tables it owes). A client closed for a violation
 * ({@link #reject}) gets the replies it was owed, then the error, then the end of the stream: its socket
 * lingers ({@link LingeringSockets}) until the client closes too.
 *
 * <p>Loop thread only: every method runs on the thread that runs {@link NameDaemon#run}.
 */
final class ClientSessions {
    private static final System.Logger LOG = System.getLogger(ClientSessions.class.getName());

    /** How long a client may take to send HELLO, or stay in the middle of a frame ({@code fable.daemon.stallSeconds}, default 5). */
    static final long HELLO_TIMEOUT_NANOS = TimeUnit.SECONDS.toNanos(NamingConfig.getLong("fable.daemon.stallSeconds", 5));
    static final long MID_FRAME_TIMEOUT_NANOS = HELLO_TIMEOUT_NANOS;

    /** Where a message goes once its connection said HELLO. */
    interface Dispatch {
        void handle(Session s, Message m) throws IOException;
    }

    private final Selector selector;
    private final ServerSocketChannel unixServer;
    private final Path socketPath;
    private final HostIdentity identity;
    private final String advertiseHost;
    private final Dispatch dispatch;
    private final BiConsumer<Session, String> closeHook;
    private final Map<SocketChannel, Session> sessions = new HashMap<>();
    private final int maxClients;
    private int clients;           // open connections accepted on the Unix socket
    private long capRefused;       // connections refused for the cap since the last log line about it
    private long capLoggedAtNanos;
    private final ByteBuffer readBuffer = ByteBuffer.allocate(Wire.MAX_FRAME);
    private final LingeringSockets lingering = new LingeringSockets(readBuffer);
    private int nextQueryId = 1;

    /**
     * Binds the Unix socket.
     *
     * @param maxClients how many connections the socket keeps open at most ({@code fable.daemon.maxClients});
     *                   one more is refused with an error frame that names the limit, and closed
     * @param closeHook called with every closed connection and the reason, after its close is logged
     */
    ClientSessions(Selector selector, Path socketPath, String advertiseHost, int maxClients, HostIdentity identity,
                   Dispatch dispatch, BiConsumer<Session, String> closeHook) throws IOException {
        if (maxClients < 1) throw new IllegalArgumentException("fable.daemon.maxClients=" + maxClients + " must be at least 1");
        this.maxClients = maxClients;
        this.selector = selector;
        this.socketPath = socketPath;
        this.identity = identity;
        this.advertiseHost = advertiseHost;
        this.dispatch = dispatch;
        this.closeHook = closeHook;
        unixServer = ServerSocketChannel.open(StandardProtocolFamily.UNIX);
        unixServer.bind(UnixDomainSocketAddress.of(socketPath), 512);
        unixServer.configureBlocking(false);
        unixServer.register(selector, SelectionKey.OP_ACCEPT);
    }

    /** A selected key of the daemon's selector: a server socket to accept on, or a connection to write and read. */
    void handleKey(SelectionKey k) {
        if (!k.isValid()) return;
        try {
            if (k.isAcceptable()) {
                accept((ServerSocketChannel) k.channel());
                return;
            }
            Session s = (Session) k.attachment();
            if (s.closed) {
                lingering.ready(s, k);
                return;
            }
            if (k.isWritable()) s.flush();
            if (k.isValid() && k.isReadable()) read(s);
        } catch (IOException e) {
            Object a = k.attachment();
            if (a instanceof Session s) close(s, "connection error: " + e.getMessage());
        }
    }

    private void accept(ServerSocketChannel server) throws IOException {
        SocketChannel ch = server.accept();
        if (ch == null) return;
        ch.configureBlocking(false);
        int peer = PeerUser.uid(ch);
        if (peer != PeerUser.me()) {
            String why = "a process of uid " + peer + " connected to " + socketPath
                    + ", which serves only uid " + PeerUser.me() + "; run a daemon of your own (fable daemon, or a private -Dfable.runtime.dir)";
            ch.write(Messages.encode(new Fail(0, Wire.E_DENIED, why)));
            ch.close();
            LOG.log(WARNING, "refused: " + why);
            return;
        }
        if (clients >= maxClients) {
            refuseOverCap(ch);
            return;
        }
        SelectionKey key = ch.register(selector, SelectionKey.OP_READ);
        Session s = new Session(ch, key);
        key.attach(s);
        sessions.put(ch, s);
        clients++;
    }

    /**
     * One connection too many ({@code fable.daemon.maxClients}): one ERROR frame naming the limit, then
     * closed; the open connections are not touched. Logged at most once a second, with the count since.
     */
    private void refuseOverCap(SocketChannel ch) throws IOException {
        String why = "the daemon at " + socketPath + " has " + clients
                + " connections open, its limit (fable.daemon.maxClients=" + maxClients + "); close idle Fable processes or raise the limit";
        try {
            ch.write(Messages.encode(new Fail(0, Wire.E_LIMIT, why)));   // a fresh socket's buffer takes one small frame
        } finally {
            ch.close();
        }
        capRefused++;
        long now = System.nanoTime();
        if (capLoggedAtNanos == 0 || now - capLoggedAtNanos > TimeUnit.SECONDS.toNanos(1)) {
            LOG.log(WARNING, "refused " + capRefused + " connection(s) over the limit: " + why);
            capRefused = 0;
            capLoggedAtNanos = now;
        }
    }

    private void read(Session s) throws IOException {
        readBuffer.clear();
        int n = s.channel.read(readBuffer);
        if (n < 0) {
            close(s, s.decoder.midFrame() ? "disconnected in the middle of a frame" : "disconnected");
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

    /** A client's first message must be HELLO; after it messages go to the dispatch. */
    private void handle(Session s, Message m) throws IOException {
        if (s.helloDone) {
            dispatch.handle(s, m);
        } else if (m instanceof Hello h) {
            s.helloDone = true;
            s.pid = h.pid();
            s.description = h.description() == null ? "?" : h.description();
            s.shmDir = h.shmDir() == null ? "" : h.shmDir();
            reply(s, new Welcome(h.id(), identity.hostId(), advertiseHost, identity.fingerprint(), ProcessHandle.current().pid()));
        } else {
            reject(s, Wire.E_BAD_REQUEST, "the first message must be HELLO, not " + m.getClass().getSimpleName());
        }
    }

    /**
     * Closes the client for a violation, logging why; its socket lingers ({@link LingeringSockets}). The error
     * frame queues behind the replies it was owed (written straight to the socket it could split one).
     */
    void reject(Session s, int code, String why) {
        if (s.closed) return;
        try {
            s.send(Messages.encode(new Fail(0, code, why)));
        } catch (IOException | RuntimeException ignored) {
            // the client is going anyway; the log line says why
        }
        close(s, why, true);
    }

    void reply(Session s, Message m) throws IOException {
        send(s, List.of(Messages.encode(m)));
    }

    /** Queues frames for {@code s} (nothing if it is closed); closes it if its unread backlog passed {@link Session#MAX_QUEUED}. */
    void send(Session s, List<ByteBuffer> frames) throws IOException {
        if (s.closed) return;
        if (!s.send(frames)) {
            close(s, "does not read its replies (" + s.queuedBytes() + " bytes queued, limit " + Session.MAX_QUEUED + ")");
        }
    }

    /** Per-client time limits, checked by the {@link Sweeper}: no HELLO, a half-sent frame. */
    void rejectStalled(long now) {
        for (Session s : all()) {
            if (!s.helloDone && now - s.connectedAtNanos > HELLO_TIMEOUT_NANOS) {
                reject(s, Wire.E_BAD_REQUEST, "sent no HELLO within " + TimeUnit.NANOSECONDS.toSeconds(HELLO_TIMEOUT_NANOS) + " s");
            } else if (s.midFrameSinceNanos != 0 && now - s.midFrameSinceNanos > MID_FRAME_TIMEOUT_NANOS) {
                reject(s, Wire.E_BAD_REQUEST, "stalled in the middle of a frame for more than "
                        + TimeUnit.NANOSECONDS.toSeconds(MID_FRAME_TIMEOUT_NANOS) + " s");
            }
        }
    }

    /** Closes {@code s} (once), logs why, then runs the close hook. */
    void close(Session s, String reason) {
        close(s, reason, false);
    }

    /** As {@link #close(Session, String)}; with {@code linger} its socket stays open to drain ({@link #reject}). */
    private void close(Session s, String reason, boolean linger) {
        if (s.closed) return;
        s.closed = true;
        sessions.remove(s.channel);
        clients--;
        if (!linger || !lingering.start(s)) s.closeChannel();
        String names = s.names.isEmpty() ? "" : "; released " + s.names.size() + " name(s)" + (s.names.size() <= 5 ? " " + s.names : "");
        if (!s.helloDone && reason.equals("disconnected")) {
            LOG.log(INFO, "closed a client that left before HELLO");
        } else {
            LOG.log(reason.equals("disconnected") ? INFO : WARNING, "closed " + s + ": " + reason + names);
        }
        closeHook.accept(s, reason);
    }

    /** Closes the sockets of rejected clients that lingered too long; the {@link Sweeper} calls it. */
    void expireLingering(long now) {
        lingering.expire(now);
    }

    /** Closes every connection, lingering ones too (the daemon stops). */
    void closeAll(String reason) {
        for (Session s : all()) close(s, reason);
        lingering.closeAll();
    }

    /** Closes the Unix socket (the daemon stops; after {@link #closeAll}). */
    void closeServers() throws IOException {
        unixServer.close();
    }

    /** A snapshot of the connections: safe to iterate while sending (a send may close one). */
    List<Session> all() {
        return new ArrayList<>(sessions.values());
    }

    int size() {
        return sessions.size();
    }

    boolean isEmpty() {
        return sessions.isEmpty();
    }

    /** The id of the next query the daemon sends to a client (a flow query or a switch order); one sequence for both. */
    int nextQueryId() {
        return nextQueryId++;
    }
}
