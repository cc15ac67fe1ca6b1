package dev.fable;

/**
 * Life of a connection as seen by one side. Shared-memory connections leave OPEN as soon as the peer
 * ends; socket connections when this side reads up to the end (see {@link Connection}).
 */
public enum ConnectionState {
    /** Data flows. */
    OPEN,
    /** The peer closed cleanly; what it committed before closing can still be polled. */
    PEER_CLOSED,
    /** The peer died (crash, {@code kill -9}) or its control socket broke; committed data can still be polled. */
    PEER_GONE,
    /** The peer broke the protocol (for example wrote garbage into the shared ring); see {@link Connection#failure()}. */
    FAILED,
    /** This side closed the connection. */
    CLOSED
}
