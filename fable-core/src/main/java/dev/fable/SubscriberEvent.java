package dev.fable;

/**
 * Something that happened to one subscriber of a {@link Publisher}, told once per transition, never
 * per message: see {@link Publisher#pollEvent()}.
 *
 * @param subscriber the subscriber
 * @param type       what happened
 * @param count      FULL: 0; SPACE_AVAILABLE: the messages it lost while full; ALMOST_FULL: the slots it holds; else 0
 */
public record SubscriberEvent(Subscriber subscriber, Type type, long count) {
    /** The transitions. */
    public enum Type {
        /** It subscribed: it gets what is published from now on. */
        JOINED,
        /** It left, died or was dropped (its slots came back). */
        LEFT,
        /** Its queue holds at least the publisher's almost-full share of what it may hold ({@link Publisher#almostFull(double)}). */
        ALMOST_FULL,
        /** Its queue was full: a message was dropped for it (and more may be, until SPACE_AVAILABLE). */
        FULL,
        /** After FULL, a message reached it again; {@link SubscriberEvent#count()} messages were lost meanwhile. */
        SPACE_AVAILABLE
    }
}
