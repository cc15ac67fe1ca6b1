package dev.fable.cli;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;

import static dev.fable.cli.SendRecvTest.exit;
import static dev.fable.cli.SendRecvTest.fable;
import static org.junit.jupiter.api.Assertions.*;

/** {@code fable publish NAME < in} and {@code fable subscribe NAME > out} as real processes: one producer, many consumers. */
class PublishSubscribeTest {
    @TempDir
    Path dir;

    /** Starts {@code fable publish} with stdin from {@code in} (null: a pipe) and waits, by its stderr, until it publishes. */
    private Process startPublisher(Path in, Path err, String... args) throws IOException {
        List<String> a = new ArrayList<>(List.of("publish"));
        a.addAll(List.of(args));
        ProcessBuilder pb = fable(a.toArray(String[]::new)).redirectError(err.toFile()).redirectOutput(ProcessBuilder.Redirect.DISCARD);
        if (in != null) pb.redirectInput(in.toFile());
        Process p = pb.start();
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        while (!Files.readString(err).contains("publishing as")) {
            assertTrue(p.isAlive(), "publish died: " + Files.readString(err));
            assertTrue(System.nanoTime() < deadline, "publish did not start");
            Thread.onSpinWait();
        }
        return p;
    }

    private Process subscriber(String name, int i) throws IOException {
        return fable("subscribe", name).redirectOutput(dir.resolve("out" + i).toFile()).redirectError(dir.resolve("serr" + i).toFile()).start();
    }

    private String err(String file) throws IOException {
        return Files.readString(dir.resolve(file));
    }

    @Test
    void everySubscriberPrintsExactlyWhatWasPublished() throws Exception {
        StringBuilder text = new StringBuilder("first\n\n\tindented ünïcode ✓\r\n");
        for (int i = 0; i < 5_000; i++) text.append("line ").append(i).append(' ').append("x".repeat(i % 300)).append('\n');
        text.append("a last line without a newline");
        Path in = dir.resolve("in");
        Files.writeString(in, text, StandardCharsets.UTF_8);
        String name = SendRecvTest.name();
        Process pub = startPublisher(in, dir.resolve("perr"), name, "--wait-subscribers", "2");
        Process s0 = subscriber(name, 0);
        Process s1 = subscriber(name, 1);
        assertEquals(0, exit(pub), err("perr"));
        assertEquals(0, exit(s0), err("serr0"));
        assertEquals(0, exit(s1), err("serr1"));
        assertEquals(-1, Files.mismatch(in, dir.resolve("out0")), "subscriber 0's output differs from the input");
        assertEquals(-1, Files.mismatch(in, dir.resolve("out1")), "subscriber 1's output differs from the input");
        assertTrue(err("perr").contains("published 5004 line(s)"), err("perr"));
        assertFalse(err("perr").contains("dropped"), "nothing is dropped by default: " + err("perr"));
        assertTrue(err("serr0").contains("received 5004 message(s)"), err("serr0"));
    }

