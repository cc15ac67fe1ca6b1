package dev.fable.transport.stream;

import dev.fable.transport.LegServices;
import dev.fable.ConnectOptions;
import dev.fable.FableException;
import dev.fable.transport.ControlChannel;
import dev.fable.transport.Frames;
import dev.fable.transport.Transport;

import java.io.IOException;
import java.net.StandardSocketOptions;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.util.concurrent.TimeUnit;
import dev.fable.transport.PeerRef;
import dev.fable.transport.Leg;


/**
 * The socket transports: {@code unix} (Unix domain socket, same host) and {@code tcp} (TCP with
 * TCP_NODELAY and the set-up's {@link dev.fable.transport.Liveness} bound), and the base of {@code tls}. The data travels on the control connection itself,
 * after a short handshake:
 * <pre>
 * connector → HELLO  transport, version, pid, target name, own name, largest fragment it sends, largest fragment it accepts
 * acceptor  → ACCEPT pid, own name, largest fragment it sends | REJECT reason
 * (tls: the TLS handshake runs here)
 * then frames: an 8-byte header, the payload and padding to 8 bytes (see StreamFrame), both ways
 * </pre>
 * One copy per side: the application fills a staging slot that the kernel copies from, and reads
 * in place from the area the kernel copied into.
 */
public class StreamTransport implements Transport {
    public static final String UNIX = "unix";
    public static final String TCP = "tcp";
    private static final short VERSION = 2;   // 2: HELLO ends with the largest fragment the connector accepts
    private static final byte ACCEPT = 2;
    private static final byte REJECT = Transport.REJECT;
    protected static final long HANDSHAKE_NANOS = TimeUnit.SECONDS.toNanos(30);

    private final String name;
    private final boolean crossesHosts;

    private final LegServices services;

    /** {@code services}: the set-up's leak detector and threads, shared by this transport's connections. */
    public StreamTransport(String name, boolean crossesHosts, LegServices services) {
        this.services = services;
        this.name = name;
        this.crossesHosts = crossesHosts;
    }

    @Override
    public final String name() {
        return name;
    }

    @Override
    public final boolean crossesHosts() {
        return crossesHosts;
    }

    /**
     * The byte pipe over the handshaken socket; TLS wraps it (and verifies the peer) here, and hands
     * over the connection's secret inside TLS ({@link ControlChannel#secretToSend()}).
     */
    protected SocketIo pipe(ControlChannel control, boolean connector, PeerRef route, long deadline) throws IOException {
        return new PlainIo(control.channel());
    }

    /** True if the handshake reply carries the connection's secret in the clear (unix, tcp); tls carries it inside TLS. */
    protected boolean secretInReply() {
        return true;
    }

    /** What one side announces: who it is and the largest fragment it will send. */
    record Side(long pid, String name, int maxFragment) {
        void write(ByteBuffer b) {
            b.putLong(pid);
            Frames.putString(b, name);
            b.putInt(maxFragment);
        }

        static Side read(ByteBuffer b) {
            long pid = Frames.getLong(b, "pid");
            String name = Frames.getString(b, "endpoint name");
            int max = Frames.getInt(b, "largest fragment");
            if (max < 1 || max > StreamFrame.MAX_FRAGMENT) {
                throw new FableException("malformed handshake: largest fragment " + max + " B (1 … " + StreamFrame.MAX_FRAGMENT + ")");
            }
            return new Side(pid, name, max);
        }
    }

    /**
     * Null if this side accepts fragments as large as {@code peer} declared, else why not, naming the limit and the
     * setting that raises it. Checked before the receive areas (sized from the declaration) exist.
     */
    private String tooLarge(Side peer) {
        int max = services.limits().maxFragment();
        if (peer.maxFragment() <= max) return null;
        return "peer '" + peer.name() + "' (pid " + peer.pid() + ") declared " + name + " fragments of up to " + peer.maxFragment()
                + " B, more than the " + max + " B this side accepts (Fable.Context.maxPeerFragment, "
                + dev.fable.transport.PeerLimits.FRAGMENT_PROPERTY + "); raise it on the receiving side or give the sender smaller slots (ConnectOptions.slotSize)";
    }

    private static Side self(String localName, ConnectOptions options) {
        return new Side(ProcessHandle.current().pid(), localName, Math.min(options.slotSize(), StreamFrame.MAX_FRAGMENT));
    }

