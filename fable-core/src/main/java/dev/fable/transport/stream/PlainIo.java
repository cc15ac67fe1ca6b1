package dev.fable.transport.stream;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;

/** A {@link SocketIo} straight onto the socket: the kernel's copy is the only one. */
public final class PlainIo implements SocketIo {
    private final SocketChannel channel;

    public PlainIo(SocketChannel channel) {
        this.channel = channel;
    }

    @Override
    public int read(ByteBuffer dst) throws IOException {
        return channel.read(dst);
    }

    @Override
    public long write(ByteBuffer[] srcs, int off, int len) throws IOException {
        return len == 1 ? channel.write(srcs[off]) : channel.write(srcs, off, len);
    }

    @Override
    public boolean flush() {
        return true;
    }

    @Override
    public void shutdownOutput() {
        // the socket's FIN is the end marker
    }

    @Override
    public SocketChannel channel() {
        return channel;
    }
}
