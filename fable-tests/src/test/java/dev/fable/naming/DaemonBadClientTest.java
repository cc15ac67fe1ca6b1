package dev.fable.naming;

import dev.fable.naming.protocol.ListenAddress;
import dev.fable.naming.protocol.RouteRequest;
import dev.fable.naming.protocol.Message;
import dev.fable.naming.protocol.Wire;
import dev.fable.testing.Await;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.time.Duration;
import java.util.List;

import static org.junit.jupiter.api.Assertions.*;
import dev.fable.naming.protocol.FlowEntry;

/**
 * One daemon, many hostile clients: each is closed with a logged reason, and a well-behaved client
 * is served normally after every one of them.
 */
class DaemonBadClientTest {
    private static final Duration LIMIT = Duration.ofSeconds(10);
    private static TestDaemon daemon;
    private static DaemonNameService good;
    private static int goodRounds;

    @BeforeAll
    static void start() throws Exception {
        daemon = TestDaemon.start(TestDaemon.freshDir("b"), "fable.daemon.maxNamesPerClient=100", "fable.daemon.stallSeconds=1",
                "fable.policy.contention=off");   // its flow queries would interleave with the ones a test answers by hand
        good = daemon.client();
    }

    @AfterAll
    static void stop() {
        if (good != null) good.close();
        if (daemon != null) daemon.close();
    }

    /** The good client registers, publishes, resolves and releases a name. */
    private static void goodClientIsServed() {
        String name = "good-" + goodRounds++;
        try (NameService.Registration r = good.register(name)) {
            r.listening(new ListenAddress("/run/" + name, null, 0));
            assertEquals("/run/" + name, good.resolve(name, new RouteRequest(true, null), 0).unixPath());
        }
    }

    private static Message.Fail closedWithError(RawClient c) throws Exception {
        List<Message> got = c.readUntilClosed(LIMIT);
        Message last = got.isEmpty() ? null : got.getLast();
        assertInstanceOf(Message.Fail.class, last, "expected an error frame before the close, got " + got);
        return (Message.Fail) last;
    }

    private static void logged(String text) {
        Await.until(() -> daemon.log().contains(text), LIMIT, () -> "daemon log lacks '" + text + "':\n" + daemon.log());
    }

    /** The daemon logged the offender's close ({@code text}), released its names ({@code prefix}...) and still serves the good client. */
    private static void closedAndReleased(String text, String prefix) {
        logged(text);
        assertTrue(good.names().stream().noneMatch(n -> n.name().startsWith(prefix)), "the offender's names are released");
        goodClientIsServed();
    }

    /** A client reports its own connections only: rows naming another pid (the policy sends orders by pid) are dropped. */
    @Test
    void flowRowsOfAnotherProcessAreDropped() throws Exception {
        try (RawClient c = new RawClient(daemon.runtimeDir)) {
            c.send(new Message.Hello(0, 4242, "forger", ""));
            assertInstanceOf(Message.Welcome.class, c.read(LIMIT));
            java.util.concurrent.CompletableFuture<List<FlowEntry>> table = java.util.concurrent.CompletableFuture.supplyAsync(good::flows);
            Message q = c.read(LIMIT);
            assertInstanceOf(Message.FlowQuery.class, q);
            c.send(new Message.FlowReport(((Message.FlowQuery) q).id(), true, List.of(
                    new FlowEntry(1, "victim-conn", "svc", "shm", "r", 0, 0, 0, 0, 0, 0),
                    new FlowEntry(4242, "forger-conn", "svc", "shm", "r", 0, 0, 0, 0, 0, 0))));
            List<String> locals = table.get(LIMIT.toSeconds(), java.util.concurrent.TimeUnit.SECONDS).stream()
                    .map(FlowEntry::localName).toList();
            assertTrue(locals.contains("forger-conn") && !locals.contains("victim-conn"), locals.toString());
        }
        logged("reported 1 flow row(s) of another process or without names; dropped");
    }

    @Test
    void malformedPayloadClosesTheClient() throws Exception {
        try (RawClient c = new RawClient(daemon.runtimeDir)) {
            c.sendBytes(ByteBuffer.allocate(10).putInt(6).put(new byte[] {1, 77, 0, 0, 0, 9}).flip());
            assertTrue(closedWithError(c).text().contains("unknown message type 77"));
        }
        logged("unknown message type 77");
        goodClientIsServed();
    }

