package dev.fable.io;

import dev.fable.Buffer;
import dev.fable.Connection;
import dev.fable.ConnectionClosedException;
import dev.fable.ConnectionState;
import dev.fable.FableException;
import dev.fable.QuotaExceededException;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.SocketTimeoutException;
import java.nio.ByteBuffer;
import java.nio.channels.ByteChannel;
import java.nio.channels.ClosedChannelException;
import java.time.Duration;
import java.util.Objects;

/**
 * The byte-stream views of one {@link Connection}: an {@link InputStream}, an {@link OutputStream} and a
 * {@link ByteChannel} that share one read side (the buffer in hand and how far it was read) and one write
 * side (the claimed buffer and how far it was filled). {@link Connection#inputStream()},
 * {@link Connection#outputStream()} and {@link Connection#channel()} return the views of the connection's own
 * instance; make one with {@link #ConnectionStreams(Connection)} only for a {@code Connection} implementation
 * of your own (two instances over one connection would each hold bytes the other does not see).
 *
 * <h2>How it sits on the core</h2>
 * Reading keeps the buffer last {@link Connection#poll() polled} and copies bytes out of it as the caller asks;
 * it {@link Buffer#release() releases} it when every byte was read, and then takes the next buffer that has
 * already arrived without waiting, so that one large read can span buffers. Only when no byte is at hand does
 * a read wait ({@link Connection#receive(Duration)}, the side's wait mode). Writing claims a whole buffer
 * ({@link Connection#maxFragment()} bytes), fills it in place from the caller's array, commits it when full and
 * claims the next only when there are more bytes; {@code flush()} commits a partial buffer. A claim waits
 * without limit while the peer holds every buffer (back-pressure). Neither side allocates or takes a lock
 * per call, and neither keeps a copy of its own.
 *
 * <h2>Threads</h2>
 * As for the connection: one thread reads (input stream, channel reads), one thread writes (output stream,
 * channel writes); they may differ. {@code close()} of any view may be called from any thread: it closes the
 * connection, which wakes a blocked read or write (it then throws an {@link IOException} that says the
 * connection was closed by this side).
 *
 * <h2>Ends</h2>
 * <ul>
 *   <li>The peer closed cleanly: reads return every byte it sent, then -1; writes throw
 *       {@link ConnectionLostException} (the peer reads nothing more).</li>
 *   <li>The peer died or broke the protocol: reads return every byte it sent, then throw
 *       {@link ConnectionLostException}; so do writes.</li>
 *   <li>This side closed (a view's {@code close()} or {@link Connection#close()}): every call throws an
 *       {@link IOException} ({@link ClosedChannelException} from the channel).</li>
 * </ul>
 */
public final class ConnectionStreams {
    /** Wait without limit (a negative timeout, see {@link Connection#receive(Duration)}). */
    private static final Duration NO_LIMIT = Duration.ofNanos(-1);
    /** Claims ask for this much: the connection grants {@code min(maxBytes, maxFragment())}, a whole buffer. */
    private static final int WHOLE_BUFFER = Integer.MAX_VALUE;

    private final Connection c;
    private final Input input = new Input();
    private final Output output = new Output();
    private final Channel channel = new Channel();

    /** Set once this side closed a view or the connection; every later call throws. */
    private volatile boolean closed;
    /** How long a read waits for its first byte: negative, without limit. Any thread may set it. */
    private volatile Duration readTimeout = NO_LIMIT;

    // ---- the read side: the reading thread only ----
    private Buffer rb;          // the buffer in hand, with bytes left (rpos < rlim), or null
    private int rpos, rlim;
    private ByteBuffer rview;   // a view of rb for direct ByteBuffers (made once per buffer, on demand)
    private boolean eof;        // the peer's clean close was read: -1 from now on

    // ---- the write side: the writing thread only ----
    private Buffer wb;          // the claimed buffer, with room left (wpos < wlim), or null
    private int wpos, wlim;
    private ByteBuffer wview;   // a view of wb for direct ByteBuffers (made once per buffer, on demand)

