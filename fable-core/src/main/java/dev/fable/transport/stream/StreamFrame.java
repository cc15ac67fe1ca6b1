package dev.fable.transport.stream;

import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;

/**
 * The 4-byte header in front of every message fragment on a Fable stream (unix, tcp, tls):
 * bit 31 MORE (the next fragment continues this message), bit 30 CLOSE (the sender closed cleanly;
 * no payload), bits 0–29 the payload length. Little-endian on every host.
 */
final class StreamFrame {
    private StreamFrame() {}

    static final int HEADER = 4;
    static final int MORE = 1 << 31;
    static final int CLOSE = 1 << 30;
    static final int LENGTH_MASK = (1 << 30) - 1;
    /** Largest fragment a stream side accepts to send or receive (its staging is sized from it). */
    static final int MAX_FRAGMENT = 16 << 20;
    static final ValueLayout.OfInt LAYOUT = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
}
