package dev.fable.transport;

import dev.fable.ConnectOptions;
import dev.fable.Connection;

import java.nio.ByteBuffer;

/**
 * Service-provider interface of a transport: it turns an established control channel into a
 * {@link Connection}. The naming layer (today a per-listener Unix socket, later the daemon) finds
 * the peer and opens the control channel; the transport does its own handshake over it.
 *
 * <p>The connector speaks first; its first frame starts with the transport's {@link #name()} so the
 * acceptor can dispatch.
 */
public interface Transport {
    /** Short name used in URIs ({@code xio+<name>://}) and in the flow table. */
    String name();

    /** Connector side: sets up this side's resources and runs the handshake. */
    Connection connect(ControlChannel control, String localName, String peerName, ConnectOptions options);

    /** Acceptor side: {@code hello} is the connector's first frame, positioned after the transport name. */
    Connection accept(ControlChannel control, String localName, ByteBuffer hello, ConnectOptions options);
}
