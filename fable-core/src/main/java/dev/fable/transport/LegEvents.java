package dev.fable.transport;

/**
 * What a leg tells the connection it is bound to besides data (the connection implements it; see
 * {@link AbstractLeg#face()}). Called on the thread of the role that noticed it.
 */
public interface LegEvents {
    /** Receiving role: the publisher dropped {@code n} messages for this subscriber because its queue was full. */
    void peerDropped(long n);

    /** Any thread: {@code leg} ended under the connection (its peer closed, died or broke the protocol). */
    default void legEnded(Leg leg) {
    }
}
