package dev.fable.transport;

/**
 * One direction of a connection, as the flow table counts it. Written by that direction's own thread
 * (plain stores, single writer); read by any thread with plain loads, so a flow-table reader may see
 * a value a few messages old (statistics, not synchronisation; 64-bit HotSpot does not tear longs).
 */
public interface Counted {
    /** Message fragments committed (sending side) or polled (receiving side). */
    long messages();

    /** Payload bytes of those fragments. */
    long bytes();
}
