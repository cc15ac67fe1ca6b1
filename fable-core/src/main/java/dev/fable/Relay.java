package dev.fable;

import java.time.Duration;

/**
 * Two connections spliced both ways: every buffer one side receives is {@link Buffer#forward forwarded} to the
 * other, as it came (a fragment stays a fragment, so messages keep their boundaries). Made by
 * {@link Fable#relay(Connection, Connection)}. (Issue 19 spells it {@code Relay.between(a, b)}; an API type
 * cannot reach the implementation above it, so the factory lives on {@link Fable}, the entry point.)
 *
 * <pre>{@code
 * Connection in = endpoint.accept();                                  // a Fable peer, or an ExternalListener's tcp-raw peer
 * Connection out = Fable.connect("tcp://127.0.0.1:8080", ConnectOptions.trusted());
 * Relay r = Fable.relay(in, out);
 * r.awaitEnd(Duration.ofSeconds(-1));
 * System.out.println(r.zeroCopyForwards() + " in place, " + r.copiedForwards() + " copied");
 * }</pre>
 *
 * <h2>Copies</h2>
 * Zero copy where both sides are shared memory on this host and the sender trusts the relay: the far peer reads
 * the sender's slot in place (the slot is lent, see {@link Buffer#forward}). One copy otherwise: small messages
 * written inline in a shared-memory log, private copies of an untrusted side, any socket transport, and a lender
 * that has lent half its slots already. {@link #zeroCopyForwards()} and {@link #copiedForwards()} count which.
 *
 * <h2>Back-pressure</h2>
 * A direction holds at most one received buffer: when the target has no room it keeps that buffer and retries,
 * and reads nothing more from the source meanwhile, so the source's sender sees back-pressure in its turn. Nothing
 * is dropped and nothing is buffered beyond what the two connections' own pools hold.
 *
 * <h2>Switches</h2>
 * Either connection may switch transport while the relay runs ({@link Connection#reconfigure}): during a switch
 * the relay's polls and claims return nothing for a moment and it retries; nothing is lost or reordered.
 *
 * <h2>End</h2>
 * When one side ends cleanly, everything already received from it is delivered to the other side, which the
 * relay then closes (with the same clean end); when a side's peer dies or breaks the protocol, the relay forwards
 * what it had read and closes the other side as well. There is no half-close: the first end ends the relay. Both
 * connections are closed when the relay ends; {@link #failure()} tells why if not cleanly.
 *
 * <h2>Threads</h2>
 * One thread serves every relay of the process (a daemon thread, {@code fable-relays}, started with the first
 * relay): one {@link Poller} over both connections of each relay, so an idle relay costs no thread and no
 * wake-up, and a busy one no system call. A ready connection forwards a batch of up to 64 buffers before the
 * thread turns to the next; a direction whose target has no room holds its buffer and is retried every turn,
 * with parks backing off to a millisecond while any direction waits so. At most 32,768 relays at once (the
 * poller's 65,536 connections). The counters may be read from any thread; each is a moment's value.
 */
public interface Relay extends AutoCloseable {
    /** One way through a relay. */
    enum Direction {
        /** From {@link Relay#a()} to {@link Relay#b()}. */
        A_TO_B,
        /** From {@link Relay#b()} to {@link Relay#a()}. */
        B_TO_A
    }

    /**
     * The first connection given to {@link Fable#relay(Connection, Connection)}.
     *
     * @return side a
     */
    Connection a();

    /**
     * The second connection given to {@link Fable#relay(Connection, Connection)}.
     *
     * @return side b
     */
    Connection b();

    /**
     * Payload bytes forwarded one way.
     *
     * @param d the direction
     * @return bytes committed on the target so far
     */
    long bytes(Direction d);

    /**
     * Whole messages forwarded one way: buffers forwarded without {@link Buffer#more()}. A plain external peer
     * ({@code tcp-raw}) has no message boundaries: each read counts as one.
     *
     * @param d the direction
     * @return whole messages forwarded so far
     */
    long messages(Direction d);

    /**
     * Buffers (fragments) one way whose slot was lent to the target in place: no copy.
     *
     * @param d the direction
     * @return zero-copy forwards so far
     */
    long zeroCopy(Direction d);

    /**
     * Buffers (fragments) one way whose bytes were copied once into the target's buffer.
     *
     * @param d the direction
     * @return copied forwards so far
     */
    long copied(Direction d);

    /**
     * Zero-copy forwards both ways.
     *
     * @return {@code zeroCopy(A_TO_B) + zeroCopy(B_TO_A)}
     */
    default long zeroCopyForwards() {
        return zeroCopy(Direction.A_TO_B) + zeroCopy(Direction.B_TO_A);
    }

    /**
     * Copied forwards both ways.
     *
     * @return {@code copied(A_TO_B) + copied(B_TO_A)}
     */
    default long copiedForwards() {
        return copied(Direction.A_TO_B) + copied(Direction.B_TO_A);
    }

    /**
     * Whether both directions have stopped and both connections are closed.
     *
     * @return {@code true} once the relay ended (by an end of either side, a failure, or {@link #close()})
     */
    boolean ended();

    /**
     * Waits until the relay has ended.
     *
     * @param timeout how long to wait; negative: without limit
     * @return {@code true} if it ended, {@code false} if the timeout passed first
     * @throws InterruptedException if this thread was interrupted while waiting
     */
    boolean awaitEnd(Duration timeout) throws InterruptedException;

    /**
     * Why the relay ended if not cleanly: the failure of the side whose peer died or broke the protocol (naming that
     * side, its transport and peer); {@code null} while it runs, after a clean end of either side, and after
     * {@link #close()}.
     *
     * @return the failure that ended the relay, or {@code null}
     */
    FableException failure();

    /**
     * Stops both directions and closes both connections, at once: buffers received but not yet forwarded are given
     * back unforwarded (use it to abort; a clean end of a side delivers everything). Idempotent; returns when both
     * directions stopped.
     */
    @Override
    void close();
}
