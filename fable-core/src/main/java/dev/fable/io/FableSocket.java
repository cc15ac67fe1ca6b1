package dev.fable.io;

import dev.fable.Connection;
import dev.fable.ConnectionState;

import java.io.Closeable;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.SocketTimeoutException;
import java.time.Duration;
import java.util.Objects;

/**
 * A {@link java.net.Socket}-shaped handle on a {@link Connection}, for code written against sockets: a
 * stream to read, a stream to write, a read timeout, {@code close()}. The streams are the connection's own
 * ({@link Connection#inputStream()}, {@link Connection#outputStream()}), so the contract is theirs: reads block
 * until at least one byte, return -1 at the peer's clean close and throw {@link ConnectionLostException} when the
 * peer died or the connection broke; writes fill the transport's buffers in place and {@code flush()} sends.
 *
 * <pre>{@code
 * try (FableSocket s = new FableSocket(Fable.connect("xio://orders", ConnectOptions.trusted()))) {
 *     s.setSoTimeout(5_000);
 *     DataOutputStream out = new DataOutputStream(s.getOutputStream());
 *     out.writeUTF("hello");
 *     out.flush();
 *     DataInputStream in = new DataInputStream(s.getInputStream());
 *     String reply = in.readUTF();   // SocketTimeoutException after 5 s without a byte
 * }
 * }</pre>
 *
 * Unlike a socket, the connection may change transport under the streams ({@link Connection#reconfigure}):
 * the bytes go on in order, none lost or repeated. There is no half-close: closing either stream closes the
 * connection, as with a socket.
 */
public final class FableSocket implements Closeable {
    private final Connection connection;
    private final ConnectionStreams streams;

    /**
     * Wraps {@code connection} (which the socket then owns: {@link #close()} closes it).
     *
     * @param connection an open connection
     * @throws IllegalArgumentException if the connection's streams are not {@link ConnectionStreams} (a
     *                                  {@code Connection} implementation outside Fable)
     */
    public FableSocket(Connection connection) {
        this.connection = Objects.requireNonNull(connection, "connection");
        this.streams = streamsOf(connection);
    }

    private static ConnectionStreams streamsOf(Connection c) {
        if (c instanceof StreamsHolder h) return h.streams();
        throw new IllegalArgumentException(c + " does not give its ConnectionStreams: a FableSocket wraps connections Fable made");
    }

    /**
     * What a {@link Connection} implementation gives so that {@link FableSocket} can set its read timeout;
     * Fable's connections implement it.
     */
    public interface StreamsHolder {
        /**
         * The connection's stream views.
         *
         * @return the one {@link ConnectionStreams} of this connection
         */
        ConnectionStreams streams();
    }

    /**
     * The stream to read the peer's bytes from.
     *
     * @return the connection's input stream (always the same object)
     */
    public InputStream getInputStream() {
        return streams.inputStream();
    }

    /**
     * The stream to write bytes to the peer; {@code flush()} sends what is buffered.
     *
     * @return the connection's output stream (always the same object)
     */
    public OutputStream getOutputStream() {
        return streams.outputStream();
    }

    /**
     * The connection underneath, e.g. to {@link Connection#reconfigure switch} its transport.
     *
     * @return the wrapped connection
     */
    public Connection connection() {
        return connection;
    }

    /**
     * Sets how long a read waits for its first byte before it throws {@link SocketTimeoutException}, as
     * {@link java.net.Socket#setSoTimeout(int)}: the socket stays usable after a timeout.
     *
     * @param timeoutMillis the limit in milliseconds; 0: without limit (the default)
     * @throws IllegalArgumentException if {@code timeoutMillis} is negative
     */
    public void setSoTimeout(int timeoutMillis) {
        if (timeoutMillis < 0) throw new IllegalArgumentException("setSoTimeout(" + timeoutMillis + "): the timeout cannot be negative (0: no limit)");
        streams.readTimeout(Duration.ofMillis(timeoutMillis));
    }

    /**
     * The read timeout.
     *
     * @return the limit in milliseconds, 0 for none
     */
    public int getSoTimeout() {
        Duration t = streams.readTimeout();
        return t.isNegative() ? 0 : (int) Math.min(Integer.MAX_VALUE, t.toMillis());
    }

    /**
     * Whether this side closed the socket (or its connection, or one of its streams).
     *
     * @return {@code true} once closed by this side; a peer's close does not count, as with a socket
     */
    public boolean isClosed() {
        return streams.isClosed();
    }

    /**
     * Whether the connection still carries data both ways.
     *
     * @return {@code true} while the connection is {@link ConnectionState#OPEN}
     */
    public boolean isConnected() {
        return connection.state() == ConnectionState.OPEN;
    }

    /**
     * Closes the connection; bytes written and not flushed are discarded (flush or close the output stream
     * first). Idempotent; any thread.
     */
    @Override
    public void close() {
        streams.connectionClosed();
        connection.close();
    }

    @Override
    public String toString() {
        return "FableSocket[" + connection + "]";
    }
}
