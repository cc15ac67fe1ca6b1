package dev.fable.io;

import dev.fable.ConnectOptions;
import dev.fable.Connection;
import dev.fable.ConnectionState;
import dev.fable.Endpoint;
import dev.fable.ExternalListener;
import dev.fable.Fable;
import dev.fable.PeerGoneException;
import dev.fable.TransportName;
import dev.fable.testing.Await;
import dev.fable.testing.Pair;
import dev.fable.testing.PeerProcess;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.SocketTimeoutException;
import java.nio.ByteBuffer;
import java.nio.channels.ByteChannel;
import java.nio.channels.ClosedChannelException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.FutureTask;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.stream.Stream;

import static dev.fable.testing.Names.unique;
import static dev.fable.testing.Names.uri;
import static dev.fable.testing.Tasks.spawn;
import static org.junit.jupiter.api.Assertions.*;

/**
 * The byte-stream views of a connection ({@link Connection#inputStream()}, {@link Connection#outputStream()},
 * {@link Connection#channel()}, {@link FableSocket}) against the JDK's contracts, on every transport: shm,
 * unix, tcp, tls between Fable endpoints, and {@code tcp-raw} (a plain external peer through
 * {@link Fable#listenExternal} and {@code Fable.connect("tcp://...")}).
 *
 * <p>Synchronisation is by blocking reads and writes, {@link Await} on observable progress and lines printed by a
 * child JVM; never by sleeping. No assertion depends on how fast anything is.
 */
