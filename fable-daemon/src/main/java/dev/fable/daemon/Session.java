package dev.fable.daemon;

import dev.fable.naming.protocol.FrameDecoder;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.SelectionKey;
import java.nio.channels.SocketChannel;
import java.util.ArrayDeque;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;

/**
 * One connection to the daemon: a client library over the Unix socket, or a peer daemon over TCP.
 * Replies queue here and are written as the socket accepts them; a client that lets more than
 * {@link #MAX_QUEUED} bytes pile up (it sends requests but does not read replies) is closed. One closed for
 * another violation lingers: its queue is still written, then its output shut, and what it sends is dropped.
 *
 * <p>Loop thread only: created, read, written and closed by {@link ClientSessions} on the daemon's event loop;
 * its linger state and socket, once it is closed for a violation, by {@link LingeringSockets} on the same thread.
 */
final class Session {
    static final int MAX_QUEUED = 1 << 20;

    final SocketChannel channel;
    final SelectionKey key;
    final FrameDecoder decoder = new FrameDecoder();
    final long connectedAtNanos = System.nanoTime();
    final Set<String> names = new LinkedHashSet<>();
    private final ArrayDeque<ByteBuffer> queue = new ArrayDeque<>();
    private long queued;
    long pid = -1;
    String description = "?";
    String shmDir = "";   // where this client's shared-memory files live (its HELLO says)
    boolean helloDone;
    /** Resolves of this client waiting in the registry. */
    int waiting;
    long midFrameSinceNanos;
    /** Its last flow report had a connection the contention policy watches: it is asked every contention round. */
    boolean contentionWatched;
    boolean closed;
    /** Closed for a violation, its socket lingers until then ({@link LingeringSockets}). */
    long lingerUntilNanos;
    /** Bytes read and dropped while lingering. */
    long drainedBytes;
    /** Its socket is shut for writing (lingering, after the last reply). */
    boolean outputShut;

    Session(SocketChannel channel, SelectionKey key) {
        this.channel = channel;
        this.key = key;
    }

    /**
     * Queues frames and writes what the socket takes now.
     *
     * @return false if the client's backlog passed {@link #MAX_QUEUED} (the caller closes it)
     */
    boolean send(List<ByteBuffer> frames) throws IOException {
        for (ByteBuffer f : frames) {
            queue.add(f);
            queued += f.remaining();
        }
        flush();
        return queued <= MAX_QUEUED;
    }

    boolean send(ByteBuffer frame) throws IOException {
        return send(List.of(frame));
    }

    /** Writes queued frames until the socket is full; asks for OP_WRITE while anything is left. */
    void flush() throws IOException {
        while (!queue.isEmpty()) {
            ByteBuffer b = queue.peek();
            int n = channel.write(b);
            queued -= n;
            if (b.hasRemaining()) break;
            queue.poll();
        }
        if (key.isValid()) {
            key.interestOps(queue.isEmpty() ? SelectionKey.OP_READ : SelectionKey.OP_READ | SelectionKey.OP_WRITE);
        }
    }

    /** Lingering: writes what is still queued and, once it is all out, shuts the socket for writing (the client reads the end of the stream). */
    void flushThenShutOutput() throws IOException {
        flush();
        if (queued == 0 && !outputShut) {
            outputShut = true;
            channel.shutdownOutput();
        }
    }

    /**
     * Lingering: reads what the client sent into {@code scratch} and drops it.
     *
     * @return the bytes dropped so far, or -1 once the client closed its end
     */
    long drain(ByteBuffer scratch) throws IOException {
        scratch.clear();
        if (channel.read(scratch) < 0) return -1;
        drainedBytes += scratch.position();
        return drainedBytes;
    }

    /** Cancels its key and closes its socket. */
    void closeChannel() {
        key.cancel();
        try {
            channel.close();
        } catch (IOException ignored) {
            // already gone
        }
    }

    /** A client library that said HELLO and is still connected: it gets queries, orders and notices. */
    boolean isOpenClient() {
        return helloDone && !closed;
    }

    long queuedBytes() {
        return queued;
    }

    @Override
    public String toString() {
        return "client pid " + pid + " (" + description + ")";
    }
}
