/**
 * Fable behind the JDK's byte-stream types: a {@link dev.fable.Connection} as an {@link java.io.InputStream},
 * an {@link java.io.OutputStream} and a {@link java.nio.channels.ByteChannel}
 * ({@link dev.fable.Connection#inputStream()}, {@link dev.fable.Connection#outputStream()},
 * {@link dev.fable.Connection#channel()}, all views of one {@link dev.fable.io.ConnectionStreams}), and
 * {@link dev.fable.io.FableSocket}, a {@link java.net.Socket}-shaped handle with a read timeout.
 *
 * <p>The views sit on the non-blocking core and keep its properties: the input stream copies bytes out of
 * the buffer the transport delivered (message boundaries are ignored), the output stream fills the claimed
 * buffer in place and commits it when it is full or flushed; no call allocates or locks in the steady state.
 * The end of a connection maps to the JDK's conventions: -1 at the peer's clean close, a
 * {@link dev.fable.io.ConnectionLostException} (an {@link java.io.IOException}) when the peer died or the
 * connection broke, {@link java.net.SocketTimeoutException} when a {@link dev.fable.io.FableSocket}'s read timeout
 * passes.
 *
 * <p>Layer: right above the API types ({@code dev.fable}), on which alone it depends; the flow layer's
 * connection gives its views from here.
 */
package dev.fable.io;
