package dev.fable;

import java.lang.foreign.MemorySegment;

/**
 * Takes the buffers {@link Connection#poll(MessageHandler, int)} reads in one call: each as the bytes
 * {@code [offset, offset + length)} of a read-only {@code segment}, valid only during the call (copy what you keep).
 * The handler must not poll, receive, claim on or close the connection (reading its counters is fine).
 */
@FunctionalInterface
public interface MessageHandler {
    /**
     * One read buffer: a message, unless the peer committed it in fragments ({@link Buffer#commitFragment()}).
     *
     * @param segment read-only memory holding it; valid only until this call returns
     * @param offset  where it starts in {@code segment}
     * @param length  its bytes
     */
    void onMessage(MemorySegment segment, long offset, int length);

    /**
     * Hands a read buffer to this handler ({@link Buffer#segment()}, its length), then releases it, also when the
     * handler throws.
     *
     * @param b a read buffer, released by this call
     */
    default void take(Buffer b) {
        try {
            onMessage(b.segment(), 0, b.length());
        } finally {
            b.release();
        }
    }
}
