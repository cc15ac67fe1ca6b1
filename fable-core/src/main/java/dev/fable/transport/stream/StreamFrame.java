package dev.fable.transport.stream;

import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;

/**
 * The frame of every message fragment on a Fable stream (unix, tcp, tls): an 8-byte header, the
 * payload, and zero padding to a multiple of 8 bytes, so every payload starts 8-byte aligned in the
 * reader's receive area (as shared-memory slots do: aligned long access works on every transport).
 * Header word 0: bit 31 MORE (the next fragment continues this message), bit 30 CLOSE (the sender
 * closed cleanly; no payload), bits 0–29 the payload length. Both flags and length 0
 * ({@link #END_OF_EPOCH}): the sender's last frame on a connection leg that a reconfiguration
 * retires; the connection goes on over the next leg. Both flags and length 1, no payload
 * ({@link #INSTALLED}): the accepting side's first frame on a leg that a reconfiguration adds, sent
 * once the leg is in its connection's chain; the connecting side reads it before it moves its
 * sender there. Word 1: 0, except on a data frame of a subscription (publisher to subscriber): the number of
 * messages the publisher dropped for this subscriber since it last said so (1 to 2^31 - 1), told before this
 * frame's message. Little-endian on every host.
 */
final class StreamFrame {
    private StreamFrame() {}

    static final int HEADER = 8;
    static final int MORE = 1 << 31;
    static final int CLOSE = 1 << 30;
    static final int LENGTH_MASK = (1 << 30) - 1;
    static final int END_OF_EPOCH = MORE | CLOSE;
    static final int INSTALLED = MORE | CLOSE | 1;
    /** Largest fragment a stream side accepts to send or receive (its staging is sized from it). */
    static final int MAX_FRAGMENT = 16 << 20;
    static final ValueLayout.OfInt LAYOUT = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    /** Bytes a frame with {@code payload} bytes takes on the wire: header, payload, padding. */
    static int size(int payload) {
        return (HEADER + payload + 7) & ~7;
    }
}