    /**
     * The views of {@code connection}. Connections give theirs with {@link Connection#inputStream()} etc.; see
     * the class comment before making another.
     *
     * @param connection the connection to read and write
     */
    public ConnectionStreams(Connection connection) {
        this.c = Objects.requireNonNull(connection, "connection");
    }

    /**
     * The input stream view.
     *
     * @return the input stream (always the same object)
     */
    public InputStream inputStream() {
        return input;
    }

    /**
     * The output stream view.
     *
     * @return the output stream (always the same object)
     */
    public OutputStream outputStream() {
        return output;
    }

    /**
     * The channel view: reads and writes of the two streams, through {@link ByteBuffer}s.
     *
     * @return the channel (always the same object)
     */
    public ByteChannel channel() {
        return channel;
    }

    /**
     * How long a read waits for its first byte before it throws {@link SocketTimeoutException} (the connection
     * stays usable, as a {@link java.net.Socket}'s does after a timeout). Any thread; takes effect at the next
     * wait.
     *
     * @param timeout the limit; zero or negative: without limit (the default)
     */
    public void readTimeout(Duration timeout) {
        this.readTimeout = timeout.isZero() || timeout.isNegative() ? NO_LIMIT : timeout;
    }

    /**
     * The read timeout.
     *
     * @return the limit {@link #readTimeout(Duration)} set, or a negative duration for none
     */
    public Duration readTimeout() {
        return readTimeout;
    }

    /**
     * Whether this side closed the views (or the connection).
     *
     * @return {@code true} once a view's {@code close()} or the connection's {@code close()} ran
     */
    public boolean isClosed() {
        return closed || c.state() == ConnectionState.CLOSED;
    }

    /**
     * Tells the views the connection was closed by this side (the connection's {@code close()} calls it): every
     * later call throws. Any thread.
     */
    public void connectionClosed() {
        closed = true;
    }

    /** Closes the connection (any thread); the views throw from now on. */
    private void closeConnection() {
        closed = true;
        c.close();
    }

    // ---- reading ----

    /**
     * Makes sure a buffer with bytes left is in hand, waiting for one (up to the read timeout) if none has
     * arrived. Returns false at the end of stream (the peer closed cleanly and every byte was read).
     */
    private boolean fill(boolean nio) throws IOException {
        if (closed) throw closedBySelf("read", nio);
        if (rb != null) return true;
        if (eof) return false;
        try {
            while (true) {
                Buffer b = c.poll();
                if (b == null) {
                    Duration t = readTimeout;
                    b = c.receive(t);
                    if (b == null) {
                        throw new SocketTimeoutException("read from '" + c.peerName() + "' on '" + c.localName() + "' over " + c.transport()
                                + " timed out: no byte within " + t.toMillis() + " ms (the read timeout); the connection is still open");
                    }
                }
                int n = b.length();
                if (n == 0) {   // an empty message: no bytes in the stream
                    b.release();
                    continue;
                }
                rb = b;
                rpos = 0;
                rlim = n;
                rview = null;
                return true;
            }
        } catch (ConnectionClosedException e) {
            if (!closed && c.state() == ConnectionState.PEER_CLOSED) {
                eof = true;
                return false;
            }
            throw failed("read", e, nio);
        } catch (RuntimeException e) {
            throw failed("read", e, nio);
        }
    }

    /** Takes the next buffer if one has arrived; never waits. False if none (errors wait for the next {@link #fill}). */
    private boolean fillNow() {
        if (closed || eof) return false;
        try {
            while (true) {
                Buffer b = c.poll();
                if (b == null) return false;
                int n = b.length();
                if (n == 0) {
                    b.release();
                    continue;
                }
                rb = b;
                rpos = 0;
                rlim = n;
                rview = null;
                return true;
            }
        } catch (RuntimeException e) {
            return false;   // the connection ended or failed: the next blocking read reports it, with the bytes before it read
        }
    }

