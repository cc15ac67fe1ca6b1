package dev.fable;

import java.time.Duration;
import java.util.Collection;
import java.util.List;

/**
 * One producer, many consumers ({@link Endpoint#publish}): the producer claims a buffer once and
 * publishes it to every subscriber, one, or a subset; subscribers ({@link Fable#subscribe}) join and
 * leave while it runs and read with the usual {@link Connection} and {@link Buffer} API.
 *
 * <h2>Zero copy, and where it is not</h2>
 * Buffers come from the publisher's fan-out pool, a shared-memory pool every subscriber on this host
 * maps read-only. Publishing to such a subscriber queues a 16-byte reference to the slot in its ring;
 * the slot is free again when every subscriber it went to has released it, in any order. A subscriber
 * served over a socket (another host, another user) gets a copy of the bytes into its connection at
 * publish time (one copy; the slot is not held for it afterwards).
 *
 * <h2>Slow subscribers</h2>
 * The publisher never waits for a subscriber. One whose queue is full when a message is published loses
 * that message only: the loss is counted ({@link Subscriber#dropped()}, {@link #dropped()}) and the
 * subscriber is told before its next message that does arrive ({@link ConnectionEvent.Type#DROPPED},
 * {@link Connection#messagesDropped()}). The publisher's own
 * back-pressure is its pool: {@link #claim(int)} returns null while every slot is still held.
 *
 * <h2>Threads</h2>
 * Single writer: one thread at a time claims and publishes (it is the sending thread of every subscriber
 * connection). {@link #subscribers()}, {@link #awaitSubscribers} and {@link #dropped()} may be called from any
 * thread; {@link #close()} from the publishing thread, or from another once that one has stopped publishing.
 */
public interface Publisher extends AutoCloseable {
    /**
     * Chooses the subscribers of one message.
     */
    @FunctionalInterface
    interface Classifier {
        /**
         * Whether {@code subscriber} gets {@code message}; asked once per current subscriber, on the publishing thread.
         *
         * @param subscriber a current subscriber
         * @param message    the message being published (read it, do not commit it)
         * @return true if {@code subscriber} gets {@code message}
         */
        boolean wants(Subscriber subscriber, Buffer message);
    }

    /**
     * The name subscribers subscribe to.
     *
     * @return the endpoint's name
     */
    String name();

    /**
     * The largest message: one slot of the fan-out pool ({@link ConnectOptions#slotSize}).
     *
     * @return bytes
     */
    int maxMessage();

    /**
     * A writable buffer of {@code min(maxBytes, maxMessage())} bytes from the fan-out pool, or null while every
     * slot is held by subscribers that have not released it. Never blocks.
     *
     * @param maxBytes bytes wanted, at least 1
     * @return the buffer, or null under back-pressure
     * @throws IllegalArgumentException if {@code maxBytes < 1}
     * @throws IllegalStateException if the publisher is closed
     */
    Buffer claim(int maxBytes);

    /**
     * Early classification: a writable buffer for {@code to} alone, in the pool of its connection — the pool the
     * subscriber contributed when it subscribed with {@link ConnectOptions#contributePool(boolean)} (no other
     * subscriber maps it), else its connection's own small pool, or its socket's staging. Messages up to 512 bytes
     * go in place in its queue's log. Send it with {@link Buffer#commit()} (not {@code publish}); it reaches
     * {@code to} in order with what is published to it. Null when that pool (or log) has no room: back-pressure
     * from that subscriber alone, never a drop.
     *
     * @param maxBytes bytes wanted, at least 1
     * @param to       a current subscriber
     * @return the buffer, or null under that subscriber's back-pressure
     * @throws IllegalArgumentException if {@code to} is not a current subscriber
     */
    Buffer claim(int maxBytes, Subscriber to);

    /**
     * {@link #claim(int)}, waiting up to {@code timeout} for a slot.
     *
     * @param maxBytes bytes wanted, at least 1
     * @param timeout  how long to wait
     * @return the buffer, or null if none was free in time
     */
    Buffer claim(int maxBytes, Duration timeout);

    /**
     * Publishes {@code message} to every current subscriber (also what {@link Buffer#commit()} of a claimed buffer does).
     *
     * @param message a buffer claimed from this publisher and not yet published
     * @return the subscribers it was queued for (not counting those that dropped it)
     */
    int publish(Buffer message);

    /**
     * Publishes {@code message} to one subscriber.
     *
     * @param message a buffer claimed from this publisher
     * @param to      a subscriber of this publisher
     * @return 1 if queued, 0 if its queue was full (counted as a drop)
     * @throws IllegalArgumentException if {@code to} is not a current subscriber (it left); the buffer stays claimed
     */
    int publish(Buffer message, Subscriber to);

    /**
     * Publishes {@code message} to a set of subscribers.
     *
     * @param message a buffer claimed from this publisher
     * @param to      current subscribers, not empty
     * @return the subscribers it was queued for
     * @throws IllegalArgumentException if {@code to} is empty or names a subscriber that left; the buffer stays claimed
     */
    int publish(Buffer message, Collection<? extends Subscriber> to);

    /**
     * Publishes {@code message} to the subscribers {@code classifier} wants (possibly none: the slot is free at once).
     *
     * @param message    a buffer claimed from this publisher
     * @param classifier asked once per current subscriber
     * @return the subscribers it was queued for
     */
    int publish(Buffer message, Classifier classifier);

    /**
     * The current subscribers, in the order they joined (a snapshot).
     *
     * @return the subscribers
     */
    List<Subscriber> subscribers();

    /**
     * Waits until at least {@code count} subscribers have joined.
     *
     * @param count   subscribers to wait for
     * @param timeout how long to wait
     * @return true if that many are subscribed
     */
    boolean awaitSubscribers(int count, Duration timeout);

    /**
     * The next subscriber event, or null: joins, leaves, and a subscriber's queue turning almost full, full,
     * and having space again — each told once per transition, in order (Barrelfish's notifications on
     * transitions only). Events are kept until polled (at most a few per subscriber state change).
     *
     * @return the oldest event not yet polled, or null
     */
    SubscriberEvent pollEvent();

    /**
     * When a subscriber counts as almost full: holding at least {@code fraction} of the fan-out slots it may
     * hold (its quota, {@link ConnectOptions#readQuota}). Default 0.75.
     *
     * @param fraction above 0, at most 1
     * @return this publisher
     * @throws IllegalArgumentException if {@code fraction} is out of range
     */
    Publisher almostFull(double fraction);

    /**
     * Messages dropped for full subscriber queues, over all subscribers (also those that left).
     *
     * @return drops
     */
    long dropped();

    /** Closes every subscription and the fan-out pool and unregisters the name. */
    @Override
    void close();
}
