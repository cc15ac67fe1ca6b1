package dev.fable.naming;

import dev.fable.naming.protocol.Message;
import dev.fable.naming.protocol.Messages;
import dev.fable.naming.protocol.ProtocolException;
import dev.fable.naming.protocol.Wire;

import java.io.DataInputStream;
import java.io.EOFException;
import java.io.IOException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.Channels;
import java.nio.channels.SocketChannel;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;

/**
 * One blocking connection from a client library to its daemon: frames out under a lock, frames in
 * by whoever owns the reading side (the handshake, then {@link DaemonNameService}'s reader thread).
 */
final class DaemonConnection implements AutoCloseable {
    private final SocketChannel channel;
    private final DataInputStream in;
    private final Object writeLock = new Object();
    final Path socket;

    private DaemonConnection(SocketChannel channel, Path socket) {
        this.channel = channel;
        this.socket = socket;
        this.in = new DataInputStream(Channels.newInputStream(channel));
    }

    /** Connects to the daemon socket; IOException if none answers there. */
    static DaemonConnection open(Path socket) throws IOException {
        SocketChannel ch = SocketChannel.open(StandardProtocolFamily.UNIX);
        try {
            ch.connect(UnixDomainSocketAddress.of(socket));
            return new DaemonConnection(ch, socket);
        } catch (IOException | RuntimeException e) {
            ch.close();
            throw e;
        }
    }

    /** The uid of the process that serves the socket ({@code SO_PEERCRED}). */
    int peerUid() throws IOException {
        return dev.fable.internal.PeerUser.uid(channel);
    }

    void send(Message m) throws IOException {
        ByteBuffer f = Messages.encode(m);
        sendFrame(f);
    }

    void sendFrame(ByteBuffer f) throws IOException {
        synchronized (writeLock) {
            while (f.hasRemaining()) channel.write(f);
        }
    }

    /** Reads the next message; EOFException when the daemon closed the connection. */
    Message read() throws IOException {
        int len = in.readInt();
        if (len < 1 || len > Wire.MAX_FRAME) throw new IOException("the daemon at " + socket + " sent a frame of length " + len);
        byte[] body = new byte[len];
        in.readFully(body);
        try {
            return Messages.decode(ByteBuffer.wrap(body));
        } catch (ProtocolException e) {
            throw new IOException("the daemon at " + socket + " sent an invalid message: " + e.getMessage(), e);
        }
    }

    /** Reads with a deadline, for the handshake (before the reader thread exists). */
    Message readWithin(long millis) throws IOException {
        Thread reader = Thread.currentThread();
        Thread watchdog = Thread.ofVirtual().unstarted(() -> {
            try {
                Thread.sleep(millis);   // a timeout, not synchronisation: closes a daemon that never answers the handshake
                close();
            } catch (InterruptedException ignored) {
                // answered in time
            }
        });
        watchdog.start();
        try {
            return read();
        } catch (EOFException e) {
            throw new EOFException("the daemon at " + socket + " closed the connection during the handshake");
        } finally {
            watchdog.interrupt();
            if (!channel.isOpen()) {
                throw new IOException("the daemon at " + socket + " did not answer HELLO within " + TimeUnit.MILLISECONDS.toSeconds(millis) + " s");
            }
        }
    }

    boolean isOpen() {
        return channel.isOpen();
    }

    @Override
    public void close() {
        try {
            channel.close();
        } catch (IOException ignored) {
            // closing
        }
    }
}