    @Test
    void roundRobinSplitsTheLinesDisjointlyAndKeyKeepsAKeyTogether() throws Exception {
        int n = 2_000;
        StringBuilder text = new StringBuilder();
        for (int i = 0; i < n; i++) text.append("k").append(i % 7).append('\t').append(i).append('\n');
        Path in = dir.resolve("in");
        Files.writeString(in, text);
        List<String> all = Files.readAllLines(in);
        for (String mode : new String[] {"round-robin", "key"}) {
            String name = SendRecvTest.name();
            Process pub = startPublisher(in, dir.resolve("perr"), name, "--to", mode, "--wait-subscribers", "2");
            Process s0 = subscriber(name, 0);
            Process s1 = subscriber(name, 1);
            assertEquals(0, exit(pub), err("perr"));
            assertEquals(0, exit(s0), err("serr0"));
            assertEquals(0, exit(s1), err("serr1"));
            List<String> a = Files.readAllLines(dir.resolve("out0"));
            List<String> b = Files.readAllLines(dir.resolve("out1"));
            Set<String> both = new HashSet<>(a);
            both.retainAll(b);
            assertTrue(both.isEmpty(), mode + ": " + both.size() + " line(s) reached both subscribers, e.g. " + both.stream().limit(3).toList());
            assertEquals(n, a.size() + b.size(), mode + ": every line reached one subscriber");
            assertTrue(new HashSet<>(all).equals(union(a, b)), mode + ": the union is not the input");
            assertTrue(a.equals(all.stream().filter(new HashSet<>(a)::contains).toList()), mode + ": subscriber 0 got its lines out of order");
            assertTrue(b.equals(all.stream().filter(new HashSet<>(b)::contains).toList()), mode + ": subscriber 1 got its lines out of order");
            if (mode.equals("round-robin")) {
                assertEquals(n / 2, a.size(), "round-robin alternates between the two subscribers");
            } else {
                Set<String> keysA = keys(a);
                Set<String> keysB = keys(b);
                keysA.retainAll(keysB);
                assertEquals(Set.of(), keysA, "keys whose lines went to both subscribers");
                assertFalse(a.isEmpty() || b.isEmpty(), "the 7 keys are spread over both subscribers: " + keys(a) + " " + keys(b));
            }
        }
    }

    /**
     * A subscriber that stops reading (its stdout pipe full) holds the publisher back: nothing is lost. With
     * {@code --max-held 2} it loses lines instead, and both ends say so: the publisher at exit, the subscriber when told
     * (before the next line that reaches it).
     */
    @Test
    void aStalledSubscriberHoldsThePublisherBackUnlessMaxHeldLetsItLoseLines() throws Exception {
        String line = "s".repeat(999) + "\n";
        for (boolean lossy : new boolean[] {false, true}) {
            String name = SendRecvTest.name();
            List<String> args = new ArrayList<>(List.of(name, "--slots", "8", "--wait-subscribers", "1"));
            if (lossy) args.addAll(List.of("--max-held", "2"));
            Process pub = startPublisher(null, dir.resolve("perr"), args.toArray(String[]::new));
            Process sub = fable("subscribe", name).redirectError(dir.resolve("serr").toFile()).start();   // stdout: a pipe nobody reads yet
            java.util.concurrent.CountDownLatch reading = new java.util.concurrent.CountDownLatch(1);
            java.util.concurrent.CompletableFuture<byte[]> out = java.util.concurrent.CompletableFuture.supplyAsync(() -> {
                try {
                    Thread.sleep(1_000);   // the subscriber fills its pipe and stops reading
                    reading.countDown();
                    return sub.getInputStream().readAllBytes();
                } catch (IOException | InterruptedException e) {
                    throw new RuntimeException(e);
                }
            });
            StringBuilder sent = new StringBuilder();
            try (OutputStream stdin = pub.getOutputStream()) {
                for (int i = 0; i < 1_000; i++) {   // 1 MB: blocks while the publisher waits for the stalled subscriber
                    stdin.write(line.getBytes(StandardCharsets.US_ASCII));
                    sent.append(line);
                }
                stdin.flush();
                assertTrue(reading.await(30, TimeUnit.SECONDS));
                Thread.sleep(500);   // it caught up: a line now reaches it (and tells it the drops before it)
                stdin.write("last\n".getBytes(StandardCharsets.US_ASCII));
                sent.append("last\n");
            }
            assertEquals(0, exit(pub), err("perr"));
            assertEquals(0, exit(sub), err("serr"));
            String got = new String(out.get(60, TimeUnit.SECONDS), StandardCharsets.US_ASCII);
            if (!lossy) {
                assertTrue(sent.toString().equals(got), "a stalled subscriber lost lines: " + got.length() + " of " + sent.length()
                        + " bytes; " + err("perr") + err("serr"));
                assertFalse(err("perr").contains("dropped") || err("serr").contains("dropped"), err("perr") + err("serr"));
            } else {
                assertTrue(got.length() < sent.length() && got.endsWith("last\n"), "with --max-held 2 the stalled subscriber loses lines: "
                        + got.length() + " of " + sent.length() + " bytes");
                long dropped = (sent.length() - got.length()) / line.length();
                assertTrue(err("perr").contains("fable publish: " + dropped + " line(s) dropped for subscribers whose queue was full"), err("perr"));
                assertTrue(err("serr").contains("fable subscribe: the publisher dropped ") && err("serr").contains("in all)")
                        && err("serr").contains("; the publisher dropped " + dropped + " for this subscriber"), "told before the last line: "
                        + err("serr"));
            }
        }
    }

