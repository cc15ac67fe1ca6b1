package dev.fable.transport;

/**
 * One direction of a connection, as the flow table counts it. Written by that direction's own thread
 * (plain stores, single writer); read by any thread with plain loads, so a flow-table reader may see
 * a value a few messages old (statistics, not synchronisation; 64-bit HotSpot does not tear longs).
 */
public interface Counted {
    /** Fragments committed (sending side) or polled (receiving side); a message is one or more fragments. */
    long fragments();

    /** Those of the fragments that had MORE set: a later fragment of the same message follows them. */
    long continued();

    /** Whole messages: fragments that ended their message. */
    default long messages() {
        return fragments() - continued();
    }

    /** Payload bytes of those fragments. */
    long bytes();
}