    @Test
    void lengthOfTwoToTheThirtyOneClosesTheClient() throws Exception {
        try (RawClient c = new RawClient(daemon.runtimeDir)) {
            c.sendBytes(ByteBuffer.allocate(8).putInt(Integer.MAX_VALUE).putInt(0).flip());
            assertTrue(closedWithError(c).text().contains("2147483647"));
        }
        try (RawClient c = new RawClient(daemon.runtimeDir)) {
            c.sendBytes(ByteBuffer.allocate(4).putInt(Integer.MIN_VALUE).flip());
            assertTrue(closedWithError(c).text().contains("-2147483648"));
        }
        logged("frame length 2147483647");
        goodClientIsServed();
    }

    @Test
    void unknownVersionIsAnsweredWithAClearErrorThenClosed() throws Exception {
        try (RawClient c = new RawClient(daemon.runtimeDir)) {
            c.sendBytes(ByteBuffer.allocate(10).putInt(6).put((byte) 42).put((byte) Wire.HELLO).putInt(1).flip());
            Message.Fail f = closedWithError(c);
            assertEquals(Wire.E_VERSION, f.code());
            assertTrue(f.text().contains("version 42"), f.text());
        }
        goodClientIsServed();
    }

    @Test
    void requestsBeforeHelloAreRefused() throws Exception {
        try (RawClient c = new RawClient(daemon.runtimeDir)) {
            c.send(new Message.Register(1, "sneaky"));
            assertTrue(closedWithError(c).text().contains("HELLO"));
        }
        goodClientIsServed();
    }

    @Test
    void halfOpenAndSilentClientsDoNotBlockOthersAndAreClosed() throws Exception {
        try (RawClient silent = new RawClient(daemon.runtimeDir);
             RawClient partial = new RawClient(daemon.runtimeDir);
             RawClient halfClosed = new RawClient(daemon.runtimeDir)) {
            partial.send(new Message.Hello(0, 1, "partial", ""));
            assertInstanceOf(Message.Welcome.class, partial.read(LIMIT));
            partial.sendBytes(ByteBuffer.allocate(6).putInt(100).putShort((short) 0x0101).flip());   // 2 of 100 bytes
            halfClosed.send(new Message.Hello(0, 2, "half-closed", ""));
            halfClosed.ch.shutdownOutput();
            goodClientIsServed();   // at once, while all three hang
            assertTrue(closedWithError(silent).text().contains("no HELLO"));
            assertTrue(closedWithError(partial).text().contains("middle of a frame"));
            assertInstanceOf(Message.Welcome.class, halfClosed.read(LIMIT));
            Message next = halfClosed.read(LIMIT);
            // a notice to every client may come first (the good client's name began to listen while this one was open)
            while (next instanceof Message.PolicyChanged) next = halfClosed.read(LIMIT);
            assertNull(next, "the half-closed client is closed once its requests are answered");
        }
        logged("sent no HELLO");
        logged("stalled in the middle of a frame");
        goodClientIsServed();
    }

    @Test
    void aClientThatFloodsRequestsButNeverReadsIsClosed() throws Exception {
        for (int i = 0; i < 50; i++) good.register("filler-name-to-make-the-list-replies-long-" + i);
        try (SocketChannel flooder = SocketChannel.open(StandardProtocolFamily.UNIX)) {
            flooder.connect(UnixDomainSocketAddress.of(NamingConfig.daemonSocket(daemon.runtimeDir)));
            ByteBuffer hello = dev.fable.naming.protocol.Messages.encode(new Message.Hello(0, 3, "flooder", ""));
            while (hello.hasRemaining()) flooder.write(hello);
            boolean cut = false;
            long sent = 0;
            try {
                for (int i = 1; i < 1_000_000; i++) {
                    ByteBuffer req = dev.fable.naming.protocol.Messages.encode(new Message.NamesRequest(i));
                    while (req.hasRemaining()) flooder.write(req);
                    sent++;
                }
            } catch (IOException e) {
                cut = true;   // broken pipe: the daemon closed the flooder
            }
            assertTrue(cut, "the daemon never closed a client that does not read (" + sent + " requests sent)");
            System.out.println("flooder closed after " + sent + " requests");
        }
        logged("does not read its replies");
        goodClientIsServed();
    }

