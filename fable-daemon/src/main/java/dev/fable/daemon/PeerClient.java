package dev.fable.daemon;

import dev.fable.naming.protocol.Route;
import dev.fable.naming.protocol.Message;
import dev.fable.naming.protocol.Messages;
import dev.fable.naming.protocol.ProtocolException;
import dev.fable.naming.protocol.Wire;

import java.io.DataInputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.ByteBuffer;

/**
 * Talks to a peer daemon over TCP (does it hold a name; a name listens here now): one short blocking exchange, run off the
 * daemon's event loop (on a virtual thread).
 */
final class PeerClient {
    private static final int CONNECT_TIMEOUT_MS = 1000;
    private static final int READ_TIMEOUT_MS = 2000;

    private PeerClient() {}

    /**
     * Asks the peer daemon at {@code hostPort} for {@code name}, from {@code bindHost} (this host's
     * address: the peer recognises configured peers by it), telling it who we are. Returns the peer's
     * entry for {@code name} (transport and reason unset), or null if it does not hold it.
     */
    static Route query(String hostPort, String name, String bindHost, String selfHostId, String selfFingerprint) throws IOException {
        Message m = exchange(hostPort, bindHost, new Message.PeerResolve(1, name, selfHostId, selfFingerprint));
        return switch (m) {
            case Message.RouteReply r -> r.route();
            case Message.Fail e when e.code() == Wire.E_NOT_FOUND -> null;
            case Message.Fail e -> throw new IOException("peer daemon " + hostPort + " refused: " + e.text());
            default -> throw new IOException("peer daemon " + hostPort + " answered with " + m.getClass().getSimpleName());
        };
    }

    /** Tells the peer daemon at {@code hostPort} that endpoint {@code name} listens on this host ({@code selfHostId}) now. */
    static void notice(String hostPort, String name, String bindHost, String selfHostId) throws IOException {
        Message m = exchange(hostPort, bindHost, new Message.PeerListening(1, name, selfHostId));
        if (!(m instanceof Message.Ok)) throw new IOException("peer daemon " + hostPort + " answered with " + m);
    }

    /** One request, one answer, over a fresh connection. */
    private static Message exchange(String hostPort, String bindHost, Message request) throws IOException {
        int colon = hostPort.lastIndexOf(':');
        if (colon < 0) throw new IOException("peer '" + hostPort + "' in fable.daemon.peers is not host:port");
        String host = hostPort.substring(0, colon);
        int port;
        try {
            port = Integer.parseInt(hostPort.substring(colon + 1));
        } catch (NumberFormatException e) {
            throw new IOException("peer '" + hostPort + "' in fable.daemon.peers has no numeric port");
        }
        try (Socket s = new Socket()) {
            s.bind(new InetSocketAddress(bindHost, 0));
            s.connect(new InetSocketAddress(host, port), CONNECT_TIMEOUT_MS);
            s.setSoTimeout(READ_TIMEOUT_MS);
            s.setTcpNoDelay(true);
            ByteBuffer f = Messages.encode(request);
            OutputStream out = s.getOutputStream();
            out.write(f.array(), f.arrayOffset() + f.position(), f.remaining());
            out.flush();
            DataInputStream in = new DataInputStream(s.getInputStream());
            int len = in.readInt();
            if (len < 1 || len > Wire.MAX_FRAME) throw new IOException("peer daemon " + hostPort + " sent a frame of length " + len);
            byte[] body = new byte[len];
            in.readFully(body);
            return Messages.decode(ByteBuffer.wrap(body));
        } catch (ProtocolException e) {
            throw new IOException("peer daemon " + hostPort + ": " + e.getMessage(), e);
        }
    }
}
