package dev.fable;

/**
 * Something that happened to a {@link Connection} besides data: see {@link Connection#pollEvent()}.
 *
 * @param type      what happened
 * @param epoch     the epoch the event is about (the new one for RECONFIGURING and RECONFIGURED)
 * @param transport the transport of that epoch
 * @param reason    why: the operator's or policy's reason of a switch, or the error
 */
public record ConnectionEvent(Type type, long epoch, String transport, String reason) {
    /** The kinds of event. */
    public enum Type {
        /** A switch to {@link #transport()} began: the new transport is being set up beside the old one (make). */
        RECONFIGURING,
        /** Both directions of this side now run over {@link #transport()} with {@link #epoch()}; the old transport is closed (break). */
        RECONFIGURED,
        /** A switch failed before it took effect; the connection stays on its current transport and keeps flowing. */
        RECONFIGURATION_FAILED,
        /**
         * The drain timeout passed while the application still held read buffers of an old transport: they
         * were copied into private memory (reading them goes on as before) and the old transport was closed.
         */
        OLD_BUFFERS_COPIED,
        /**
         * A subscription ({@code Fable.subscribe}): the publisher dropped messages for this subscriber because its
         * queue was full; {@link Connection#messagesDropped()} counts them all. Told before the next message that did
         * arrive; while one is queued and not yet polled, later drops only add to that count.
         */
        DROPPED
    }
}
