package dev.fable;

/**
 * One subscriber of a {@link Publisher}, as the publisher sees it. Its counters are written by the
 * publishing thread and may be read from any thread.
 */
public interface Subscriber {
    /**
     * The subscriber's endpoint name (anonymous subscribers have a generated one).
     *
     * @return the name
     */
    String name();

    /**
     * The transport of its connection now: {@code shm} subscribers read the fan-out pool in place, others get copies.
     *
     * @return the transport's name
     */
    String transport();

    /**
     * Messages queued for it.
     *
     * @return messages
     */
    long delivered();

    /**
     * Messages it lost because its queue was full.
     *
     * @return drops
     */
    long dropped();

    /**
     * True while it is subscribed (false once it left, died or was closed).
     *
     * @return whether it is current
     */
    boolean active();
}