    private static Set<String> union(List<String> a, List<String> b) {
        Set<String> s = new HashSet<>(a);
        s.addAll(b);
        return s;
    }

    private static Set<String> keys(List<String> lines) {
        Set<String> s = new HashSet<>();
        for (String l : lines) s.add(l.substring(0, l.indexOf('\t')));
        return s;
    }

    @Test
    void subscribingToANameThatDoesNotPublishFails() throws Exception {
        String name = SendRecvTest.name();
        Process recv = fable("recv", name).redirectOutput(ProcessBuilder.Redirect.DISCARD).redirectError(dir.resolve("rerr").toFile()).start();
        try {
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
            while (!err("rerr").contains("listening")) {
                assertTrue(recv.isAlive() && System.nanoTime() < deadline, "recv did not start listening: " + err("rerr"));
                Thread.onSpinWait();
            }
            Process sub = fable("subscribe", name).redirectErrorStream(true).redirectOutput(dir.resolve("sub").toFile()).start();
            assertEquals(FableCli.SETUP, exit(sub), err("sub"));
            assertTrue(err("sub").startsWith("fable subscribe: ") && err("sub").contains("does not publish"), err("sub"));
            assertEquals(1, err("sub").lines().count(), "one line, no stack trace: " + err("sub"));
        } finally {
            recv.destroy();
            recv.waitFor(30, TimeUnit.SECONDS);
        }
        Process missing = fable("subscribe", SendRecvTest.name(), "--wait", "0s").redirectErrorStream(true)
                .redirectOutput(dir.resolve("missing").toFile()).start();
        assertEquals(FableCli.SETUP, exit(missing), err("missing"));
        assertTrue(err("missing").contains("no endpoint is registered as"), err("missing"));
        Process bad = fable("publish", "x", "--to", "everyone").redirectErrorStream(true).redirectOutput(dir.resolve("bad").toFile()).start();
        assertEquals(FableCli.USAGE, exit(bad), err("bad"));
        assertTrue(err("bad").contains("--to takes all, round-robin or key"), err("bad"));
    }

    @Test
    void aLineLongerThanASlotIsBadInputAfterTheLinesBeforeIt() throws Exception {
        Path in = dir.resolve("in");
        Files.writeString(in, "short\n" + "y".repeat(4095) + "\n" + "z".repeat(4096) + "\nnever\n");   // the second fits exactly
        String name = SendRecvTest.name();
        Process pub = startPublisher(in, dir.resolve("perr"), name, "--slot-size", "4096", "--wait-subscribers", "1");
        Process s0 = subscriber(name, 0);
        assertEquals(FableCli.USAGE, exit(pub), err("perr"));
        assertTrue(err("perr").contains("line 3 is longer than a slot (4096 bytes, its newline included): give a larger --slot-size"),
                err("perr"));
        assertEquals(0, exit(s0), err("serr0"));
        assertEquals("short\n" + "y".repeat(4095) + "\n", Files.readString(dir.resolve("out0")));
    }

