package dev.fable.transport;

/**
 * A publisher's fan-out pool as its subscribers' legs see it: slots one producer wrote once and
 * offered to many legs ({@link Leg#offerShared}). A leg that took a slot gives it back exactly once,
 * through {@link #released}, when its peer released it (or can no longer read it: the peer died or
 * closed). The pool counts the holders of each slot in the publisher's private memory; a slot is free
 * again when the last holder gave it back.
 *
 * <p>{@link #released} may be called from any thread (the publisher's own, or one that closes a leg).
 */
public interface FanoutSlots {
    /** One holder of {@code slot} is done with it. */
    void released(int slot);
}
