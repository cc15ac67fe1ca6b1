package dev.fable.buffer;

import dev.fable.Buffer;

import java.io.ByteArrayOutputStream;
import java.util.function.Function;

/**
 * Reassembles a message from its fragments for {@code Connection.receiveMessage}. Receiving thread
 * only. A message whose rest had not arrived when a call timed out is kept for the next call.
 */
public final class MessageAssembler {
    /** Where fragments come from: the next read buffer before {@code deadline}, or null at the deadline. */
    @FunctionalInterface
    public interface Source {
        Buffer next(long deadline);
    }

    private ByteArrayOutputStream partial;
    private byte[] chunk;

    /**
     * The next whole message, or null at the deadline. {@code tooBig} makes the exception to throw
     * (and fails the connection) when a message exceeds {@code maxMessageSize}.
     */
    public byte[] next(Source source, long deadline, int maxFragment, long maxMessageSize, Function<String, RuntimeException> tooBig) {
        while (true) {
            Buffer b = source.next(deadline);
            if (b == null) return null;   // timed out; a message already begun stays in `partial` for the next call
            int n = b.length();
            boolean more = b.more();
            ByteArrayOutputStream acc = partial;
            if (acc == null && !more) {
                byte[] r = new byte[n];
                b.get(0, r, 0, n);
                b.release();
                return r;
            }
            if (acc == null) partial = acc = new ByteArrayOutputStream((int) Math.min(4L * n, maxMessageSize));
            if (acc.size() + (long) n > maxMessageSize) {
                partial = null;
                b.release();
                throw tooBig.apply("a message exceeds maxMessageSize (" + maxMessageSize + " B); raise ConnectOptions.maxMessageSize");
            }
            if (chunk == null || chunk.length < n) chunk = new byte[Math.max(n, maxFragment)];
            b.get(0, chunk, 0, n);
            b.release();
            acc.write(chunk, 0, n);
            if (!more) {
                partial = null;
                return acc.toByteArray();
            }
        }
    }
}
