package dev.fable;

import dev.fable.testing.Await;
import dev.fable.testing.PeerProcess;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.function.Executable;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

import java.nio.ReadOnlyBufferException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.Callable;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.FutureTask;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Supplier;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.*;

/**
 * The channel contract of {@link Connection} and {@link Buffer}, run against every transport: each
 * case forces its transport with the URI scheme {@code xio+<transport>://name}. A transport that does
 * not exist fails its cases (connect throws "unsupported scheme"); nothing is skipped. In surefire's
 * reports the cases are numbered in the order of {@link #TRANSPORTS}: [1] shm, [2] unix, [3] tcp, [4] tls.
 *
 * <p>Synchronisation is by blocking calls with generous limits, {@link Await} on observable state and
 * lines printed by child JVMs; never by sleeping. No assertion depends on how fast anything is.
 */
@Timeout(value = 120, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
class ChannelContractTest {
    /** Every transport the contract must hold for. Keep all four: a missing transport must fail, not skip. */
    static final List<String> TRANSPORTS = List.of("shm", "unix", "tcp", "tls");

    static Stream<String> transports() {
        return TRANSPORTS.stream();
    }

    /** Transports whose connections notice the peer's end without being read (a watcher on the control socket). */
    static Stream<String> asyncEndTransports() {
        return Stream.of("shm");
    }

    /** Limit for one blocking receive or claim that should succeed (generous: the machine may be loaded). */
    private static final Duration WAIT = Duration.ofSeconds(10);
    /** Limit for accepting a connection (a child JVM may take a while to start). */
    private static final Duration LONG = Duration.ofSeconds(30);
    private static final int KIB_64 = 64 * 1024;

    static String uri(String transport, String name) {
        return "xio+" + transport + "://" + name;
    }

    static String unique(String base) {
        return base + "-" + ProcessHandle.current().pid() + "-" + System.nanoTime();
    }

    // ---- plumbing ----

    /** A listening endpoint and both ends of one connection made through it. */
    record Pair(Endpoint ep, Connection server, Connection client) implements AutoCloseable {
        public void close() {
            try {
                client.close();
            } finally {
                try {
                    server.close();
                } finally {
                    ep.close();
                }
            }
        }
    }

    /** Registers a unique name, listens with {@code serverOpts}, connects to it over {@code transport} with {@code clientOpts}. */
    static Pair open(String transport, String tag, ConnectOptions serverOpts, ConnectOptions clientOpts) throws Exception {
        String name = unique(tag + "-" + transport);
        Endpoint ep = Fable.register(name).listen(serverOpts);
        try {
            FutureTask<Connection> accepted = spawn("accept-" + name, () -> ep.accept(LONG));
            Connection client;
            try {
                client = Fable.connect(uri(transport, name), clientOpts.connectTimeout(Duration.ofSeconds(10)));
            } catch (RuntimeException | Error e) {
                accepted.cancel(true);
                throw e;
            }
            Connection server;
            try {
                server = join(accepted);
                assertNotNull(server, "the listener accepted nothing after the client connected over " + transport);
            } catch (Exception | Error e) {
                client.close();
                throw e;
            }
            return new Pair(ep, server, client);
        } catch (Exception | Error e) {
            ep.close();
            throw e;
        }
    }

    static Pair open(String transport, String tag) throws Exception {
        return open(transport, tag, ConnectOptions.trusted(), ConnectOptions.trusted());
    }

    static <T> FutureTask<T> spawn(String name, Callable<T> body) {
        FutureTask<T> task = new FutureTask<>(body);
        Thread t = new Thread(task, name);
        t.setDaemon(true);
        t.start();
        return task;
    }

    /** The task's result; its assertion error or exception is rethrown as is. */
    static <T> T join(FutureTask<T> task) throws Exception {
        try {
            return task.get(90, TimeUnit.SECONDS);
        } catch (ExecutionException e) {
            Throwable c = e.getCause();
            if (c instanceof Error err) throw err;
            if (c instanceof Exception ex) throw ex;
            throw e;
        }
    }

    /** The seeded pattern of message {@code seq}: every byte depends on the message and its position. */
    static byte patternByte(long seq, int i) {
        long x = seq * 0x9E3779B97F4A7C15L + i * 0xBF58476D1CE4E5B9L;
        return (byte) (x ^ (x >>> 29) ^ (x >>> 47));
    }

    static void fill(Buffer b, long seq, int len) {
        for (int i = 0; i < len; i++) b.putByte(i, patternByte(seq, i));
    }

    static void check(Buffer b, long seq, int len, String what) {
        assertEquals(len, b.length(), what + ": length");
        for (int i = 0; i < len; i++) {
            byte got = b.getByte(i);
            if (got != patternByte(seq, i)) {
                fail(what + ": byte " + i + " is " + got + ", expected " + patternByte(seq, i));
            }
        }
    }

    static byte[] seeded(long seed, int size) {
        byte[] data = new byte[size];
        new Random(seed).nextBytes(data);
        return data;
    }

    // ---- ordering ----

    private static final int ORDERED = 100_000;

    private static Void sendSequence(Connection c, int n) {
        for (int i = 0; i < n; i++) {
            Buffer b = c.claim(16, WAIT);
            assertNotNull(b, "claim for message " + i + " timed out");
            b.putLong(0, i);
            b.putLong(8, ~(long) i);
            b.commit();
        }
        return null;
    }

    private static Void receiveSequence(Connection c, int n, String dir) {
        for (int i = 0; i < n; i++) {
            Buffer b = c.receive(WAIT);
            assertNotNull(b, dir + ": message " + i + " of " + n + " never arrived");
            assertEquals(16, b.length(), dir + ": length of message " + i);
            long seq = b.getLong(0);
            if (seq != i) fail(dir + ": message " + i + " arrived as sequence " + seq);
            assertEquals(~(long) i, b.getLong(8), dir + ": second word of message " + i);
            b.release();
        }
        return null;
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("transports")
    void hundredThousandMessagesArriveInOrderOneWay(String transport) throws Exception {
        try (Pair p = open(transport, "order1")) {
            FutureTask<Void> tx = spawn("order-tx", () -> sendSequence(p.client(), ORDERED));
            receiveSequence(p.server(), ORDERED, "client->server");
            join(tx);
            assertNull(p.server().poll(), "nothing beyond the sequence");
            assertEquals(ORDERED, p.client().messagesSent());
            assertEquals(ORDERED, p.server().messagesReceived());
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("transports")
    void hundredThousandMessagesEachWayAtOnceArriveInOrder(String transport) throws Exception {
        try (Pair p = open(transport, "order2")) {
            FutureTask<Void> txC = spawn("order-tx-client", () -> sendSequence(p.client(), ORDERED));
            FutureTask<Void> txS = spawn("order-tx-server", () -> sendSequence(p.server(), ORDERED));
            FutureTask<Void> rxC = spawn("order-rx-client", () -> receiveSequence(p.client(), ORDERED, "server->client"));
            receiveSequence(p.server(), ORDERED, "client->server");
            join(rxC);
            join(txC);
            join(txS);
            assertEquals(ORDERED, p.client().messagesSent());
            assertEquals(ORDERED, p.client().messagesReceived());
            assertEquals(ORDERED, p.server().messagesSent());
            assertEquals(ORDERED, p.server().messagesReceived());
        }
    }

    // ---- message sizes ----

    static final int[] SIZES = {1, 63, KIB_64 - 1, KIB_64, KIB_64 + 1, 1 << 20, 16 << 20};

    @ParameterizedTest(name = "{0}")
    @MethodSource("transports")
    void messagesOfEverySizeArriveWholeAndExactBothWays(String transport) throws Exception {
        try (Pair p = open(transport, "sizes")) {
            FutureTask<Void> up = spawn("sizes-up", () -> {
                for (int size : SIZES) p.client().send(seeded(size, size));
                return null;
            });
            FutureTask<Void> down = spawn("sizes-down", () -> {
                for (int size : SIZES) p.server().send(seeded(~size, size));
                return null;
            });
            FutureTask<Void> rxClient = spawn("sizes-rx-client", () -> {
                for (int size : SIZES) {
                    byte[] got = p.client().receiveMessage(WAIT);
                    assertNotNull(got, "server->client: message of " + size + " B never arrived");
                    assertArrayEquals(seeded(~size, size), got, "server->client: message of " + size + " B");
                }
                return null;
            });
            for (int size : SIZES) {
                byte[] got = p.server().receiveMessage(WAIT);
                assertNotNull(got, "client->server: message of " + size + " B never arrived");
                assertArrayEquals(seeded(size, size), got, "client->server: message of " + size + " B");
            }
            join(rxClient);
            join(up);
            join(down);
            long total = 0;
            for (int size : SIZES) total += size;
            assertEquals(total, p.client().bytesSent());
            assertEquals(total, p.server().bytesReceived());
            assertEquals(total, p.server().bytesSent());
            assertEquals(total, p.client().bytesReceived());
            assertNull(p.server().poll(), "message boundaries: nothing left over");
            assertNull(p.client().poll(), "message boundaries: nothing left over");
        }
    }

    // ---- request / response ----

    /** A negative timeout: wait without limit (only data, the end of the connection or close ends it). */
    private static final Duration FOREVER = Duration.ofSeconds(-1);

    /**
     * {@code receiveMessage} without a time limit, on a helper thread: fails if it has not returned
     * within {@link #WAIT}. (A limited receive could be rescued by its own deadline: a transport that
     * sleeps although a message is complete would then look merely slow.)
     */
    private static byte[] receiveUnlimited(Connection c, Supplier<String> what) throws Exception {
        FutureTask<byte[]> r = spawn("receive-without-limit", () -> c.receiveMessage(FOREVER));
        try {
            return r.get(WAIT.toNanos(), TimeUnit.NANOSECONDS);
        } catch (TimeoutException e) {
            return fail(what.get() + ": receiveMessage(no limit) had not returned " + WAIT + " after the message was sent"
                    + " (the sender made no call since)");
        } catch (ExecutionException e) {
            Throwable t = e.getCause();
            if (t instanceof Error err) throw err;
            throw (Exception) t;
        }
    }

    /**
     * One thread per side, each sending a large message and then only waiting for the answer: the
     * "send, then wait for the reply" pattern. Every byte of each request must leave although the
     * sending thread makes no further call until the reply comes, and the receiver must take it
     * although nothing more arrives. The sizes vary so the tail of a message falls differently
     * against socket buffers and TLS records.
     */
    @ParameterizedTest(name = "{0}")
    @MethodSource("transports")
    void requestThenWaitForReplyNeverStalls(String transport) throws Exception {
        final int rounds = 100;
        AtomicInteger requestsReceived = new AtomicInteger();
        try (Pair p = open(transport, "reqrep")) {
            FutureTask<Void> server = spawn("reqrep-server", () -> {
                for (int r = 0; r < rounds; r++) {
                    byte[] req = p.server().receiveMessage(FOREVER);
                    requestsReceived.incrementAndGet();
                    assertArrayEquals(seeded(r, requestSize(r)), req, "round " + r + ": request");
                    p.server().send(seeded(-r - 1, replySize(r)));
                }
                return null;
            });
            for (int r = 0; r < rounds; r++) {
                final int round = r;
                p.client().send(seeded(r, requestSize(r)));
                byte[] reply = receiveUnlimited(p.client(), () -> {
                    if (server.isDone()) {
                        try {
                            join(server);
                        } catch (Throwable t) {
                            return "round " + round + ": the server failed: " + t;
                        }
                    }
                    return requestsReceived.get() <= round
                            ? "round " + round + ": the request of " + requestSize(round) + " B never arrived whole at the server"
                            : "round " + round + ": the server got the request, but its reply of " + replySize(round) + " B never arrived whole";
                });
                assertArrayEquals(seeded(-r - 1, replySize(r)), reply, "round " + r + ": reply");
            }
            join(server);
        }
    }

    /**
     * The smallest "send, then wait" case, on one thread: each message is sent alone and then
     * received, the sender making no call in between. Sizes up to 64 KiB + 1 fit the default
     * staging, so send never needs the reader.
     */
    @ParameterizedTest(name = "{0}")
    @MethodSource("transports")
    void aMessageSentAloneArrivesWithoutAnotherCall(String transport) throws Exception {
        try (Pair p = open(transport, "alone")) {
            for (int size : new int[] {1, 63, 16 << 10, (16 << 10) + 1, 40_000, KIB_64 - 1, KIB_64, KIB_64 + 1}) {
                p.client().send(seeded(size, size));
                byte[] got = receiveUnlimited(p.server(), () -> "client->server: a message of " + size + " B sent alone");
                assertArrayEquals(seeded(size, size), got, "client->server: " + size + " B");
                p.server().send(seeded(-size, size));
                got = receiveUnlimited(p.client(), () -> "server->client: a message of " + size + " B sent alone");
                assertArrayEquals(seeded(-size, size), got, "server->client: " + size + " B");
            }
        }
    }

    /** 64 KiB … 2 MiB, a different tail every round (where the socket fills up moves). */
    private static int requestSize(int round) {
        return (64 << 10) + (int) ((round * 2_654_435_761L) % (2 << 20));
    }

    private static int replySize(int round) {
        return 1 + (int) ((round * 40_503L) % (256 << 10));
    }

    // ---- back-pressure ----

    /**
     * Bound on the claims a writer makes without the reader polling: 4 GiB of 64 KiB fragments, far
     * beyond any kernel socket buffer plus a sane transport staging area.
     */
    static final int MAX_UNREAD_CLAIMS = 65_536;

    private static final ConnectOptions BACK_PRESSURE_WRITER = ConnectOptions.trusted().slotSize(KIB_64).slotCount(16);

    private static void stamp(Buffer b, long seq, int size) {
        assertEquals(size, b.length(), "a claim starts at min(maxBytes, capacity)");
        b.putLong(0, seq);
        b.putByte(size / 2, patternByte(seq, size / 2));
        b.putLong(size - 8, ~seq);
    }

    private static void checkStamp(Buffer b, long seq, int size, String what) {
        assertEquals(size, b.length(), what + ": length");
        assertEquals(seq, b.getLong(0), what);
        assertEquals(patternByte(seq, size / 2), b.getByte(size / 2), what + ": middle byte");
        assertEquals(~seq, b.getLong(size - 8), what + ": tail");
    }

    /**
     * Claims and commits {@code size}-byte fragments (stamped 0, 1, ...) until a non-blocking claim
     * returns null; returns how many were committed. Fails if that never happens within the bound.
     */
    private static long fillUntilBackPressure(Connection w, int size) {
        for (long committed = 0; committed < MAX_UNREAD_CLAIMS; committed++) {
            Buffer b = w.claim(size);
            if (b == null) return committed;
            stamp(b, committed, size);
            b.commit();
        }
        return fail("claim(n) never returned null after " + MAX_UNREAD_CLAIMS + " unread fragments of " + size + " B");
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("transports")
    void writerThatOutrunsAnIdleReaderGetsNullAndLosesNothing(String transport) throws Exception {
        try (Pair p = open(transport, "backpressure", ConnectOptions.trusted(), BACK_PRESSURE_WRITER)) {
            Connection w = p.client();
            Connection r = p.server();
            int size = Math.min(KIB_64, w.maxFragment());
            assertTrue(size >= 16, "maxFragment " + w.maxFragment());
            Duration timeout = Duration.ofMillis(100);
            long committed = fillUntilBackPressure(w, size);
            // Then the blocking claim must time out too. Socket transports need their kernel buffers
            // full, which can free up a little while in-flight data is acknowledged: in that case
            // commit what the blocking claim gave and go on until it holds.
            while (true) {
                long t0 = System.nanoTime();
                Buffer b = w.claim(size, timeout);
                long waited = System.nanoTime() - t0;
                if (b == null) {
                    assertTrue(waited >= timeout.toNanos() * 9 / 10,
                            "claim(n, " + timeout + ") gave up after " + TimeUnit.NANOSECONDS.toMillis(waited) + " ms");
                    break;
                }
                if (committed >= MAX_UNREAD_CLAIMS) {
                    fail("claim(n, timeout) never returned null after " + committed + " unread fragments of " + size + " B");
                }
                stamp(b, committed++, size);
                b.commit();
            }
            assertEquals(committed, w.messagesSent());

            // The reader drains while the writer goes on with blocking claims: claims succeed again
            // and every fragment arrives once, in order.
            final long total = committed + 200;
            final long firstNew = committed;
            FutureTask<Void> reader = spawn("backpressure-reader", () -> {
                for (long i = 0; i < total; i++) {
                    Buffer b = r.receive(WAIT);
                    assertNotNull(b, "fragment " + i + " of " + total + " was lost (" + firstNew + " committed under back-pressure)");
                    checkStamp(b, i, size, "fragment " + i);
                    b.release();
                }
                return null;
            });
            for (long i = committed; i < total; i++) {
                Buffer b = w.claim(size, WAIT);
                assertNotNull(b, "claim " + i + " while the reader drains");
                stamp(b, i, size);
                b.commit();
            }
            join(reader);
            assertNull(r.poll(), "more fragments arrived than were committed");
            assertEquals(total, w.messagesSent());
            assertEquals(total, r.messagesReceived());
            assertEquals(total * size, w.bytesSent());
            assertEquals(total * size, r.bytesReceived());
        }
    }

    /**
     * A commit sends: once the writer stops calling (here: it ran into back-pressure and does
     * nothing more), everything it committed still reaches the reader. A transport that keeps
     * committed fragments in a staging area until the sending thread's next call deadlocks every
     * "send a request, then wait for the reply" exchange.
     */
    @ParameterizedTest(name = "{0}")
    @MethodSource("transports")
    void everythingCommittedArrivesWithoutFurtherCallsFromTheWriter(String transport) throws Exception {
        try (Pair p = open(transport, "committed", ConnectOptions.trusted(), BACK_PRESSURE_WRITER)) {
            Connection w = p.client();
            Connection r = p.server();
            int size = Math.min(KIB_64, w.maxFragment());
            long committed = fillUntilBackPressure(w, size);
            assertTrue(committed > 0);
            // from here on the writer makes no call at all
            for (long i = 0; i < committed; i++) {
                Buffer b = r.receive(Duration.ofSeconds(10));
                assertNotNull(b, "fragment " + i + " of " + committed + " was committed but never arrived"
                        + " (the writer stopped calling after its last commit)");
                checkStamp(b, i, size, "fragment " + i);
                b.release();
            }
            assertEquals(committed, r.messagesReceived());
        }
    }

    // ---- out-of-order release ----

    @ParameterizedTest(name = "{0}")
    @MethodSource("transports")
    void buffersReleasedInShuffledOrderKeepTheirContents(String transport) throws Exception {
        final int held = 8;
        final int rounds = 500;
        final int len = 200;
        ConnectOptions writerOpts = ConnectOptions.trusted().slotSize(256).slotCount(16);
        try (Pair p = open(transport, "ooo", ConnectOptions.trusted(), writerOpts)) {
            FutureTask<Void> tx = spawn("ooo-tx", () -> {
                for (long seq = 0; seq < (long) held * rounds; seq++) {
                    Buffer b = p.client().claim(len, WAIT);
                    assertNotNull(b, "claim for message " + seq);
                    b.length(len);
                    fill(b, seq, len);
                    b.commit();
                }
                return null;
            });
            Random shuffle = new Random(42);
            long seq = 0;
            for (int round = 0; round < rounds; round++) {
                List<Buffer> bufs = new ArrayList<>();
                Map<Buffer, Long> seqOf = new HashMap<>();
                for (int k = 0; k < held; k++, seq++) {
                    Buffer b = p.server().receive(WAIT);
                    assertNotNull(b, "message " + seq + " never arrived");
                    check(b, seq, len, "message " + seq);
                    bufs.add(b);
                    seqOf.put(b, seq);
                }
                assertEquals(held, seqOf.size(), "round " + round + ": the same buffer object handed out twice while held");
                List<Buffer> order = new ArrayList<>(bufs);
                Collections.shuffle(order, shuffle);
                for (int k = 0; k < held; k++) {
                    order.get(k).release();
                    // the writer keeps writing into freed slots: the ones still held must not change
                    for (int j = k + 1; j < held; j++) {
                        Buffer still = order.get(j);
                        check(still, seqOf.get(still), len, "round " + round + ": held message " + seqOf.get(still)
                                + " after releasing " + (k + 1) + " of " + held + " out of order");
                    }
                }
            }
            join(tx);
            assertEquals((long) held * rounds, p.server().messagesReceived());
        }
    }

    // ---- single-use buffers ----

    private static void assertDead(Buffer b, String what) {
        Map<String, Executable> calls = new java.util.LinkedHashMap<>();
        calls.put("capacity()", b::capacity);
        calls.put("length()", b::length);
        calls.put("length(int)", () -> b.length(1));
        calls.put("more()", b::more);
        calls.put("segment()", b::segment);
        calls.put("getByte", () -> b.getByte(0));
        calls.put("getLong", () -> b.getLong(0));
        calls.put("putByte", () -> b.putByte(0, (byte) 1));
        calls.put("putLong", () -> b.putLong(0, 1));
        calls.put("put", () -> b.put(0, new byte[4], 0, 4));
        calls.put("get", () -> b.get(0, new byte[4], 0, 4));
        calls.put("commit()", b::commit);
        calls.put("commitFragment()", b::commitFragment);
        calls.put("release()", b::release);
        for (Map.Entry<String, Executable> e : calls.entrySet()) {
            assertThrows(IllegalStateException.class, e.getValue(), what + ": " + e.getKey() + " on a dead buffer");
        }
    }

    /** A write-side call on a read buffer: refused as a read-only buffer or as the wrong state, either is fine. */
    private static void assertRefused(Executable call, String what) {
        RuntimeException e = assertThrows(RuntimeException.class, call, what);
        if (!(e instanceof ReadOnlyBufferException) && !(e instanceof IllegalStateException)) {
            fail(what + " threw " + e + ", expected ReadOnlyBufferException or IllegalStateException");
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("transports")
    void buffersAreSingleUse(String transport) throws Exception {
        try (Pair p = open(transport, "single")) {
            Connection c = p.client();
            Connection s = p.server();

            Buffer w = c.claim(64, WAIT);
            assertNotNull(w);
            assertFalse(w.isReadOnly());
            assertSame(c, w.connection());
            assertThrows(IllegalStateException.class, w::release, "release() of a write buffer");
            w.length(16);
            w.putLong(0, 7);
            w.putLong(8, 8);
            w.commit();
            assertDead(w, "committed write buffer");

            Buffer f = c.claim(64, WAIT);
            assertNotNull(f);
            f.length(8);
            f.putLong(0, 9);
            f.commitFragment();
            assertDead(f, "write buffer after commitFragment");
            Buffer last = c.claim(64, WAIT);
            last.length(8);
            last.putLong(0, 10);
            last.commit();

            Buffer r = s.receive(WAIT);
            assertNotNull(r);
            assertTrue(r.isReadOnly());
            assertSame(s, r.connection());
            assertEquals(16, r.length());
            assertEquals(7, r.getLong(0));
            assertFalse(r.more());
            assertThrows(ReadOnlyBufferException.class, () -> r.putByte(0, (byte) 1), "putByte on a read buffer");
            assertThrows(ReadOnlyBufferException.class, () -> r.putLong(0, 1), "putLong on a read buffer");
            assertThrows(ReadOnlyBufferException.class, () -> r.put(0, new byte[4], 0, 4), "put on a read buffer");
            assertRefused(() -> r.length(1), "length(int) on a read buffer");
            assertRefused(r::commit, "commit() of a read buffer");
            assertRefused(r::commitFragment, "commitFragment() of a read buffer");
            assertEquals(7, r.getLong(0), "the refused writes changed nothing");
            assertEquals(8, r.getLong(8));
            r.release();
            assertDead(r, "released read buffer");

            Buffer r1 = s.receive(WAIT);
            assertNotNull(r1);
            assertTrue(r1.more(), "first fragment of a two-fragment message");
            assertEquals(9, r1.getLong(0));
            Buffer r2 = s.receive(WAIT);
            assertNotNull(r2);
            assertFalse(r2.more());
            assertEquals(10, r2.getLong(0));
            r2.release();
            r1.release();
            assertDead(r1, "read buffer released after a later one");
            assertDead(r2, "read buffer released before an earlier one");
        }
    }

    // ---- close ----

    private static final byte[] LAST_WORDS = seeded(77, 100_000);

    /** Commits 10 small messages (i, ~i) and a 100,000-byte one, then closes: checks this side's view of its own close. */
    private static void sendThenClose(Connection c) {
        for (int i = 0; i < 10; i++) {
            Buffer b = c.claim(16, WAIT);
            assertNotNull(b);
            b.putLong(0, i);
            b.putLong(8, ~(long) i);
            b.length(16);
            b.commit();
        }
        c.send(LAST_WORDS);
        c.close();
        assertEquals(ConnectionState.CLOSED, c.state());
        c.close();  // idempotent
        assertEquals(ConnectionState.CLOSED, c.state());
        assertThrows(ConnectionClosedException.class, () -> c.claim(8), "claim after own close");
        assertThrows(ConnectionClosedException.class, () -> c.claim(8, Duration.ofSeconds(5)), "claim(timeout) after own close");
        assertThrows(ConnectionClosedException.class, () -> c.send(new byte[10]), "send after own close");
        assertThrows(ConnectionClosedException.class, () -> c.receive(Duration.ofSeconds(5)), "receive after own close");
        assertEquals(ConnectionState.CLOSED, c.state(), "the state does not flap");
    }

    /** Receives what {@link #sendThenClose} sent, with blocking receives. */
    private static void receiveLastWords(Connection s, long writerFragment) {
        for (int i = 0; i < 10; i++) {
            Buffer b = s.receive(WAIT);
            assertNotNull(b, "message " + i + " committed before close was lost");
            assertEquals(i, b.getLong(0));
            assertEquals(~(long) i, b.getLong(8));
            b.release();
        }
        assertArrayEquals(LAST_WORDS, s.receiveMessage(WAIT), "the message sent just before close");
        assertEquals(10 + (LAST_WORDS.length + writerFragment - 1) / writerFragment, s.messagesReceived());
        assertEquals(10 * 16 + LAST_WORDS.length, s.bytesReceived());
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("transports")
    void peerCloseDeliversEverythingCommittedThenEnds(String transport) throws Exception {
        try (Pair p = open(transport, "close")) {
            Connection s = p.server();
            int writerFragment = p.client().maxFragment();
            sendThenClose(p.client());

            receiveLastWords(s, writerFragment);
            assertThrows(ConnectionClosedException.class, () -> s.receive(WAIT), "receive after the last buffer");
            assertEquals(ConnectionState.PEER_CLOSED, s.state());
            assertInstanceOf(ConnectionClosedException.class, s.failure());
            assertNull(s.poll(), "poll after the last buffer answers null");
            assertThrows(ConnectionClosedException.class, () -> s.receive(WAIT), "receive, again");
            assertThrows(ConnectionClosedException.class, () -> s.receiveMessage(WAIT), "receiveMessage after the last buffer");
            assertThrows(ConnectionClosedException.class, () -> s.claim(8), "claim towards a closed peer");
            assertEquals(ConnectionState.PEER_CLOSED, s.state(), "the state does not flap");
            s.close();
            s.close();
            assertEquals(ConnectionState.CLOSED, s.state());
        }
    }

    /**
     * {@link Connection}: "When the peer closes ... state() changes; everything it committed before
     * that can still be polled." The survivor sees PEER_CLOSED without reading first. Shared memory
     * only: a socket transport learns of the end when it reads up to it (see StreamConnection).
     */
    @ParameterizedTest(name = "{0}")
    @MethodSource("asyncEndTransports")
    void peerCloseShowsInStateBeforeTheDataIsRead(String transport) throws Exception {
        try (Pair p = open(transport, "close-state")) {
            Connection s = p.server();
            int writerFragment = p.client().maxFragment();
            sendThenClose(p.client());
            Await.until(() -> s.state() != ConnectionState.OPEN, Duration.ofSeconds(10),
                    () -> "the survivor's state is still " + s.state() + " 10 s after the peer closed (nothing read yet)");
            assertEquals(ConnectionState.PEER_CLOSED, s.state());
            assertInstanceOf(ConnectionClosedException.class, s.failure());
            receiveLastWords(s, writerFragment);
            assertThrows(ConnectionClosedException.class, () -> s.receive(WAIT), "receive after the last buffer");
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("transports")
    void peerCloseWakesABlockedReceive(String transport) throws Exception {
        try (Pair p = open(transport, "close-wake")) {
            FutureTask<Buffer> blocked = spawn("blocked-receive", () -> p.server().receive(Duration.ofSeconds(60)));
            p.client().close();
            // the peer's close ends the blocked receive with ConnectionClosedException, not a 60 s wait
            ExecutionException e = assertThrows(ExecutionException.class, () -> blocked.get(20, TimeUnit.SECONDS));
            assertInstanceOf(ConnectionClosedException.class, e.getCause());
            assertEquals(ConnectionState.PEER_CLOSED, p.server().state());
            p.server().close();
            p.server().close();
            assertEquals(ConnectionState.CLOSED, p.server().state());
        }
    }

    // ---- peer death ----

    /**
     * Child JVM: registers {@code args[2]-data} and {@code args[2]-idle}, connects both to
     * {@code xio+args[0]://args[1]}, commits {@code args[3]} messages (i, ~i) on the data connection,
     * prints "SENT n" and parks until killed.
     */
    public static final class DyingPeer {
        public static void main(String[] args) throws Exception {
            String uri = uri(args[0], args[1]);
            int n = Integer.parseInt(args[3]);
            ConnectOptions o = ConnectOptions.trusted().connectTimeout(Duration.ofSeconds(30));
            Connection data = Fable.register(args[2] + "-data").connect(uri, o);
            Connection idle = Fable.register(args[2] + "-idle").connect(uri, o);
            for (int i = 0; i < n; i++) {
                Buffer b = data.claim(16, Duration.ofSeconds(30));
                b.putLong(0, i);
                b.putLong(8, ~(long) i);
                b.length(16);
                b.commit();
            }
            System.out.println("SENT " + n + " " + data.transport() + " " + idle.transport());
            System.in.read();   // parks here until killed
        }
    }

    /** Accepts a connection from the child, failing at once (with its stderr) if the child exits first. */
    private static Connection acceptFrom(Endpoint ep, PeerProcess peer, String transport) {
        long deadline = System.nanoTime() + LONG.toNanos();
        while (true) {
            Connection c = ep.accept(Duration.ofMillis(200));
            if (c != null) return c;
            if (!peer.process().isAlive()) {
                fail("the child exited with " + peer.process().exitValue() + " before connecting over " + transport
                        + "; stderr:\n" + peer.stderr());
            }
            if (System.nanoTime() - deadline >= 0) {
                fail("the child did not connect over " + transport + " within " + LONG + "; stderr:\n" + peer.stderr());
            }
        }
    }

    interface DyingPeerCase {
        void run(PeerProcess peer, Connection data, Connection idle) throws Exception;
    }

    /**
     * Starts a {@link DyingPeer} over {@code transport}, accepts its two connections, waits until it
     * committed {@code n} messages, and runs {@code body} (which kills it).
     */
    private static void withDyingPeer(String transport, String tag, int n, DyingPeerCase body) throws Exception {
        String name = unique(tag + "-" + transport);
        String child = unique(tag + "-child-" + transport);
        try (Endpoint ep = Fable.register(name).listen();
             PeerProcess peer = PeerProcess.start(DyingPeer.class, transport, name, child, String.valueOf(n))) {
            Map<String, Connection> byPeer = new HashMap<>();
            try {
                for (int i = 0; i < 2; i++) {
                    Connection c = acceptFrom(ep, peer, transport);
                    byPeer.put(c.peerName(), c);
                }
                Connection data = byPeer.get(child + "-data");
                Connection idle = byPeer.get(child + "-idle");
                assertNotNull(data, "peer names seen: " + byPeer.keySet());
                assertNotNull(idle, "peer names seen: " + byPeer.keySet());
                assertEquals(transport, data.transport());
                assertEquals(transport, idle.transport());
                peer.expectLine("SENT " + n + " " + transport + " " + transport);
                assertEquals(ConnectionState.OPEN, data.state());
                assertEquals(ConnectionState.OPEN, idle.state());
                body.run(peer, data, idle);
            } finally {
                for (Connection c : byPeer.values()) c.close();
            }
        }
    }

    /** After the last buffer of a dead peer: one PeerGoneException per call, no hang, no flapping. */
    private static void assertGoneForGood(Connection c, int delivered) {
        assertNull(c.poll(), "poll after the last buffer of a dead peer");
        assertThrows(PeerGoneException.class, () -> c.receive(WAIT), "receive after the last buffer of a dead peer");
        assertThrows(PeerGoneException.class, () -> c.receiveMessage(WAIT), "receiveMessage from a dead peer");
        assertThrows(PeerGoneException.class, () -> c.claim(8), "claim towards a dead peer");
        assertThrows(PeerGoneException.class, () -> c.claim(8, WAIT), "claim(timeout) towards a dead peer");
        assertThrows(PeerGoneException.class, () -> c.send(new byte[100]), "send towards a dead peer");
        assertEquals(ConnectionState.PEER_GONE, c.state(), "the state does not flap");
        assertInstanceOf(PeerGoneException.class, c.failure());
        assertEquals(delivered, c.messagesReceived());
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("transports")
    void killedPeerIsGoneAndEverythingItCommittedIsStillDelivered(String transport) throws Exception {
        killAndDrain(transport, "death", false);
    }

    /**
     * As above, but the dead peer had not read what it was sent: sockets then end with a reset
     * (ECONNRESET) instead of an orderly end of stream. The contract is the same.
     */
    @ParameterizedTest(name = "{0}")
    @MethodSource("transports")
    void killedPeerWithUnreadDataIsGoneAndEverythingItCommittedIsStillDelivered(String transport) throws Exception {
        killAndDrain(transport, "death-unread", true);
    }

    private static void killAndDrain(String transport, String tag, boolean leaveUnread) throws Exception {
        int n = 100;
        withDyingPeer(transport, tag, n, (peer, data, idle) -> {
            if (leaveUnread) {
                data.send(seeded(1, 1000));
                idle.send(seeded(2, 1000));
            }
            FutureTask<Buffer> blocked = spawn("blocked-receive", () -> idle.receive(Duration.ofSeconds(60)));
            peer.kill9();

            ExecutionException e = assertThrows(ExecutionException.class, () -> blocked.get(20, TimeUnit.SECONDS),
                    "a receive blocked on the killed peer must end with an exception");
            assertInstanceOf(PeerGoneException.class, e.getCause(), "a receive blocked on the killed peer");
            assertEquals(ConnectionState.PEER_GONE, idle.state());

            for (int i = 0; i < n; i++) {
                Buffer b;
                try {
                    b = data.receive(WAIT);
                } catch (FableException ended) {
                    throw new AssertionError("message " + i + " of " + n + " committed before the kill was lost: " + ended, ended);
                }
                assertNotNull(b, "message " + i + " of " + n + " committed before the kill");
                assertEquals(i, b.getLong(0), "message " + i);
                assertEquals(~(long) i, b.getLong(8));
                b.release();
            }
            assertGoneForGood(data, n);
            assertGoneForGood(idle, 0);
        });
    }

    /**
     * {@link ConnectionState#PEER_GONE}: the survivor sees the death in {@code state()} within a
     * few seconds without reading; the data stays pollable. Shared memory only, as above.
     */
    @ParameterizedTest(name = "{0}")
    @MethodSource("asyncEndTransports")
    void killedPeerShowsInStateWithoutReading(String transport) throws Exception {
        int n = 100;
        withDyingPeer(transport, "death-state", n, (peer, data, idle) -> {
            peer.kill9();
            Await.until(() -> data.state() != ConnectionState.OPEN && idle.state() != ConnectionState.OPEN,
                    Duration.ofSeconds(10), () -> "10 s after kill -9 of pid " + peer.pid() + " (nothing read): data connection "
                            + data.state() + ", idle connection " + idle.state());
            assertEquals(ConnectionState.PEER_GONE, data.state());
            assertEquals(ConnectionState.PEER_GONE, idle.state());
            assertInstanceOf(PeerGoneException.class, data.failure());
            for (int i = 0; i < n; i++) {
                Buffer b = data.poll();
                assertNotNull(b, "message " + i + " of " + n + " committed before the kill is not pollable");
                assertEquals(i, b.getLong(0), "message " + i);
                assertEquals(~(long) i, b.getLong(8));
                b.release();
            }
            assertGoneForGood(data, n);
            assertGoneForGood(idle, 0);
        });
    }

    // ---- counters and identity ----

    @ParameterizedTest(name = "{0}")
    @MethodSource("transports")
    void countersAndTransportMatchWhatWasSent(String transport) throws Exception {
        String name = unique("counters-" + transport);
        String clientName = unique("counters-client-" + transport);
        try (Endpoint ep = Fable.register(name).listen();
             Endpoint cep = Fable.register(clientName)) {
            FutureTask<Connection> accepted = spawn("accept", () -> ep.accept(LONG));
            try (Connection c = cep.connect(uri(transport, name), ConnectOptions.trusted().connectTimeout(Duration.ofSeconds(10)));
                 Connection s = join(accepted)) {
                assertNotNull(s);
                assertEquals(transport, c.transport(), "client transport");
                assertEquals(transport, s.transport(), "server transport");
                assertEquals(name, s.localName());
                assertEquals(clientName, s.peerName());
                assertEquals(clientName, c.localName());
                assertEquals(name, c.peerName());
                assertEquals(ConnectionState.OPEN, c.state());
                assertNull(c.failure());
                assertEquals(0, c.messagesSent() + c.messagesReceived() + c.bytesSent() + c.bytesReceived());

                long bytes = 0;
                long frags = 0;
                for (int i = 0; i < 50; i++) {
                    int len = 1 + i * 7;                      // 1 .. 344 bytes, each one fragment
                    Buffer b = c.claim(len, WAIT);
                    assertNotNull(b);
                    assertEquals(len, b.length());
                    b.commit();
                    bytes += len;
                    frags++;
                    Buffer r = s.receive(WAIT);
                    assertEquals(len, r.length());
                    r.release();
                }
                int big = 3 * c.maxFragment() + 5;
                c.send(new byte[big]);
                assertEquals(big, s.receiveMessage(WAIT).length);
                bytes += big;
                frags += 4;

                for (int i = 0; i < 7; i++) s.send(new byte[100 + i]);
                for (int i = 0; i < 7; i++) assertEquals(100 + i, c.receiveMessage(WAIT).length);

                assertEquals(frags, c.messagesSent());
                assertEquals(frags, s.messagesReceived());
                assertEquals(bytes, c.bytesSent());
                assertEquals(bytes, s.bytesReceived());
                assertEquals(7, s.messagesSent());
                assertEquals(7, c.messagesReceived());
                assertEquals(7 * 100 + 21, s.bytesSent());
                assertEquals(7 * 100 + 21, c.bytesReceived());
            }
        }
    }
}
