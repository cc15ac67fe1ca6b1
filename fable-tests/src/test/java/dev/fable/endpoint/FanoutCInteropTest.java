package dev.fable.endpoint;

import dev.fable.Buffer;
import dev.fable.ConnectOptions;
import dev.fable.Fable;
import dev.fable.Publisher;
import dev.fable.Subscriber;
import dev.fable.naming.NamingConfig;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static dev.fable.testing.Names.unique;
import static org.junit.jupiter.api.Assertions.*;

/**
 * Interop: a subscriber written in C from docs/shm-transport.md alone ("Joining as a subscriber from another
 * language"), {@code src/test/c/fable_subscriber.c}, compiled here with {@code cc}, joins a publisher in this
 * JVM and checks every message: its order, length and every byte. Skipped where there is no C compiler.
 *
 * <p>Message {@code seq} is {@link #length} bytes: half of them 8 … 512 B, half 513 … {@link #SLOT_SIZE} B; the
 * first 8 bytes are {@code seq} little-endian, byte {@code i ≥ 8} is {@code (seq + i) & 0xFF}. The C program
 * computes the same.
 *
 * <p>Drops: the publisher's read quota is its whole pool ({@code readQuota(SLOTS)}) and the log holds 16 times
 * more 16-byte records than there are slots, so this subscriber's queue can never be full: the pool runs dry
 * first (the publisher then spins on {@link Publisher#claim(int)} until the subscriber's READ frees slots). So
 * no message may be dropped, and the test asserts 0 (the C program still counts DROPPED records and checks
 * that the sequence numbers jump by their count).
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
class FanoutCInteropTest {
    static final int MESSAGES = Integer.getInteger("fable.cinterop.messages", 1_000_000);
    static final int SLOT_SIZE = 2048;
    static final int SLOTS = 256;
    static final int LOG_BYTES = 64 * 1024;
    static final Duration LIMIT = Duration.ofSeconds(30);
    static final Path SOURCE = Path.of("src/test/c/fable_subscriber.c");   // the tests run in fable-tests/

    /** pattern[j] = j & 0xFF: bytes 8.. of message seq are pattern[(seq + 8) & 0xFF ..]. */
    private static final byte[] PATTERN = new byte[256 + SLOT_SIZE];

    static {
        for (int j = 0; j < PATTERN.length; j++) PATTERN[j] = (byte) j;
    }

    private static Path subscriber;   // null: no compiler

    /** Compiles the C subscriber once ({@code -std=c11 -O2 -Wall -Werror}), if there is a compiler. */
    @BeforeAll
    static void compile(@TempDir Path dir) throws Exception {
        Path cc = compiler();
        if (cc == null) return;
        assertTrue(Files.isRegularFile(SOURCE), SOURCE.toAbsolutePath() + " is missing");
        subscriber = dir.resolve("fable_subscriber");
        Process p = new ProcessBuilder(cc.toString(), "-std=c11", "-O2", "-Wall", "-Werror", "-o", subscriber.toString(),
                SOURCE.toAbsolutePath().toString()).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(p.waitFor(60, TimeUnit.SECONDS), "cc did not finish within 60 s");
        assertEquals(0, p.exitValue(), cc + " failed on " + SOURCE + ":\n" + out);
    }

    /** Skips each test, with the reason, where there is no C compiler (a class-level skip would not show it). */
    @BeforeEach
    void needsACompiler() {
        Assumptions.assumeTrue(subscriber != null, "no C compiler (cc, gcc or clang) on the PATH: the C interop test needs one");
    }

    private static Path compiler() {
        String path = System.getenv("PATH");
        if (path == null) return null;
        for (String name : List.of("cc", "gcc", "clang")) {
            for (String d : path.split(java.io.File.pathSeparator)) {
                if (d.isEmpty()) continue;
                Path c = Path.of(d, name);
                if (Files.isExecutable(c) && !Files.isDirectory(c)) return c;
            }
        }
        return null;
    }

    /** The length of message {@code seq}: the C program's {@code msg_length}. */
    static int length(long seq) {
        long h = (seq * 0x9E3779B97F4A7C15L) >>> 40;
        if ((h & 1) == 0) return 8 + (int) ((h >>> 1) % (512 - 7));
        return 513 + (int) ((h >>> 1) % (SLOT_SIZE - 512));
    }

    /** The C subscriber, its output (stdout and stderr) gathered by a thread. */
    private record CProcess(Process process, List<String> lines, Thread reader) {
        static CProcess start(String name, long messages) throws IOException {
            ProcessBuilder pb = new ProcessBuilder(subscriber.toString(), NamingConfig.runtimeDir().toString(), name,
                    Long.toString(messages), Integer.toString(SLOT_SIZE), "60").redirectErrorStream(true);
            Process p = pb.start();
            List<String> lines = Collections.synchronizedList(new ArrayList<>());
            Thread t = Thread.ofPlatform().daemon().name("c-subscriber-output").start(() -> {
                try (BufferedReader r = new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8))) {
                    for (String l; (l = r.readLine()) != null; ) lines.add(l);
                } catch (IOException e) {
                    lines.add("(output: " + e + ")");
                }
            });
            return new CProcess(p, lines, t);
        }

        String output() {
            synchronized (lines) {
                return String.join("\n", lines);
            }
        }

        /** For a failure message: whether it still runs (or its exit code), and its output so far (all of it once it exited). */
        String describe() {
            if (!process.isAlive()) {
                try {
                    reader.join(2_000);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
                return "the C subscriber exited with " + process.exitValue() + ":\n" + output();
            }
            return "the C subscriber still runs; its output so far:\n" + output();
        }

        /** Waits for the exit and the end of its output; returns the exit code. */
        int await(Duration limit) throws InterruptedException {
            if (!process.waitFor(limit.toMillis(), TimeUnit.MILLISECONDS)) {
                process.destroyForcibly();
                fail("the C subscriber did not exit within " + limit + ":\n" + output());
            }
            reader.join(limit.toMillis());
            return process.exitValue();
        }

        void kill() {
            process.destroyForcibly();
        }
    }

    /** Claims, fills and publishes message {@code seq}; {@code wrong} >= 0 flips that byte. Spins while the pool is dry. */
    private static void publish(Publisher pub, long seq, int wrong, CProcess c) {
        int n = length(seq);
        Buffer b = pub.claim(n);
        if (b == null) {
            long deadline = System.nanoTime() + LIMIT.toNanos();
            for (int spins = 1; (b = pub.claim(n)) == null; spins++) {
                if ((spins & 1023) == 0) {
                    if (!c.process().isAlive()) fail("waiting for a slot for message " + seq + ": " + c.describe());
                    if (System.nanoTime() - deadline > 0) fail("no fan-out slot came free within " + LIMIT + " at message " + seq + "; " + c.describe());
                }
                if ((spins & 63) == 0) Thread.yield();   // two cores: the C subscriber may need this one
                else Thread.onSpinWait();
            }
        }
        assertEquals(n, b.length());
        b.putLong(0, seq);
        b.put(8, PATTERN, (int) ((seq + 8) & 0xFF), n - 8);
        if (wrong >= 0) b.putByte(wrong, (byte) (b.getByte(wrong) ^ 0x01));
        if (pub.publish(b) != 1) fail("message " + seq + " was not queued for the subscriber (dropped, or it left); " + c.describe());
    }

    private static Publisher publisher(String name) {
        return Fable.register(name).publish(ConnectOptions.trusted().slotSize(SLOT_SIZE).slotCount(SLOTS).readQuota(SLOTS).logBytes(LOG_BYTES));
    }

    private static final Pattern OK = Pattern.compile("^OK (\\d+) (\\d+) (\\d+) .*$", Pattern.MULTILINE);

    @Test
    void aCSubscriberReceivesAMillionCheckedMessages() throws Exception {
        String name = unique("cfan");
        try (Publisher pub = publisher(name)) {
            CProcess c = CProcess.start(name, MESSAGES);
            try {
                assertTrue(pub.awaitSubscribers(1, LIMIT), "the C subscriber did not join within " + LIMIT + "; " + c.describe());
                Subscriber sub = pub.subscribers().get(0);
                assertEquals("shm", sub.transport());
                long bytes = 0;
                long start = System.nanoTime();
                for (long seq = 0; seq < MESSAGES; seq++) {
                    publish(pub, seq, -1, c);
                    bytes += length(seq);
                }
                int exit = c.await(LIMIT);
                long millis = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start);
                String out = c.output();
                assertEquals(0, exit, "the C subscriber failed:\n" + out);
                Matcher m = OK.matcher(out);
                assertTrue(m.find(), "no OK line from the C subscriber:\n" + out);
                assertEquals(MESSAGES, Long.parseLong(m.group(1)), "messages received:\n" + out);
                assertEquals(bytes, Long.parseLong(m.group(2)), "payload bytes received:\n" + out);
                assertEquals(0, Long.parseLong(m.group(3)), "drops told:\n" + out);
                assertEquals(MESSAGES, sub.delivered());
                assertEquals(0, sub.dropped());
                assertEquals(0, pub.dropped());

                // every slot comes back: the subscriber's last READ passed every record, and it has left
                LocalPublisher lp = (LocalPublisher) pub;
                List<Buffer> all = new ArrayList<>();
                for (int i = 0; i < SLOTS; i++) {
                    Buffer b = pub.claim(64, LIMIT);
                    assertNotNull(b, "slot " + i + " of " + SLOTS + " is still held (" + lp.slotsHeld() + " held)");
                    all.add(b);
                }
                assertNull(pub.claim(64), "more slots than the pool has");
                assertEquals(SLOTS, lp.slotsHeld());
                for (Buffer b : all) assertEquals(0, pub.publish(b, (s, msg) -> false));
                assertEquals(0, lp.slotsHeld(), "every slot is free again");
                System.out.printf("C subscriber: %,d messages (%,d B) checked in %d ms; %s%n", MESSAGES, bytes, millis,
                        out.lines().filter(l -> l.startsWith("OK ")).findFirst().orElse(""));
            } finally {
                c.kill();
            }
        }
    }

    /** The check can fail: one wrong byte in one message makes the C subscriber name it and exit 1. */
    @Test
    void theCSubscriberNamesAWrongByte() throws Exception {
        String name = unique("cfanbad");
        long bad = 12_345;
        try (Publisher pub = publisher(name)) {
            CProcess c = CProcess.start(name, 20_000);
            try {
                assertTrue(pub.awaitSubscribers(1, LIMIT), "the C subscriber did not join within " + LIMIT + "; " + c.describe());
                int wrong = length(bad) - 1;   // the last byte
                for (long seq = 0; seq <= bad; seq++) publish(pub, seq, seq == bad ? wrong : -1, c);
                int exit = c.await(LIMIT);
                String out = c.output();
                assertEquals(1, exit, "the C subscriber should have failed:\n" + out);
                assertTrue(out.contains("FAIL message " + bad + " ") && out.contains("byte " + wrong + " is "),
                        "the C subscriber should name message " + bad + ", byte " + wrong + ":\n" + out);
            } finally {
                c.kill();
            }
        }
    }
}
