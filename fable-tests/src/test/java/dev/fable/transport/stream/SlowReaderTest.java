package dev.fable.transport.stream;

import dev.fable.ConnectOptions;
import dev.fable.Connection;
import dev.fable.ConnectionState;
import dev.fable.Endpoint;
import dev.fable.Fable;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.*;

/**
 * A live peer that stops reading for four times the liveness bound is not cut. Linux applies
 * {@code TCP_USER_TIMEOUT} to zero-window probing too, so before {@code ZeroWindowGuard} a sender whose peer kept its
 * window shut for the user timeout was reset (curl {@code --limit-rate} through {@code fable relay} lost 16 MiB
 * downloads after 10-13 MB, 3 of 3). Bound 2 s (user timeout 1 s); the peer reads nothing for 8 s, then everything,
 * every byte checked. Without the guard the sender fails with PeerGoneException about a second into the pause.
 */
class SlowReaderTest {
    private static final Duration BOUND = Duration.ofSeconds(2);
    /** The peer's pause: the feature's stimulus (a reader that sleeps), not a synchronisation. */
    private static final long PAUSE_MILLIS = 4 * BOUND.toMillis();
    private static final Duration WAIT = Duration.ofSeconds(30);
    private static final int MESSAGE = 64 * 1024;
    private static final int MESSAGES = 128;   // 8 MiB: far more than the socket buffers and staging slots hold

    @TempDir
    static Path dir;

    private static Fable.Context context() {
        return new Fable.Context().runtimeDir(dir.resolve("run")).stateDir(dir.resolve("state")).shmDir(dir.resolve("shm")).peerTimeout(BOUND);
    }

    private static byte at(long i) {
        return (byte) (i * 31 + (i >>> 11));
    }

    /** Sends MESSAGES messages of MESSAGE bytes, byte i of the stream being at(i); null or what failed. */
    private static CompletableFuture<Throwable> sendAll(Connection c) {
        return CompletableFuture.supplyAsync(() -> {
            try {
                byte[] m = new byte[MESSAGE];
                long pos = 0;
                for (int k = 0; k < MESSAGES; k++) {
                    for (int i = 0; i < MESSAGE; i++) m[i] = at(pos++);
                    c.send(m);
                }
                return null;
            } catch (Throwable t) {
                return t;
            }
        }, r -> Thread.ofPlatform().daemon().start(r));
    }

    @Test
    void aPlainPeerThatPausesReadingFourBoundsLongGetsEverything() throws Exception {
        try (Fable f = Fable.launch(context());
             ServerSocketChannel server = ServerSocketChannel.open().bind(new InetSocketAddress("127.0.0.1", 0))) {
            InetSocketAddress at = (InetSocketAddress) server.getLocalAddress();
            try (Connection c = f.open("tcp://127.0.0.1:" + at.getPort(), ConnectOptions.trusted());
                 SocketChannel plain = server.accept()) {
                CompletableFuture<Throwable> sent = sendAll(c);
                Thread.sleep(PAUSE_MILLIS);   // the stimulus: a reader asleep, its window shut
                assertFalse(sent.isDone() && sent.get() == null, "the sender finished while nobody read: the test needs a full socket");
                ByteBuffer buf = ByteBuffer.allocate(64 * 1024);
                long pos = 0, total = (long) MESSAGE * MESSAGES;
                while (pos < total) {
                    buf.clear();
                    int n = plain.read(buf);
                    assertTrue(n > 0, "the stream ended at byte " + pos + " of " + total + "; sender: " + (sent.isDone() ? sent.get() : "still sending"));
                    for (int i = 0; i < n; i++) assertEquals(at(pos + i), buf.get(i), "byte " + (pos + i));
                    pos += n;
                }
                assertNull(sent.get(WAIT.toSeconds(), TimeUnit.SECONDS), "the sender failed");
                assertEquals(ConnectionState.OPEN, c.state());
            }
        }
    }

    @Test
    void aFableReceiverThatPausesFourBoundsLongGetsEverything() throws Exception {
        try (Fable f = Fable.launch(context())) {
            String name = "slow-reader-" + ProcessHandle.current().pid();
            try (Endpoint ep = f.endpoint(name).listen(ConnectOptions.trusted())) {
                CompletableFuture<Connection> accepted = CompletableFuture.supplyAsync(() -> ep.accept(WAIT));
                try (Connection c = f.open("xio+tcp://" + name, ConnectOptions.trusted());
                     Connection s = accepted.get(WAIT.toSeconds(), TimeUnit.SECONDS)) {
                    assertEquals("tcp", c.transport());
                    CompletableFuture<Throwable> sent = sendAll(c);
                    Thread.sleep(PAUSE_MILLIS);   // the stimulus: a receiver that does not receive
                    assertFalse(sent.isDone() && sent.get() == null, "the sender finished while nobody read: the test needs a full socket");
                    long pos = 0;
                    for (int k = 0; k < MESSAGES; k++) {
                        byte[] m = s.receiveMessage(WAIT);
                        assertNotNull(m, "message " + k + "; sender: " + (sent.isDone() ? sent.get() : "still sending"));
                        assertEquals(MESSAGE, m.length);
                        for (int i = 0; i < MESSAGE; i++) assertEquals(at(pos), m[i], "byte " + pos++);
                    }
                    assertNull(sent.get(WAIT.toSeconds(), TimeUnit.SECONDS), "the sender failed");
                    assertEquals(ConnectionState.OPEN, c.state());
                }
            }
        }
    }
}