    @Override
    public Leg connect(java.util.function.Supplier<ControlChannel> opener, String localName, PeerRef route,
                              ConnectOptions options) {
        ControlChannel control = opener.get();
        long deadline = System.nanoTime() + HANDSHAKE_NANOS;
        try {
            ByteBuffer hello = ByteBuffer.allocate(ControlChannel.MAX_FRAME);
            Frames.putString(hello, name);
            hello.putShort(VERSION);
            Frames.putString(hello, route.name());
            self(localName, options).write(hello);
            hello.putInt(services.limits().maxFragment());
            control.writeFrame(hello.flip());
            ByteBuffer reply = control.readFrame(deadline);
            byte type = Frames.getByte(reply, "reply type");
            if (type == REJECT) {
                throw new FableException("'" + route.name() + "' refused the " + name + " connection: " + Frames.getString(reply, "reason"));
            }
            if (type != ACCEPT) throw new FableException("malformed " + name + " handshake: reply type " + type);
            Side peer = Side.read(reply);
            if (secretInReply()) control.takeSecret(reply);
            String tooLarge = tooLarge(peer);   // a correct acceptor refuses first (it knows our limit): this one ignored it
            if (tooLarge != null) throw new Transport.Refused("refused a " + name + " connection: " + tooLarge);
            StreamConnection c = established(control, true, route, localName, peer, options, deadline);
            if (control.epoch() > 0) {
                try {
                    c.awaitInstalled(deadline);   // a reconfiguration leg: the acceptor has put it in its chain
                } catch (RuntimeException e) {
                    c.close();
                    throw e;
                }
            }
            return c;
        } catch (IOException e) {
            control.close();
            throw new FableException(name + " connection to '" + route.name() + "' failed during the handshake: " + e, e);
        } catch (RuntimeException e) {
            control.close();
            throw e;
        }
    }

    @Override
    public Leg accept(ControlChannel control, String localName, ByteBuffer hello, ConnectOptions options) {
        long deadline = System.nanoTime() + HANDSHAKE_NANOS;
        try {
            short version = hello.remaining() >= 2 ? hello.getShort() : -1;
            if (version != VERSION) {
                Transport.reject(control, REJECT, name, name + " handshake version " + version + " is not supported (this side speaks " + VERSION + ")");
            }
            String wanted = Frames.getString(hello, "target name");
            Side peer = Side.read(hello);
            int peerAccepts = Frames.getInt(hello, "largest fragment accepted");
            if (!wanted.equals(localName)) Transport.reject(control, REJECT, name, "this endpoint is '" + localName + "', not '" + wanted + "'");
            String tooLarge = tooLarge(peer);
            if (tooLarge != null) Transport.reject(control, REJECT, name, tooLarge);
            Side me = self(localName, options);
            if (me.maxFragment() > peerAccepts) {
                Transport.reject(control, REJECT, name, "endpoint '" + localName + "' sends " + name + " fragments of up to " + me.maxFragment()
                        + " B, more than the " + peerAccepts + " B the connecting side accepts (its Fable.Context.maxPeerFragment, "
                        + dev.fable.transport.PeerLimits.FRAGMENT_PROPERTY + "); raise it there or listen with smaller slots (ConnectOptions.slotSize)");
            }
            ByteBuffer reply = ByteBuffer.allocate(ControlChannel.MAX_FRAME).put(ACCEPT);
            me.write(reply);
            if (secretInReply()) control.putSecret(reply);
            control.writeFrame(reply.flip());
            return established(control, false, null, localName, peer, options, deadline);
        } catch (IOException e) {
            control.close();
            throw new FableException(name + " connection to endpoint '" + localName + "' failed during the handshake: " + e, e);
        } catch (RuntimeException e) {
            control.close();
            throw e;
        }
    }

    private StreamConnection established(ControlChannel control, boolean connector, PeerRef route, String localName, Side peer,
                                   ConnectOptions options, long deadline) throws IOException {
        control.handshakeDone();
        SocketChannel ch = control.channel();
        if (!(ch.getLocalAddress() instanceof java.net.UnixDomainSocketAddress)) {
            ch.setOption(StandardSocketOptions.TCP_NODELAY, true);
            services.liveness().apply(ch);   // a dead host or a cut network ends the leg within the bound
        }
        SocketIo io = pipe(control, connector, route, deadline);
        StreamConnection c = new StreamConnection(name, localName, peer.name(), peer.pid(), io, true, peer.maxFragment(), options, control.epoch(), services);
        if (connector && control.subscribing()) c.readDrops();
        return c;
    }
}
