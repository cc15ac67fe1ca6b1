package dev.fable.transport;

/**
 * A publisher's broadcast log as its subscribers' legs see it ({@link Leg#joinBroadcast}): small messages
 * published to all, written once, read by every subscriber that joined it. Publishing thread only.
 */
public interface BroadcastSource {
    /** Messages published so far: the sequence number of the next one. */
    long published();

    /** The log position a subscriber joining now starts reading at. */
    long startPosition();
}