@Timeout(value = 300, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
class StreamContractTest {
    private static final Duration LONG = Duration.ofSeconds(60);
    private static final int MIB = 1 << 20;
    private static final int BIG = 64 * MIB;

    /** Every transport, the plain external peer last. */
    static Stream<String> transports() {
        return Stream.concat(TransportName.ALL.stream(), Stream.of("tcp-raw"));
    }

    /** Transports a connection can switch between (a plain external peer cannot). */
    static Stream<String> switchable() {
        return TransportName.ALL.stream();
    }

    /** The bytes of the large transfers: one seeded array, made once. */
    private static byte[] bigData;

    private static synchronized byte[] big() {
        if (bigData == null) {
            bigData = new byte[BIG];
            new Random(0x5eed).nextBytes(bigData);
        }
        return bigData;
    }

    /** Two connected ends: {@code writer} connected to the listener that accepted {@code reader}. */
    record Ends(Connection writer, Connection reader, AutoCloseable rest) implements AutoCloseable {
        @Override
        public void close() throws Exception {
            try {
                writer.close();
            } finally {
                try {
                    reader.close();
                } finally {
                    rest.close();
                }
            }
        }
    }

    static Ends open(String transport, String tag) throws Exception {
        ConnectOptions o = ConnectOptions.trusted().connectTimeout(Duration.ofSeconds(30));
        if (transport.equals("tcp-raw")) {
            ExternalListener l = Fable.listenExternal("tcp://127.0.0.1:0", o);
            try {
                FutureTask<Connection> accepted = spawn("accept-raw", () -> l.accept(LONG));
                Connection client = Fable.connect("tcp://127.0.0.1:" + l.port(), o);
                Connection server = accepted.get(LONG.toSeconds(), TimeUnit.SECONDS);
                assertNotNull(server, "the external listener accepted nothing");
                assertEquals("tcp-raw", server.transport());
                return new Ends(client, server, l);
            } catch (Exception | Error e) {
                l.close();
                throw e;
            }
        }
        Pair p = Pair.open(unique(tag + "-" + transport), transport, ConnectOptions.trusted(), o);
        assertEquals(transport, p.client().transport());
        return new Ends(p.client(), p.server(), p.ep());
    }

    /**
     * Writes {@code data} on {@code out} in pieces of varied sizes (single bytes with write(int), 1 B up to
     * 1 MiB arrays), flushing now and then; {@code pause} (if not null) runs when {@code pauseAt} bytes were
     * written and flushed.
     */
    private static void writeVaried(OutputStream out, byte[] data, long seed, long pauseAt, Runnable pause) throws IOException {
        Random r = new Random(seed);
        int at = 0;
        boolean paused = pause == null;
        while (at < data.length) {
            if (!paused && at >= pauseAt) {
                out.flush();
                pause.run();
                paused = true;
            }
            int kind = r.nextInt(10);
            int n;
            if (kind == 0) {
                out.write(data[at]);
                n = 1;
            } else {
                int max = kind < 4 ? 16 : kind < 7 ? 4096 : kind < 9 ? 70_000 : MIB;
                n = Math.min(data.length - at, 1 + r.nextInt(max));
                out.write(data, at, n);
            }
            at += n;
            if (r.nextInt(50) == 0) out.flush();
        }
    }

    /** Reads until end of stream with varied read sizes, checking every byte against {@code expected}; returns the count. */
    private static long readVariedAndCheck(InputStream in, byte[] expected, long seed, AtomicLong progress) throws IOException {
        Random r = new Random(seed);
        byte[] buf = new byte[MIB + 17];
        long at = 0;
        while (true) {
            int kind = r.nextInt(10);
            if (kind == 0) {
                int b = in.read();
                if (b < 0) break;
                assertTrue(at < expected.length, "a byte beyond the " + expected.length + " written");
                if ((byte) b != expected[(int) at]) fail("byte " + at + " differs: " + b + " instead of " + (expected[(int) at] & 0xFF));
                at++;
            } else {
                int max = kind < 4 ? 16 : kind < 7 ? 5000 : kind < 9 ? 100_000 : MIB;
                int off = r.nextInt(17);
                int len = 1 + r.nextInt(max);
                int n = in.read(buf, off, len);
                if (n < 0) break;
                assertTrue(n >= 1 && n <= len, "read returned " + n + " for " + len + " asked");
                assertTrue(at + n <= expected.length, "bytes beyond the " + expected.length + " written");
                int m = Arrays.mismatch(buf, off, off + n, expected, (int) at, (int) at + n);
                if (m >= 0) fail("byte " + (at + m) + " differs (read of " + n + " at " + at + ")");
                at += n;
            }
            if (progress != null) progress.set(at);
        }
        assertEquals(-1, in.read(), "end of stream stays the end");
        assertEquals(-1, in.read(new byte[10], 0, 10), "end of stream stays the end");
        return at;
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("transports")
    void largeTransferArrivesIntactAndEndsExactlyAtThePeersClose(String transport) throws Exception {
        byte[] data = big();
        try (Ends e = open(transport, "stream-big")) {
            FutureTask<Void> writer = spawn("stream-writer", () -> {
                try (OutputStream out = e.writer().outputStream()) {
                    writeVaried(out, data, 1, -1, null);
                }   // close flushes, then closes the connection: the reader's end of stream
                return null;
            });
            long n = readVariedAndCheck(e.reader().inputStream(), data, 2, null);
            writer.get(LONG.toSeconds(), TimeUnit.SECONDS);
            assertEquals(data.length, n, "bytes read before the end of stream");
            assertEquals(ConnectionState.PEER_CLOSED, e.reader().state());
            assertEquals(ConnectionState.CLOSED, e.writer().state(), "closing the output stream closes the connection");
            assertEquals(0, e.reader().inputStream().available());
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("transports")
    void channelCarriesHeapAndDirectBuffersBothWays(String transport) throws Exception {
        byte[] data = Arrays.copyOf(big(), 6 * MIB);
        try (Ends e = open(transport, "stream-channel")) {
            ByteChannel wc = e.writer().channel(), rc = e.reader().channel();
            assertTrue(wc.isOpen());
            FutureTask<Void> writer = spawn("channel-writer", () -> {
                Random r = new Random(3);
                ByteBuffer direct = ByteBuffer.allocateDirect(MIB);
                int at = 0;
                while (at < data.length) {
                    int n = Math.min(data.length - at, 1 + r.nextInt(r.nextBoolean() ? 100 : MIB));
                    ByteBuffer src;
                    if (r.nextBoolean()) {
                        src = ByteBuffer.wrap(data, at, n);
                    } else {
                        src = direct.clear().put(data, at, n).flip();
                    }
                    assertEquals(n, wc.write(src), "a blocking channel writes everything");
                    assertFalse(src.hasRemaining());
                    at += n;
                }
                return null;   // no flush: each write() committed what it wrote
            });
            Random r = new Random(4);
            ByteBuffer heap = ByteBuffer.allocate(MIB), direct = ByteBuffer.allocateDirect(MIB);
            int at = 0;
            while (at < data.length) {
                ByteBuffer dst = (r.nextBoolean() ? heap : direct).clear().limit(1 + r.nextInt(r.nextBoolean() ? 64 : MIB));
                int n = rc.read(dst);
                assertTrue(n >= 1, "a blocking read returns at least one byte, got " + n);
                dst.flip();
                for (int i = 0; i < n; i++) {
                    if (dst.get(i) != data[at + i]) fail("byte " + (at + i) + " differs");
                }
                at += n;
            }
            writer.get(LONG.toSeconds(), TimeUnit.SECONDS);
            assertEquals(0, rc.read(ByteBuffer.allocate(0)), "a full destination reads nothing");
            wc.close();
            assertFalse(wc.isOpen());
            assertThrows(ClosedChannelException.class, () -> wc.write(ByteBuffer.allocate(1)));
            assertEquals(-1, rc.read(ByteBuffer.allocate(10)), "the peer closed: end of stream");
            rc.close();
            assertThrows(ClosedChannelException.class, () -> rc.read(ByteBuffer.allocate(10)));
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("transports")
    void endOfStreamComesExactlyAfterTheLastByteAndClosingEitherStreamClosesTheConnection(String transport) throws Exception {
        try (Ends e = open(transport, "stream-eof")) {
            OutputStream out = e.writer().outputStream();
            assertSame(out, e.writer().outputStream(), "one stream per connection");
            out.write(new byte[] {1, 2, 3});
            out.write(4);
            out.flush();
            InputStream in = e.reader().inputStream();
            byte[] got = new byte[10];
            int n = 0;
            while (n < 4) {
                int k = in.read(got, n, got.length - n);
                assertTrue(k > 0, "read before the peer's close returned " + k);
                n += k;
            }
            assertArrayEquals(new byte[] {1, 2, 3, 4}, Arrays.copyOf(got, n));
            out.write(5);   // buffered, not flushed: closing the output stream sends it
            // the reader's side: nothing at hand now, and a read would block
            assertEquals(0, in.available());
            e.writer().inputStream().close();   // closing the *input* stream of the writer closes its connection...
            assertEquals(ConnectionState.CLOSED, e.writer().state());
            IOException closed = assertThrows(IOException.class, () -> out.write(6), "write after this side closed");
            assertTrue(closed.getMessage().contains("closed by this side"), closed.getMessage());
            assertThrows(IOException.class, () -> e.writer().inputStream().read());
            assertThrows(IOException.class, out::flush);
            assertEquals(-1, in.read(), "...which the peer reads as its end of stream (the unflushed byte 5 was discarded)");
            assertEquals(ConnectionState.PEER_CLOSED, e.reader().state());
            ConnectionLostException lost = assertThrows(ConnectionLostException.class, () -> {
                OutputStream back = e.reader().outputStream();
                back.write(new byte[100]);
                back.flush();
            }, "writing to a peer that closed");
            assertEquals(ConnectionState.PEER_CLOSED, lost.state());
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("transports")
    void closingFromAnotherThreadWakesABlockedRead(String transport) throws Exception {
        try (Ends e = open(transport, "stream-wake")) {
            InputStream in = e.reader().inputStream();
            CountDownLatch reading = new CountDownLatch(1);
            FutureTask<Integer> blocked = spawn("blocked-read", () -> {
                reading.countDown();
                return in.read();
            });
            reading.await();
            e.reader().close();
            ExecutionException x = assertThrows(ExecutionException.class, () -> blocked.get(LONG.toSeconds(), TimeUnit.SECONDS));
            assertInstanceOf(IOException.class, x.getCause(), "a read blocked when this side closed");
            assertFalse(x.getCause() instanceof ConnectionLostException, "this side's close is not a lost connection: " + x.getCause());
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("transports")
    void socketReadTimeoutThrowsAndTheSocketStaysUsable(String transport) throws Exception {
        try (Ends e = open(transport, "stream-timeout")) {
            FableSocket s = new FableSocket(e.reader());
            assertEquals(0, s.getSoTimeout());
            s.setSoTimeout(300);
            assertEquals(300, s.getSoTimeout());
            assertFalse(s.isClosed());
            assertTrue(s.isConnected());
            assertSame(e.reader().inputStream(), s.getInputStream(), "the socket's streams are the connection's");
            SocketTimeoutException t = assertThrows(SocketTimeoutException.class, () -> s.getInputStream().read(new byte[8]),
                    "nothing was written: the read times out");
            assertTrue(t.getMessage().contains(e.reader().transport()), t.getMessage());
            assertEquals(ConnectionState.OPEN, e.reader().state(), "a timeout leaves the connection open");
            OutputStream out = e.writer().outputStream();
            out.write("after the timeout".getBytes());
            out.flush();
            byte[] got = new byte[17];
            int n = 0;
            while (n < got.length) n += s.getInputStream().read(got, n, got.length - n);
            assertEquals("after the timeout", new String(got));
            s.getOutputStream().write('!');
            s.getOutputStream().flush();
            assertEquals('!', e.writer().inputStream().read(), "the socket's output stream reaches the peer");
            s.close();
            assertTrue(s.isClosed());
            assertEquals(ConnectionState.CLOSED, e.reader().state());
            assertThrows(IOException.class, () -> s.getInputStream().read());
            assertEquals(-1, e.writer().inputStream().read(), "the peer of a closed socket reads its end of stream");
        }
    }

    /**
     * The live switch: the connecting side writes 64 MiB while the connection moves through every other transport
     * and back; the reader sees every byte once, in order, and the end of stream at the end.
     */
    @ParameterizedTest(name = "{0}")
    @MethodSource("switchable")
    void liveSwitchesMidStreamKeepEveryByte(String first) throws Exception {
        byte[] data = big();
        List<String> route = new ArrayList<>(TransportName.ALL);
        route.remove(first);
        route.add(first);   // e.g. shm: unix, tcp, tls, shm
        try (Ends e = open(first, "stream-switch")) {
            AtomicLong read = new AtomicLong();
            CountDownLatch switched = new CountDownLatch(1);
            long holdAt = data.length - 4L * MIB;   // the writer waits there (flushed) until every switch is done
            FutureTask<Void> writer = spawn("switch-writer", () -> {
                try (OutputStream out = e.writer().outputStream()) {
                    writeVaried(out, data, 5, holdAt, () -> {
                        try {
                            assertTrue(switched.await(LONG.toSeconds() * 2, TimeUnit.SECONDS), "the switches did not finish");
                        } catch (InterruptedException x) {
                            throw new AssertionError(x);
                        }
                    });
                }
                return null;
            });
            FutureTask<Long> switcher = spawn("switcher", () -> {
                try {
                    long epoch = 0;
                    for (int k = 0; k < route.size(); k++) {
                        long at = holdAt * (k + 1) / (route.size() + 1);
                        Await.until(() -> read.get() >= at || writer.isDone(), LONG, () -> "the reader got to " + read.get() + " of " + at);
                        epoch = e.writer().reconfigure(route.get(k), "test: switch " + (k + 1) + " mid-stream");
                    }
                    return epoch;
                } finally {
                    switched.countDown();
                }
            });
            long n = readVariedAndCheck(e.reader().inputStream(), data, 6, read);
            assertEquals(route.size(), switcher.get(LONG.toSeconds(), TimeUnit.SECONDS), "epoch after the switches");
            writer.get(LONG.toSeconds(), TimeUnit.SECONDS);
            assertEquals(data.length, n);
            assertEquals(first, e.reader().transport(), "the route ends where it started");
            assertEquals(route.size(), e.reader().epoch());
        }
    }

    // ---- the peer dies: a real second JVM, killed with kill -9 ----

    /**
     * Child JVM: connects to {@code args[1]} (over {@code xio+args[0]://} as endpoint {@code args[2]}, or, for
     * tcp-raw, with a plain {@link java.net.Socket} to {@code 127.0.0.1:args[1]}), writes {@code args[3]} bytes of the seeded data through its
     * output stream, flushes, prints "SENT n transport" and parks until killed.
     */
    public static final class DyingWriter {
        public static void main(String[] args) throws Exception {
            int n = Integer.parseInt(args[3]);
            byte[] data = new byte[n];
            new Random(7).nextBytes(data);
            if (args[0].equals("tcp-raw")) {   // a plain peer: a java.net.Socket that never reads
                try (java.net.Socket s = new java.net.Socket("127.0.0.1", Integer.parseInt(args[1]))) {
                    s.getOutputStream().write(data);
                    s.getOutputStream().flush();
                    System.out.println("SENT " + n + " tcp-raw");
                    System.in.read();   // parks here until killed
                }
                return;
            }
            ConnectOptions o = ConnectOptions.trusted().connectTimeout(Duration.ofSeconds(30));
            Connection c = Fable.register(args[2]).connect(uri(args[0], args[1]), o);
            OutputStream out = c.outputStream();
            out.write(data);
            out.flush();
            System.out.println("SENT " + n + " " + c.transport());
            System.in.read();   // parks here until killed
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("transports")
    void peerKilledIsAConnectionLostExceptionAfterEveryByteItSent(String transport) throws Exception {
        int n = 3 * MIB + 5;
        byte[] expected = new byte[n];
        new Random(7).nextBytes(expected);
        String name = unique("stream-death-" + transport);
        String child = unique("stream-death-child-" + transport);
        ConnectOptions o = ConnectOptions.trusted();
        boolean raw = transport.equals("tcp-raw");
        try (AutoCloseable listener = raw ? Fable.listenExternal("tcp://127.0.0.1:0", o) : Fable.register(name).listen(o);
             PeerProcess peer = PeerProcess.start(DyingWriter.class, transport,
                     raw ? String.valueOf(((ExternalListener) listener).port()) : name, child, String.valueOf(n))) {
            Connection c = acceptFrom(listener, peer);
            try {
                assertEquals(transport, c.transport());
                InputStream in = c.inputStream();
                byte[] got = new byte[n];
                int at = 0;
                while (at < n) {
                    int k = in.read(got, at, n - at);
                    assertTrue(k > 0, "read " + k + " at " + at + " of " + n + " bytes the peer flushed");
                    at += k;
                }
                peer.expectLine("SENT " + n + " " + transport);   // after the reads: the peer's flush waits for room
                assertArrayEquals(expected, got, "every byte the peer flushed before it died");
                CountDownLatch reading = new CountDownLatch(1);
                FutureTask<Integer> blocked = spawn("blocked-read", () -> {
                    reading.countDown();
                    return in.read();
                });
                reading.await();
                if (raw) {
                    // A plain TCP peer has no control channel: its kernel ends the socket for it, with an orderly FIN
                    // (indistinguishable from a clean close, which reads as end of stream) unless it leaves unread
                    // data, which makes it a reset: give it bytes it never reads.
                    c.outputStream().write(new byte[1000]);
                    c.outputStream().flush();
                }
                peer.kill9();
                Throwable cause;
                try {
                    int r = blocked.get(LONG.toSeconds(), TimeUnit.SECONDS);
                    throw new AssertionError("a read blocked on the killed peer returned " + r + " (state " + c.state() + ", failure "
                            + c.failure() + ") instead of throwing ConnectionLostException");
                } catch (ExecutionException x) {
                    cause = x.getCause();
                }
                ConnectionLostException lost = assertInstanceOf(ConnectionLostException.class, cause, "a read blocked on the killed peer");
                assertInstanceOf(PeerGoneException.class, lost.getCause());
                assertEquals(ConnectionState.PEER_GONE, lost.state());
                assertEquals(transport, lost.transport());
                assertTrue(lost.getMessage().contains(c.localName()) && lost.getMessage().contains(c.peerName())
                        && lost.getMessage().contains(transport), "the message names both ends and the transport: " + lost.getMessage());
                assertThrows(ConnectionLostException.class, in::read, "the next read too");
                assertThrows(ConnectionLostException.class, () -> {
                    c.outputStream().write(1);
                    c.outputStream().flush();
                }, "a write towards the dead peer");
            } finally {
                c.close();
            }
        }
    }

    private static Connection acceptFrom(AutoCloseable listener, PeerProcess peer) {
        long deadline = System.nanoTime() + LONG.toNanos();
        while (true) {
            Connection c = listener instanceof Endpoint ep ? ep.accept(Duration.ofMillis(200))
                    : ((ExternalListener) listener).accept(Duration.ofMillis(200));
            if (c != null) return c;
            if (!peer.process().isAlive()) fail("the child exited with " + peer.process().exitValue() + " before connecting; stderr:\n" + peer.stderr());
            if (System.nanoTime() - deadline >= 0) fail("the child did not connect within " + LONG + "; stderr:\n" + peer.stderr());
        }
    }
}
