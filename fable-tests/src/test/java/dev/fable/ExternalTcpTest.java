package dev.fable;

import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.io.BufferedReader;
import java.io.File;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.FutureTask;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.*;
import static org.junit.jupiter.api.Assumptions.assumeTrue;
import dev.fable.ExternalListener;

/**
 * {@code tcp://host:port} talks to plain, non-Fable peers: the bytes Fable sends are exactly the bytes
 * on the socket (no framing) and whatever the peer writes arrives, concatenated, with no message
 * boundaries. The peer is a real external program, socat (Debian package {@code socat}).
 *
 * <p>Both directions of the connection set-up: socat listening and Fable connecting
 * ({@code Fable.connect("tcp://…")}), and Fable listening ({@code Fable.listenExternal}) with socat
 * connecting.
 *
 * <p>Synchronisation: socat's own log line "listening on" (with {@code -d -d}) says when it accepts,
 * and socat's exit says when it has written everything; never a sleep.
 */
@Timeout(value = 120, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
class ExternalTcpTest {
    private static final Duration LONG = Duration.ofSeconds(30);
    private static final int FIVE_MIB = 5 << 20;

    private static String socat;

    @BeforeAll
    static void findSocat() {
        socat = onPath("socat");
        assumeTrue(socat != null, "socat not installed: apt-get install socat");
    }

    private static String onPath(String program) {
        String path = System.getenv("PATH");
        if (path == null) return null;
        for (String dir : path.split(File.pathSeparator)) {
            if (dir.isEmpty()) continue;
            Path p = Path.of(dir, program);
            if (Files.isRegularFile(p) && Files.isExecutable(p)) return p.toString();
        }
        return null;
    }

    private static int freePort() throws IOException {
        try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            s.setReuseAddress(true);
            return s.getLocalPort();
        }
    }

    private static byte[] seeded(long seed, int size) {
        byte[] data = new byte[size];
        new Random(seed).nextBytes(data);
        return data;
    }

    /** A socat process, its stderr log collected line by line. */
    private static final class Socat implements AutoCloseable {
        final Process process;
        final BlockingQueue<String> log = new LinkedBlockingQueue<>();
        final StringBuilder all = new StringBuilder();

        Socat(String... addresses) {
            List<String> cmd = new ArrayList<>();
            cmd.add(socat);
            cmd.add("-d");
            cmd.add("-d");
            cmd.addAll(Arrays.asList(addresses));
            try {
                process = new ProcessBuilder(cmd).redirectOutput(ProcessBuilder.Redirect.DISCARD).start();
            } catch (IOException e) {
                throw new UncheckedIOException("cannot start " + cmd, e);
            }
            Thread pump = new Thread(() -> {
                try (BufferedReader r = new BufferedReader(new InputStreamReader(process.getErrorStream(), StandardCharsets.UTF_8))) {
                    String l;
                    while ((l = r.readLine()) != null) {
                        synchronized (all) {
                            all.append(l).append('\n');
                        }
                        log.add(l);
                    }
                } catch (IOException ignored) {
                    // socat ended
                }
            }, "socat-stderr");
            pump.setDaemon(true);
            pump.start();
        }

        /** Waits for socat's "listening on" log line. */
        void awaitListening() throws InterruptedException {
            long deadline = System.nanoTime() + LONG.toNanos();
            while (true) {
                String l = log.poll(Math.max(1, deadline - System.nanoTime()), TimeUnit.NANOSECONDS);
                if (l == null) fail("socat did not start listening within " + LONG + "; alive=" + process.isAlive() + ", log:\n" + log());
                if (l.contains("listening on")) return;
            }
        }

        int awaitExit() throws InterruptedException {
            assertTrue(process.waitFor(LONG.toSeconds(), TimeUnit.SECONDS), "socat did not exit; log:\n" + log());
            return process.exitValue();
        }

        String log() {
            synchronized (all) {
                return all.toString();
            }
        }

        @Override
        public void close() throws InterruptedException {
            process.destroyForcibly();
            process.waitFor(10, TimeUnit.SECONDS);
        }
    }

    /**
     * Reads from {@code c} until the peer's clean end ({@link ConnectionClosedException}); fails if more
     * than {@code max} bytes come or the stream stalls. Returns exactly what arrived.
     */
    private static byte[] receiveUntilClosed(Connection c, int max) {
        byte[] got = new byte[max];
        int n = 0;
        while (true) {
            Buffer b;
            try {
                b = c.receive(LONG);
            } catch (ConnectionClosedException end) {
                return java.util.Arrays.copyOf(got, n);
            }
            assertNotNull(b, "stalled after " + n + " of " + max + " bytes");
            assertTrue(n + b.length() <= max, "more bytes than were sent: " + (n + b.length()));
            b.get(0, got, n, b.length());
            n += b.length();
            b.release();
        }
    }

    /** Reads from {@code c} until {@code expected} bytes arrived (concatenating whatever chunks come). */
    private static byte[] receiveBytes(Connection c, int expected) {
        byte[] got = new byte[expected];
        int n = 0;
        while (n < expected) {
            Buffer b = c.receive(LONG);
            assertNotNull(b, "only " + n + " of " + expected + " bytes arrived");
            int len = b.length();
            assertTrue(n + len <= expected, "more bytes arrived than the peer wrote: " + (n + len) + " > " + expected);
            b.get(0, got, n, len);
            n += len;
            b.release();
        }
        return got;
    }

    @Test
    void bytesSentToAnEchoServerComeBackIdentical() throws Exception {
        int port = freePort();
        byte[] data = seeded(5, FIVE_MIB);
        try (Socat echo = new Socat("TCP-LISTEN:" + port + ",reuseaddr,bind=127.0.0.1", "EXEC:cat")) {
            echo.awaitListening();
            try (Connection c = Fable.connect("tcp://127.0.0.1:" + port, ConnectOptions.trusted())) {
                assertEquals("tcp-raw", c.transport());
                FutureTask<Void> tx = new FutureTask<>(() -> {
                    c.send(data);
                    return null;
                });
                Thread t = new Thread(tx, "raw-send");
                t.setDaemon(true);
                t.start();
                byte[] got = receiveBytes(c, data.length);
                tx.get(LONG.toSeconds(), TimeUnit.SECONDS);
                assertArrayEquals(data, got, "the echo of 5 MiB");
                assertEquals(data.length, c.bytesSent(), "bytes sent");
                assertEquals(data.length, c.bytesReceived(), "bytes received");
                assertNull(c.poll(), "nothing beyond the echo");
                assertEquals(ConnectionState.OPEN, c.state());
            }
        }
    }

    @Test
    void bytesSentToAPlainServerAreExactlyTheBytesOnTheSocket(@TempDir Path dir) throws Exception {
        int port = freePort();
        Path file = dir.resolve("received.bin");
        byte[] data = seeded(7, FIVE_MIB);
        try (Socat sink = new Socat("-u", "TCP-LISTEN:" + port + ",reuseaddr,bind=127.0.0.1", "OPEN:" + file + ",creat,trunc")) {
            sink.awaitListening();
            try (Connection c = Fable.connect("tcp://127.0.0.1:" + port, ConnectOptions.trusted())) {
                assertEquals("tcp-raw", c.transport());
                c.send(Arrays.copyOfRange(data, 0, 1));            // a 1-byte write, then the rest in pieces
                c.send(data, 1, 99_999);
                c.send(data, 100_000, data.length - 100_000);
                assertEquals(data.length, c.bytesSent());
            }
            // close() flushed and shut the socket: socat sees EOF, writes out the file and exits
            assertEquals(0, sink.awaitExit(), "socat failed; log:\n" + sink.log());
        }
        byte[] written = Files.readAllBytes(file);
        assertEquals(data.length, written.length, "bytes on the socket (no framing, nothing lost)");
        assertArrayEquals(data, written, "the bytes on the socket are exactly the bytes sent");
    }

    @Test
    void plainServerThatClosesIsPeerClosedAfterAllItsDataArrived(@TempDir Path dir) throws Exception {
        int port = freePort();
        Path file = dir.resolve("to-send.bin");
        byte[] data = seeded(11, 3 << 20);
        Files.write(file, data);
        try (Socat source = new Socat("-u", "OPEN:" + file, "TCP-LISTEN:" + port + ",reuseaddr,bind=127.0.0.1")) {
            source.awaitListening();
            try (Connection c = Fable.connect("tcp://127.0.0.1:" + port, ConnectOptions.trusted())) {
                assertEquals("tcp-raw", c.transport());
                // socat writes the whole file and closes; Fable reads until the end of the stream
                assertArrayEquals(data, receiveUntilClosed(c, data.length), "every byte written before the close arrived before the end");
                assertEquals(ConnectionState.PEER_CLOSED, c.state());
                assertInstanceOf(ConnectionClosedException.class, c.failure());
                assertEquals(data.length, c.bytesReceived());
                assertNull(c.poll());
                assertThrows(ConnectionClosedException.class, () -> c.receive(LONG), "receive after the end");
                assertThrows(ConnectionClosedException.class, () -> c.receiveMessage(LONG), "receiveMessage after the end");
            }
            assertEquals(0, source.awaitExit(), "socat failed; log:\n" + source.log());
        }
    }

    @Test
    void receiveMessageReturnsTheNextAvailableChunk(@TempDir Path dir) throws Exception {
        int port = freePort();
        Path file = dir.resolve("small.bin");
        byte[] data = seeded(13, 1000);
        Files.write(file, data);
        try (Socat source = new Socat("-u", "OPEN:" + file, "TCP-LISTEN:" + port + ",reuseaddr,bind=127.0.0.1")) {
            source.awaitListening();
            try (Connection c = Fable.connect("tcp://127.0.0.1:" + port, ConnectOptions.trusted())) {
                byte[] got = new byte[data.length];
                int n = 0;
                while (n < data.length) {
                    byte[] chunk = c.receiveMessage(LONG);
                    assertNotNull(chunk, "stalled after " + n + " bytes");
                    assertTrue(chunk.length > 0, "an empty chunk");
                    assertTrue(n + chunk.length <= data.length, "more bytes than written");
                    System.arraycopy(chunk, 0, got, n, chunk.length);
                    n += chunk.length;
                }
                assertArrayEquals(data, got);
                assertThrows(ConnectionClosedException.class, () -> c.receiveMessage(LONG), "the peer closed after 1000 bytes");
                assertEquals(ConnectionState.PEER_CLOSED, c.state());
            }
        }
    }

    // ---- Fable listens, socat connects ----

    @Test
    void plainClientWritesAFileIntoAFableListener(@TempDir Path dir) throws Exception {
        Path file = dir.resolve("upload.bin");
        byte[] data = seeded(17, 3 << 20);
        Files.write(file, data);
        try (ExternalListener l = Fable.listenExternal("tcp://127.0.0.1:0", ConnectOptions.trusted());
             Socat client = new Socat("-u", "OPEN:" + file, "TCP:127.0.0.1:" + l.port())) {
            try (Connection c = l.accept(LONG)) {
                assertNotNull(c, "socat did not connect; log:\n" + client.log());
                assertEquals("tcp-raw", c.transport());
                assertArrayEquals(data, receiveUntilClosed(c, data.length), "every byte the client wrote before closing arrived");
                assertEquals(ConnectionState.PEER_CLOSED, c.state());
                assertEquals(data.length, c.bytesReceived());
            }
            assertEquals(0, client.awaitExit(), "socat failed; log:\n" + client.log());
        }
    }

    @Test
    void fableListenerEchoedByAPlainClient() throws Exception {
        byte[] data = seeded(19, FIVE_MIB);
        try (ExternalListener l = Fable.listenExternal("tcp://127.0.0.1:0", ConnectOptions.trusted());
             Socat echo = new Socat("TCP:127.0.0.1:" + l.port(), "EXEC:cat")) {
            try (Connection c = l.accept(LONG)) {
                assertNotNull(c, "socat did not connect; log:\n" + echo.log());
                assertEquals("tcp-raw", c.transport());
                FutureTask<Void> tx = new FutureTask<>(() -> {
                    c.send(data);
                    return null;
                });
                Thread t = new Thread(tx, "raw-send");
                t.setDaemon(true);
                t.start();
                byte[] got = receiveBytes(c, data.length);
                tx.get(LONG.toSeconds(), TimeUnit.SECONDS);
                assertArrayEquals(data, got, "the echo of 5 MiB");
                assertEquals(data.length, c.bytesSent());
                assertEquals(data.length, c.bytesReceived());
            }
            // our close is cat's end of input: socat ends
            assertEquals(0, echo.awaitExit(), "socat failed; log:\n" + echo.log());
        }
    }
}