    /** Gives the consumed buffer back. */
    private void releaseRead(boolean nio) throws IOException {
        Buffer b = rb;
        rb = null;
        rview = null;
        try {
            b.release();
        } catch (RuntimeException e) {
            throw failed("read", e, nio);
        }
    }

    int read() throws IOException {
        if (!fill(false)) return -1;
        int v;
        try {
            v = rb.getByte(rpos++) & 0xFF;
        } catch (RuntimeException e) {
            throw failed("read", e, false);
        }
        if (rpos == rlim) releaseRead(false);
        return v;
    }

    int read(byte[] dst, int off, int len) throws IOException {
        Objects.checkFromIndexSize(off, len, dst.length);
        if (len == 0) {
            if (closed) throw closedBySelf("read", false);
            return 0;
        }
        if (!fill(false)) return -1;
        int done = 0;
        try {
            while (true) {
                int n = Math.min(len - done, rlim - rpos);
                rb.get(rpos, dst, off + done, n);
                rpos += n;
                done += n;
                if (rpos == rlim) releaseRead(false);
                if (done == len || !fillNow()) return done;
            }
        } catch (RuntimeException e) {
            throw failed("read", e, false);
        }
    }

    int read(ByteBuffer dst) throws IOException {
        if (!dst.hasRemaining()) {
            if (closed) throw closedBySelf("read", true);
            return 0;
        }
        if (!fill(true)) return -1;
        int done = 0;
        try {
            while (true) {
                int n = Math.min(dst.remaining(), rlim - rpos);
                int at = dst.position();
                if (dst.hasArray()) {
                    rb.get(rpos, dst.array(), dst.arrayOffset() + at, n);
                } else {
                    if (rview == null) rview = rb.asByteBuffer();
                    dst.put(at, rview, rpos, n);
                }
                dst.position(at + n);
                rpos += n;
                done += n;
                if (rpos == rlim) releaseRead(true);
                if (!dst.hasRemaining() || !fillNow()) return done;
            }
        } catch (RuntimeException e) {
            throw failed("read", e, true);
        }
    }

    long skip(long n) throws IOException {
        if (n <= 0 || !fill(false)) return 0;
        int k = (int) Math.min(n, rlim - rpos);
        rpos += k;
        if (rpos == rlim) releaseRead(false);
        return k;
    }

    int available() throws IOException {
        if (closed) throw closedBySelf("available", false);
        if (rb == null && !fillNow()) return 0;
        return rlim - rpos;
    }

    // ---- writing ----

    /** Claims the next whole buffer, waiting while the peer holds them all. */
    private void claim(boolean nio) throws IOException {
        if (closed) throw closedBySelf("write", nio);
        Buffer b;
        try {
            b = c.claim(WHOLE_BUFFER);
            if (b == null) b = c.claim(WHOLE_BUFFER, NO_LIMIT);
            if (b == null) throw new IllegalStateException(c + ": a claim without limit returned nothing");
            wlim = b.length();
        } catch (RuntimeException e) {
            throw failed("write", e, nio);
        }
        wb = b;
        wpos = 0;
        wview = null;
    }

    /** Sends the bytes written into the claimed buffer. */
    private void commitWrite(boolean nio) throws IOException {
        Buffer b = wb;
        wb = null;
        wview = null;
        try {
            b.length(wpos);
            b.commit();
        } catch (RuntimeException e) {
            throw failed("write", e, nio);
        }
    }

    void write(int v) throws IOException {
        if (closed) throw closedBySelf("write", false);
        if (wb == null) claim(false);
        try {
            wb.putByte(wpos++, (byte) v);
        } catch (RuntimeException e) {
            throw failed("write", e, false);
        }
        if (wpos == wlim) commitWrite(false);
    }

