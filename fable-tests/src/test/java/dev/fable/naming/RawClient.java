package dev.fable.naming;

import dev.fable.naming.protocol.FrameDecoder;
import dev.fable.naming.protocol.Message;
import dev.fable.naming.protocol.Messages;
import dev.fable.naming.protocol.ProtocolException;

import java.io.IOException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SelectionKey;
import java.nio.channels.Selector;
import java.nio.channels.SocketChannel;
import java.nio.file.Path;
import java.time.Duration;

/** A hand-driven daemon client for hostile-input tests: sends raw bytes, reads frames with a deadline. */
final class RawClient implements AutoCloseable {
    final SocketChannel ch;
    private final FrameDecoder decoder = new FrameDecoder();
    private final ByteBuffer in = ByteBuffer.allocate(1 << 16).flip();

    RawClient(Path runtimeDir) throws IOException {
        ch = SocketChannel.open(StandardProtocolFamily.UNIX);
        ch.connect(UnixDomainSocketAddress.of(NamingConfig.daemonSocket(runtimeDir)));
    }

    void send(Message m) throws IOException {
        sendBytes(Messages.encode(m));
    }

    void sendBytes(ByteBuffer b) throws IOException {
        while (b.hasRemaining()) ch.write(b);
    }

    /** The next message, or null at end of stream; fails after {@code limit}. */
    Message read(Duration limit) throws IOException, ProtocolException {
        long deadline = System.nanoTime() + limit.toNanos();
        ch.configureBlocking(false);
        try (Selector sel = Selector.open()) {
            ch.register(sel, SelectionKey.OP_READ);
            while (true) {
                ByteBuffer p = decoder.next(in);
                if (p != null) return Messages.decode(p);
                in.compact();
                int n = ch.read(in);
                in.flip();
                if (n < 0) return null;
                if (n == 0) {
                    long left = deadline - System.nanoTime();
                    if (left <= 0) throw new AssertionError("the daemon sent nothing within " + limit);
                    sel.select(Math.max(1, left / 1_000_000));
                    sel.selectedKeys().clear();
                }
            }
        }
    }

    /** Reads until the daemon closes the connection; returns the messages seen on the way. */
    java.util.List<Message> readUntilClosed(Duration limit) throws IOException, ProtocolException {
        java.util.List<Message> l = new java.util.ArrayList<>();
        Message m;
        while ((m = read(limit)) != null) l.add(m);
        return l;
    }

    @Override
    public void close() throws IOException {
        ch.close();
    }
}
