package dev.fable.naming.protocol;

import java.nio.ByteBuffer;

/**
 * Splits a byte stream into frame payloads. The length is validated before the payload buffer is
 * allocated, so a hostile length (negative, 0, 2^31-1) costs nothing but the error.
 */
public final class FrameDecoder {
    /** A decoder at the start of a frame. Not thread-safe: one per connection, used by its reading thread. */
    public FrameDecoder() {}

    private final ByteBuffer header = ByteBuffer.allocate(4);
    private ByteBuffer body;

    /**
     * Consumes bytes of {@code in} up to the end of the next frame; returns its payload (positioned
     * at 0), or null when {@code in} ran out first (the partial frame is kept for the next call).
     *
     * @param in bytes as they came from the stream; read from its position, which this call advances
     *           past what it consumed (it stops at the end of a frame)
     * @return the payload of the frame that ended in {@code in} (a new buffer, position 0, limit its
     *         length), or {@code null} if {@code in} ran out before the frame's end
     * @throws ProtocolException with {@link Wire#E_BAD_REQUEST} if the big-endian length prefix is outside
     *                           1 … {@link Wire#MAX_FRAME}; the decoder is then of no further use
     */
    public ByteBuffer next(ByteBuffer in) throws ProtocolException {
        if (body == null) {
            while (header.hasRemaining() && in.hasRemaining()) header.put(in.get());
            if (header.hasRemaining()) return null;
            int len = header.getInt(0);
            if (len < 1 || len > Wire.MAX_FRAME) {
                throw new ProtocolException(Wire.E_BAD_REQUEST, "frame length " + len + " is outside 1.." + Wire.MAX_FRAME
                        + " (not a Fable name-daemon client of this version?)");
            }
            body = ByteBuffer.allocate(len);
        }
        int n = Math.min(body.remaining(), in.remaining());
        body.put(body.position(), in, in.position(), n);
        body.position(body.position() + n);
        in.position(in.position() + n);
        if (body.hasRemaining()) return null;
        ByteBuffer done = body.flip();
        body = null;
        header.clear();
        return done;
    }

    /**
     * True while part of a frame has been read.
     *
     * @return whether bytes of an unfinished frame (its length or its payload) are buffered
     */
    public boolean midFrame() {
        return body != null || header.position() > 0;
    }

    /**
     * Bytes currently buffered for the frame in progress (at most {@link Wire#MAX_FRAME}).
     *
     * @return the capacity allocated for the payload in progress, 0 while none is
     */
    public int bufferedCapacity() {
        return body == null ? 0 : body.capacity();
    }
}