    void write(byte[] src, int off, int len) throws IOException {
        Objects.checkFromIndexSize(off, len, src.length);
        if (closed) throw closedBySelf("write", false);
        try {
            while (len > 0) {
                if (wb == null) claim(false);
                int n = Math.min(len, wlim - wpos);
                wb.put(wpos, src, off, n);   // straight into the transport's buffer
                wpos += n;
                off += n;
                len -= n;
                if (wpos == wlim) commitWrite(false);
            }
        } catch (RuntimeException e) {
            throw failed("write", e, false);
        }
    }

    int write(ByteBuffer src) throws IOException {
        if (closed) throw closedBySelf("write", true);
        int done = 0;
        try {
            while (src.hasRemaining()) {
                if (wb == null) claim(true);
                int n = Math.min(src.remaining(), wlim - wpos);
                int at = src.position();
                if (src.hasArray()) {
                    wb.put(wpos, src.array(), src.arrayOffset() + at, n);
                } else {
                    if (wview == null) wview = wb.asByteBuffer();
                    wview.put(wpos, src, at, n);
                }
                src.position(at + n);
                wpos += n;
                done += n;
                if (wpos == wlim) commitWrite(true);
            }
        } catch (RuntimeException e) {
            throw failed("write", e, true);
        }
        flush(true);   // a channel has no flush: what a write wrote is on its way when it returns
        return done;
    }

    void flush(boolean nio) throws IOException {
        if (closed) throw closedBySelf("flush", nio);
        if (wb != null && wpos > 0) commitWrite(nio);
    }

    // ---- errors ----

    /** The exception for a core call that threw {@code e} during {@code op}. */
    private IOException failed(String op, RuntimeException e, boolean nio) {
        if (closed || c.state() == ConnectionState.CLOSED) {
            IOException x = closedBySelf(op, nio);
            x.initCause(e);
            return x;
        }
        if (e instanceof QuotaExceededException q) {
            throw new IllegalStateException(op + " on " + c + ": the connection's receiving thread polled buffers of its own and holds its "
                    + "read quota; read through the stream or through poll(), not both", q);
        }
        if (e instanceof FableException f) return new ConnectionLostException(c, op, f);
        throw e;   // a bug or a misuse (e.g. a subscription written to): not an I/O condition
    }

    private IOException closedBySelf(String op, boolean nio) {
        String msg = op + " on " + c + ": the connection was closed by this side";
        if (!nio) return new IOException("Stream closed: " + msg);
        ClosedChannelException x = new ClosedChannelException();
        x.initCause(new IOException(msg));
        return x;
    }

    // ---- the views ----

    private final class Input extends InputStream {
        @Override public int read() throws IOException { return ConnectionStreams.this.read(); }
        @Override public int read(byte[] b, int off, int len) throws IOException { return ConnectionStreams.this.read(b, off, len); }
        @Override public long skip(long n) throws IOException { return ConnectionStreams.this.skip(n); }
        @Override public int available() throws IOException { return ConnectionStreams.this.available(); }
        @Override public void close() { closeConnection(); }
        @Override public String toString() { return "input stream of " + c; }
    }

    private final class Output extends OutputStream {
        @Override public void write(int b) throws IOException { ConnectionStreams.this.write(b); }
        @Override public void write(byte[] b, int off, int len) throws IOException { ConnectionStreams.this.write(b, off, len); }
        @Override public void flush() throws IOException { ConnectionStreams.this.flush(false); }

        @Override
        public void close() throws IOException {
            if (closed) return;
            try {
                ConnectionStreams.this.flush(false);
            } finally {
                closeConnection();
            }
        }

        @Override public String toString() { return "output stream of " + c; }
    }

    private final class Channel implements ByteChannel {
        @Override public int read(ByteBuffer dst) throws IOException { return ConnectionStreams.this.read(dst); }
        @Override public int write(ByteBuffer src) throws IOException { return ConnectionStreams.this.write(src); }
        @Override public boolean isOpen() { return !isClosed(); }
        @Override public void close() { closeConnection(); }
        @Override public String toString() { return "channel of " + c; }
    }
}