    /**
     * While a publisher runs, {@code fable flows} lists both ends of each subscription as one: the publisher's end with
     * its subscriber, drops and the pool's slots held, the subscriber's with the drops it was told. Then the publisher
     * dies: its subscribers end with the incomplete-transfer code.
     */
    @Test
    void flowsShowTheSubscriptionsAndAPublisherThatDiesLeavesThemIncomplete() throws Exception {
        String name = SendRecvTest.name();
        Process pub = startPublisher(null, dir.resolve("perr"), name, "--wait-subscribers", "2", "--slots", "16");
        Process s0 = subscriber(name, 0);
        Process s1 = subscriber(name, 1);
        try (OutputStream stdin = pub.getOutputStream()) {
            stdin.write("hello\n".getBytes(StandardCharsets.US_ASCII));
            stdin.flush();
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
            while (Files.size(dir.resolve("out0")) < 6 || Files.size(dir.resolve("out1")) < 6) {
                assertTrue(System.nanoTime() < deadline, "the first line did not reach both subscribers: " + err("perr"));
                Thread.sleep(10);
            }
            List<Map<String, Object>> rows = JsonTest.parse(flows("--json"));
            List<Map<String, Object>> publishing = rows.stream().filter(r -> name.equals(r.get("local"))).toList();
            List<Map<String, Object>> subscribing = rows.stream().filter(r -> name.equals(r.get("peer"))).toList();
            assertEquals(2, publishing.size(), "the publisher's end of each subscription: " + rows);
            assertEquals(2, subscribing.size(), "each subscriber's end: " + rows);
            Set<Object> subscribers = new HashSet<>();
            for (Map<String, Object> r : publishing) {
                assertEquals("publisher", r.get("fanout"), r.toString());
                assertEquals("relaxed", r.get("privacy"), "a trusted subscriber reads in place: " + r);
                assertEquals("shm", r.get("transport"), r.toString());
                assertEquals(0L, r.get("dropped"), r.toString());
                assertEquals(16L, r.get("slots"), r.toString());
                assertTrue((Long) r.get("slotsHeld") >= 0 && (Long) r.get("slotsHeld") <= 16, r.toString());
                assertEquals(pub.pid(), r.get("pid"), r.toString());
                assertEquals(false, r.get("connector"), "the publisher accepted the subscription: " + r);
                subscribers.add(r.get("peer"));
            }
            for (Map<String, Object> r : subscribing) {
                assertEquals("subscriber", r.get("fanout"), r.toString());
                assertEquals("relaxed", r.get("privacy"), r.toString());
                assertEquals(0L, r.get("dropped"), r.toString());
                assertNull(r.get("slots"), r.toString());
                assertEquals(true, r.get("connector"), r.toString());
                assertTrue(subscribers.contains(r.get("local")), "a subscriber's end pairs with a publisher's row: " + rows);
                assertTrue(Set.of(s0.pid(), s1.pid()).contains(r.get("pid")), r.toString());
            }
            String table = flows();
            assertTrue(table.contains("FANOUT") && table.contains("publishes (relaxed), 0 dropped,") && table.contains("/16 held")
                    && table.contains("subscribes (relaxed), 0 dropped"), table);
            pub.destroyForcibly().waitFor(30, TimeUnit.SECONDS);
        } catch (IOException pipeClosed) {
            fail("publish ended early: " + err("perr"));
        }
        assertEquals(FableCli.INCOMPLETE, exit(s0), err("serr0"));
        assertEquals(FableCli.INCOMPLETE, exit(s1), err("serr1"));
        assertTrue(err("serr0").contains("went away"), err("serr0"));
        assertEquals("hello\n", Files.readString(dir.resolve("out0")));
    }

    private String flows(String... args) throws Exception {
        List<String> a = new ArrayList<>(List.of("flows"));
        a.addAll(List.of(args));
        Process p = fable(a.toArray(String[]::new)).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertEquals(0, exit(p), out);
        return out;
    }
}
