package dev.fable.bench;

/**
 * One end of a row's channel as the bench loops see it: send a message, receive the next one. Each
 * row (transport) has one implementation; a peer JVM loads only its own, so the calls in the hot
 * loops are monomorphic and inlined, and the harness costs what the transport's own loop would
 * (measured: {@link HandLoop}).
 *
 * <p>Message contents follow {@link Pattern}. Not thread-safe: one thread uses a link at a time.
 */
abstract class Link implements AutoCloseable {
    /** Arguments of the last control frame received, and of the next one sent. */
    final long[] args = new long[Pattern.ARGS];
    /** Length of the last message received. */
    int length;

    /** Sends data message {@code seq} of {@code size} bytes, or a control frame (seq < 0, {@link #args}); waits out back-pressure. */
    abstract void send(long seq, int size);

    /** Waits for the next message; returns its sequence number or control code (arguments in {@link #args}). */
    abstract long receive(boolean verify);

    /**
     * Waits for the next message without keeping a CPU busy: the responder calls it between cells, so
     * that an idle row's peer does not spin on a measured CPU while other rows run. Blocking links
     * (sockets, pipes) already sleep in {@link #receive}; spinning links poll and park.
     */
    void awaitQuietly() {
    }

    /**
     * How long a spinning link parks between two polls while it waits quietly: 1 ms. (50 µs until issue 17's
     * fifth session: with a dozen idle rows that was some 100,000 wake-ups a second on the two measured
     * CPUs; the first message of a cell waits at most this long, inside the cell's warm-up.)
     */
    static final long QUIET_POLL_NANOS = 1_000_000;

    /** The transport this link runs over, as the transport names it (Fable: {@code Connection.transport()}). */
    abstract String transport();

    /** Sends control frame {@code code} with the given arguments (the rest zero). */
    final void control(long code, long... a) {
        java.util.Arrays.fill(args, 0);
        System.arraycopy(a, 0, args, 0, a.length);
        send(code, Pattern.CONTROL_SIZE);
    }

    /** Receives the next message and fails unless it is control frame {@code code}. */
    final void expect(long code, String what) {
        long got = receive(false);
        if (got != code) throw new BenchFailure("expected " + what + " from the peer, got " + (got >= 0 ? "message " + got : "control " + got));
    }

    @Override
    public abstract void close();

    /** The other end closed the channel or went away (end of stream, reset, broken pipe). */
    static final class Closed extends RuntimeException {
        Closed(String message) {
            super(message);
        }
    }
}
