package dev.fable.transport;

import dev.fable.ConnectOptions;

import java.nio.ByteBuffer;


/**
 * Service-provider interface of a transport: it turns an established control channel into a
 * {@link Leg} (one epoch of a connection; the application holds a {@code LiveConnection} over its legs). The naming layer finds the peer and opens the control channel (a Unix socket
 * on the same host, a TCP connection to another); the transport does its own handshake over it.
 * Stream transports then carry their data on that same socket; shared memory keeps it as the
 * liveness signal only.
 *
 * <p>The connector speaks first; its first frame starts with the transport's {@link #name()} so the
 * acceptor can dispatch.
 */
public interface Transport {
    /** Reply type of a refusal, the same in every transport's handshake and at an endpoint's door: {@code byte 3, string reason}. */
    byte REJECT = 3;

    /** Short name used in URIs ({@code xio+<name>://}) and in the flow table. */
    String name();

    /** True if this transport can run over a TCP control connection (to another host); false for shm and unix. */
    boolean crossesHosts();

    /**
     * Connector side: sets up this side's resources, then opens the control channel with
     * {@code opener} (so the peer, woken by the connect, finds the first frame right behind it) and
     * runs the handshake with the peer {@code route} names.
     */
    Leg connect(java.util.function.Supplier<ControlChannel> opener, String localName, PeerRef route, ConnectOptions options);

    /** Acceptor side: {@code hello} is the connector's first frame, positioned after the transport name. */
    Leg accept(ControlChannel control, String localName, ByteBuffer hello, ConnectOptions options);

    /**
     * Tells the connector why this side refuses (best effort) and throws the refusal here. A reason
     * longer than 1000 characters is cut.
     */
    static void reject(ControlChannel control, byte rejectType, String transport, String reason) {
        ByteBuffer b = ByteBuffer.allocate(ControlChannel.MAX_FRAME).put(rejectType);
        Frames.putString(b, reason.length() > 1000 ? reason.substring(0, 1000) : reason);
        try {
            control.writeFrame(b.flip());
        } catch (RuntimeException ignored) {
            // the peer is gone already; the exception says why we refused
        }
        throw new Refused("refused a " + transport + " connection: " + reason);
    }

    /** A handshake this side refused. */
    final class Refused extends dev.fable.FableException {
        public Refused(String message) {
            super(message);
        }
    }
}
