package dev.fable.daemon;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.SelectionKey;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static java.lang.System.Logger.Level.WARNING;

/**
 * The sockets of clients closed for a violation ({@link ClientSessions#reject}), kept open so that the
 * client reads the replies it was owed, then the error, then an orderly end of the stream. The session
 * is already closed (its names, waits, orders and flow tables are gone); only its socket lingers: what
 * is still queued for it is written, the socket is shut for writing once that is out, and what the
 * client still sends is read and dropped until it closes its end. Closing at once would leave its
 * requests in flight unread, and closing a socket with unread input resets the connection: a client
 * still sending got "Connection reset" or a broken pipe instead of the error. A lingering socket is
 * closed anyway after {@link #LINGER_NANOS} (checked by the {@link Sweeper}) or once the client sent
 * more than {@link #LINGER_BYTES} after its verdict; both are logged.
 *
 * <p>Loop thread only: the list and the sessions' linger state ({@link Session#lingerUntilNanos},
 * {@link Session#drainedBytes}, {@link Session#outputShut}) are touched by {@link ClientSessions} on the
 * daemon's event loop (ready keys, closes) and by the {@link Sweeper}'s housekeeping on the same thread.
 */
final class LingeringSockets {
    private static final System.Logger LOG = System.getLogger(LingeringSockets.class.getName());

    /** How long a client closed for a violation has to read its error and close before the daemon closes anyway. */
    static final long LINGER_NANOS = TimeUnit.SECONDS.toNanos(10);
    /** How much a client closed for a violation may still send (read and dropped) before the daemon closes anyway. */
    static final long LINGER_BYTES = 1 << 20;

    private final List<Session> lingering = new ArrayList<>();
    private final ByteBuffer scratch;

    /** @param scratch where dropped input is read to (the sessions' read buffer: same thread) */
    LingeringSockets(ByteBuffer scratch) {
        this.scratch = scratch;
    }

    /**
     * Starts lingering on a session just closed: writes what is queued (its key keeps OP_READ, and
     * OP_WRITE while anything is left) and shuts output once it is out.
     *
     * @return false if its socket is already broken or its key gone: the caller closes it
     */
    boolean start(Session s) {
        if (!s.key.isValid()) return false;
        try {
            s.flushThenShutOutput();
        } catch (IOException e) {
            return false;
        }
        s.lingerUntilNanos = System.nanoTime() + LINGER_NANOS;
        lingering.add(s);
        return true;
    }

    /** A lingering session's key is ready: writes what is still queued, then shuts output; drops what the client sends. */
    void ready(Session s, SelectionKey k) {
        try {
            s.flushThenShutOutput();
            if (!k.isValid() || !k.isReadable()) return;
            long drained = s.drain(scratch);
            if (drained < 0) {
                end(s, null);
            } else if (drained > LINGER_BYTES) {
                end(s, "kept sending after it was closed (" + drained + " bytes)");
            }
        } catch (IOException e) {
            end(s, null);
        }
    }

    /** Closes the sockets that lingered past {@link #LINGER_NANOS}. */
    void expire(long now) {
        if (lingering.isEmpty()) return;
        for (Session s : new ArrayList<>(lingering)) {
            if (now - s.lingerUntilNanos >= 0) {
                end(s, "did not close within " + TimeUnit.NANOSECONDS.toSeconds(LINGER_NANOS) + " s of being closed"
                        + (s.queuedBytes() > 0 ? " (" + s.queuedBytes() + " bytes still unread)" : ""));
            }
        }
    }

    /** Closes every lingering socket (the daemon stops). */
    void closeAll() {
        for (Session s : new ArrayList<>(lingering)) end(s, null);
    }

    /** Closes a lingering session's socket; {@code cut}: why it had to be cut short (logged), or null. */
    private void end(Session s, String cut) {
        if (!lingering.remove(s)) return;
        s.closeChannel();
        if (cut != null) LOG.log(WARNING, "cut the connection of " + s + " short: " + cut);
    }
}
