package dev.fable.buffer;

import dev.fable.Buffer;
import dev.fable.Connection;

import java.time.Duration;
import java.util.Objects;

/** Sending a whole message of any size over a connection's buffers: the blocking {@code Connection.send}. */
public final class Messages {
    private Messages() {}

    private static final Duration FOREVER = Duration.ofNanos(-1);

    /**
     * Sends {@code data[offset, offset + length)} as one message, fragmented into the connection's
     * buffers (MORE on all but the last), waiting for free buffers as needed. Each fragment takes what
     * its buffer holds, so a message may span a reconfiguration whose transports differ in slot size.
     */
    public static void send(Connection c, byte[] data, int offset, int length) {
        Objects.checkFromIndexSize(offset, length, data.length);
        int done = 0;
        do {
            Buffer b = c.claim(Math.max(1, length - done), FOREVER);   // an empty message still takes a buffer
            int n = Math.min(length - done, b.capacity());
            b.put(0, data, offset + done, n);
            b.length(n);
            done += n;
            if (done < length) b.commitFragment(); else b.commit();
        } while (done < length);
    }
}
