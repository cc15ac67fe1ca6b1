package dev.fable.io;

import dev.fable.Connection;
import dev.fable.ConnectionState;
import dev.fable.FableException;

import java.io.IOException;

/**
 * A stream or channel over a {@link Connection} can go no further: the peer died ({@code kill -9}, a crash,
 * a lost network), broke the protocol, or closed the connection while this side was still writing. The
 * message names this side's endpoint, the peer, the transport and what to do; {@link #getCause()} is the
 * Fable exception that told it ({@link dev.fable.PeerGoneException}, {@link dev.fable.CorruptChannelException},
 * {@link dev.fable.ConnectionClosedException}).
 *
 * <p>A clean close of the peer is not this exception for a reader: reads return -1 (end of stream) once
 * every byte the peer sent was read. Everything the peer committed before it died has been read when a
 * read throws this.
 */
public class ConnectionLostException extends IOException {
    private static final long serialVersionUID = 1L;

    /** This side's endpoint name. */
    private final String localName;
    /** The peer's endpoint name (or address). */
    private final String peerName;
    /** The transport the connection ran over. */
    private final String transport;
    /** How the connection ended, as this side saw it. */
    private final ConnectionState state;

    /**
     * Makes the exception for {@code connection}, which failed during {@code operation}.
     *
     * @param connection the connection that was lost (its names, transport and state go into the message)
     * @param operation  what this side was doing, e.g. {@code "read"} or {@code "write"}
     * @param cause      the Fable exception that reported the end
     */
    public ConnectionLostException(Connection connection, String operation, FableException cause) {
        this(connection.localName(), connection.peerName(), connection.transport(), connection.state(), operation, cause);
    }

    private ConnectionLostException(String localName, String peerName, String transport, ConnectionState state, String operation,
                                    FableException cause) {
        super(message(localName, peerName, transport, state, operation, cause), cause);
        this.localName = localName;
        this.peerName = peerName;
        this.transport = transport;
        this.state = state;
    }

    private static String message(String local, String peer, String transport, ConnectionState state, String operation, FableException cause) {
        String what = switch (state) {
            case PEER_CLOSED -> "the peer closed the connection; it reads nothing more";
            case FAILED -> "the peer broke the protocol";
            case PEER_GONE -> "the peer is gone (it died or the connection broke before it closed)";
            default -> "the connection failed";
        };
        String todo = state == ConnectionState.PEER_CLOSED
                ? "stop writing, or agree with the peer on who closes when"
                : "every byte the peer sent before the end was delivered; bytes this side wrote that the peer had not read "
                        + "are lost: reconnect and resume from the last point the application confirmed";
        return operation + " on '" + local + "' -> '" + peer + "' over " + transport + " failed: " + what + ": "
                + (cause == null ? "" : cause.getMessage() + "; ") + todo;
    }

    /**
     * This side's endpoint name.
     *
     * @return the name of the endpoint the lost connection belonged to
     */
    public String localName() {
        return localName;
    }

    /**
     * The peer's endpoint name (its address for a plain external peer).
     *
     * @return the peer of the lost connection
     */
    public String peerName() {
        return peerName;
    }

    /**
     * The transport the connection ran over when it was lost.
     *
     * @return e.g. {@code "shm"} or {@code "tcp"}
     */
    public String transport() {
        return transport;
    }

    /**
     * How the connection ended, as this side saw it when the exception was made.
     *
     * @return {@link ConnectionState#PEER_GONE}, {@link ConnectionState#FAILED} or {@link ConnectionState#PEER_CLOSED}
     *         (a write after the peer closed), or {@link ConnectionState#OPEN} for another failure
     */
    public ConnectionState state() {
        return state;
    }
}