    /**
     * Exactly one registration over the limit: the daemon's verdict comes after the last byte the test
     * sends. (Sending more after it raced the close: the rest of the flood either met a closed socket or
     * was still unread when the daemon closed, and the test saw "Connection reset" instead of the end of
     * the stream. What a client sending past its verdict gets is the next test's subject.)
     */
    @Test
    void aRegistrationFloodOverTheLimitClosesTheClientAndReleasesItsNames() throws Exception {
        try (RawClient c = new RawClient(daemon.runtimeDir)) {
            c.send(new Message.Hello(0, 4, "registration flood", ""));
            assertInstanceOf(Message.Welcome.class, c.read(LIMIT));
            for (int i = 1; i <= 101; i++) c.send(new Message.Register(i, "flood-" + i));   // the limit is 100
            List<Message> got = c.readUntilClosed(LIMIT);
            assertEquals(101, got.size(), "100 OKs, then the error: " + got);
            for (int i = 0; i < 100; i++) {
                assertEquals(new Message.Ok(i + 1), got.get(i), "reply " + (i + 1));
            }
            Message.Fail f = assertInstanceOf(Message.Fail.class, got.getLast());
            assertEquals(Wire.E_LIMIT, f.code());
            assertTrue(f.text().contains("more than 100 names"), f.text());
        }
        closedAndReleased("more than 100 names", "flood-");
    }

    /**
     * A client closed for a violation may still be sending (its requests were in flight when the
     * verdict left): it gets the replies the daemon owed it, in order, then the error, then an orderly
     * end of stream, not a "Connection reset" (the daemon closing a socket with unread input resets
     * it), and what it sends after the verdict is read and dropped, not answered.
     */
    @Test
    void aClientClosedForAViolationGetsItsRepliesTheErrorAndAnOrderlyEndWhileStillSending() throws Exception {
        try (RawClient c = new RawClient(daemon.runtimeDir)) {
            c.send(new Message.Hello(0, 6, "sends past its verdict", ""));
            assertInstanceOf(Message.Welcome.class, c.read(LIMIT));
            ByteBuffer twoFrames = ByteBuffer.allocate(4096);
            twoFrames.put(dev.fable.naming.protocol.Messages.encode(new Message.Register(1, "past-verdict")));
            twoFrames.put(dev.fable.naming.protocol.Messages.encode(new Message.Hello(2, 6, "again", "")));   // the violation
            c.sendBytes(twoFrames.flip());
            assertEquals(new Message.Ok(1), c.read(LIMIT), "the reply owed before the violation comes first");
            Message.Fail f = assertInstanceOf(Message.Fail.class, c.read(LIMIT));
            assertTrue(f.text().contains("HELLO sent twice"), f.text());
            // The verdict is read: whatever comes now is after it (on the old daemon: a broken pipe here, or a reset below).
            for (int i = 3; i < 53; i++) c.send(new Message.Register(i, "past-verdict-" + i));
            assertEquals(List.of(), c.readUntilClosed(LIMIT), "nothing after the error but the end of the stream");
        }
        closedAndReleased("HELLO sent twice", "past-verdict");
    }

    /** The lingering after a verdict is bounded: a client that keeps sending is cut off after a megabyte. */
    @Test
    void aClientThatKeepsSendingAfterItsVerdictIsCutOff() throws Exception {
        try (RawClient c = new RawClient(daemon.runtimeDir)) {
            c.send(new Message.Register(1, "no-hello"));
            Message.Fail f = assertInstanceOf(Message.Fail.class, c.read(LIMIT));
            assertTrue(f.text().contains("HELLO"), f.text());
            long sent = 0;
            boolean cut = false;
            try {
                while (sent < 64L << 20) {
                    c.sendBytes(ByteBuffer.allocate(64 << 10));
                    sent += 64 << 10;
                }
            } catch (IOException e) {
                cut = true;   // broken pipe or reset: the daemon closed the connection
            }
            assertTrue(cut, "the daemon drained " + sent + " bytes after the verdict without closing");
        }
        logged("kept sending after it was closed");
        goodClientIsServed();
    }

    @Test
    void aFloodOfWaitingResolvesClosesTheClient() throws Exception {
        try (RawClient c = new RawClient(daemon.runtimeDir)) {
            c.send(new Message.Hello(0, 5, "resolve flood", ""));
            assertInstanceOf(Message.Welcome.class, c.read(LIMIT));
            for (int i = 1; i <= 4097; i++) c.send(new Message.Resolve(i, "never-" + i, true, null, 60_000));
            Message.Fail f = closedWithError(c);
            assertEquals(Wire.E_LIMIT, f.code());
            assertTrue(f.text().contains("resolves waiting"), f.text());
        }
        logged("resolves waiting at once");
        Await.until(() -> good.stats().waiters() == 0, LIMIT, () -> "the offender's waiting resolves are dropped");
        goodClientIsServed();
    }
}
