package dev.fable;

import dev.fable.testing.Pair;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.concurrent.CompletableFuture;

import static org.junit.jupiter.api.Assertions.*;
import dev.fable.Poller;

class PollerTest {
    /**
     * A request arriving just as the poller goes idle (after its last poll, before it hands its hot connections to
     * the watchers) stays hot, since it is ready: the poller must not then sleep, as no watcher would wake it. A
     * ping-pong through a poller-served echo hits that window again and again (the client answers at once); with
     * the poller sleeping there, one round trip waits until the test's limit.
     */
    @Test
    void aRequestThatArrivesAsThePollerGoesIdleIsServed() throws Exception {
        try (Pair a = Pair.open("shm", ConnectOptions.trusted(), ConnectOptions.trusted()); Poller p = Fable.poller(WaitMode.ADAPTIVE)) {
            CompletableFuture<Void> echo = CompletableFuture.runAsync(() -> {
                p.add(a.server());
                for (int served = 0; served < 3000; ) {
                    Connection c = p.await(Duration.ofSeconds(10));
                    if (c == null) throw new AssertionError("the poller slept through request " + served);
                    for (Buffer b; (b = c.poll()) != null; served++) {
                        long v = b.getLong(0);
                        b.release();
                        Buffer out = c.claim(8, Duration.ofSeconds(10));
                        out.putLong(0, v);
                        out.length(8);
                        out.commit();
                    }
                }
            });
            for (long i = 0; i < 3000; i++) {
                Buffer b = a.client().claim(8, Duration.ofSeconds(10));
                b.putLong(0, i);
                b.length(8);
                b.commit();
                Buffer r = a.client().receive(Duration.ofSeconds(10));
                assertNotNull(r, "no answer to request " + i + " within 10 s");
                assertEquals(i, r.getLong(0));
                r.release();
            }
            echo.get();
        }
    }

    @Test
    void wakesForTheConnectionThatGotData() throws Exception {
        for (WaitMode mode : WaitMode.values()) {
            try (Pair a = Pair.open("shm", ConnectOptions.trusted().waitMode(mode), ConnectOptions.trusted());
                 Pair b = Pair.open("shm", ConnectOptions.trusted().waitMode(mode), ConnectOptions.trusted());
                 Poller p = Fable.poller(mode)) {
                p.add(a.server());
                p.add(b.server());
                assertNull(p.poll());
                assertNull(p.await(Duration.ofMillis(30)), mode + ": nothing sent yet");
                CompletableFuture<Connection> waiting = CompletableFuture.supplyAsync(() -> p.await(Duration.ofSeconds(10)));
                Buffer w = b.client().claim(8);
                w.putLong(0, 99);
                w.commit();
                assertSame(b.server(), waiting.get(), mode.toString());
                Buffer r = b.server().poll();
                assertEquals(99, r.getLong(0));
                r.release();
                assertNull(p.poll());
            }
        }
    }

    /**
     * A switch of a polled connection (connector moves it to a new shm transport) wakes a sleeping
     * Poller with the RECONFIGURING event, and the Poller follows the connection to its new transport.
     */
    @Test
    void followsAConnectionThroughASwitchAndReportsItsEvents() throws Exception {
        try (Pair a = Pair.open("shm", ConnectOptions.trusted().waitMode(WaitMode.BLOCK),
                ConnectOptions.trusted()); Poller p = Fable.poller(WaitMode.BLOCK)) {
            p.add(a.server());
            assertNull(p.await(Duration.ofMillis(30)));
            CompletableFuture<Connection> waiting = CompletableFuture.supplyAsync(() -> p.await(Duration.ofSeconds(10)));
            assertEquals(1, a.client().reconfigure("shm", "test: poller"));
            assertSame(a.server(), waiting.get(), "the switch wakes the poller (its event, or the old transport's end marker)");
            Buffer w = a.client().claim(8, Duration.ofSeconds(10));   // the client's output moves to epoch 1 here
            w.putLong(0, 42);
            w.commit();
            java.util.List<ConnectionEvent> seen = new java.util.ArrayList<>();
            long until = System.nanoTime() + Duration.ofSeconds(10).toNanos();
            Buffer r = null;
            while (r == null && System.nanoTime() < until) {
                Connection c = p.await(Duration.ofSeconds(10));
                assertSame(a.server(), c);
                for (ConnectionEvent e; (e = c.pollEvent()) != null; ) seen.add(e);
                r = c.poll();   // the old transport's marker first (null), then the message of epoch 1
            }
            assertTrue(seen.stream().anyMatch(e -> e.type() == ConnectionEvent.Type.RECONFIGURING && e.epoch() == 1), "events: " + seen);
            assertNotNull(r, "the message of the new epoch arrived through the poller");
            assertEquals(42, r.getLong(0));
            assertEquals(1, r.epoch());
            r.release();
        }
    }

    private static final Duration LIMIT = Duration.ofSeconds(30);

    /** Sends {@code count} longs 0.. on each connection, interleaved, from another thread. */
    private static CompletableFuture<Void> sendAll(java.util.List<Connection> to, int count) {
        return CompletableFuture.runAsync(() -> {
            for (int i = 0; i < count; i++) {
                for (Connection c : to) {
                    Buffer b = c.claim(8, LIMIT);
                    assertNotNull(b, "no room on " + c);
                    b.putLong(0, i);
                    b.length(8);
                    b.commit();
                }
            }
        });
    }

    /**
     * One thread, one Poller, connections of every transport at once (shm, unix, tcp, tls, and a plain external
     * tcp peer): each message arrives once and in order, whatever the wait mode. Before the event queue, a socket
     * connection could not join a Poller at all.
     */
    @Test
    void servesEveryTransportFromOneThread() throws Exception {
        for (WaitMode mode : new WaitMode[] {WaitMode.BLOCK, WaitMode.ADAPTIVE}) {
            java.util.List<Pair> pairs = new java.util.ArrayList<>();
            try (ExternalListener ext = Fable.listenExternal("tcp://127.0.0.1:0", ConnectOptions.trusted());
                 Poller p = Fable.poller(mode)) {
                for (String t : new String[] {"shm", "unix", "tcp", "tls"}) {
                    pairs.add(Pair.open(t, ConnectOptions.trusted().waitMode(mode), ConnectOptions.trusted()));
                }
                Connection rawClient = Fable.connect("tcp://127.0.0.1:" + ext.port(), ConnectOptions.trusted());
                Connection rawServer = ext.accept(LIMIT);
                java.util.List<Connection> servers = new java.util.ArrayList<>();
                java.util.List<Connection> clients = new java.util.ArrayList<>();
                for (Pair x : pairs) {
                    servers.add(x.server());
                    clients.add(x.client());
                }
                servers.add(rawServer);
                clients.add(rawClient);
                for (Connection c : servers) p.add(c);
                assertEquals(5, p.size());
                int count = 2000;
                CompletableFuture<Void> sending = sendAll(clients, count);
                java.util.Map<Connection, java.io.ByteArrayOutputStream> got = new java.util.IdentityHashMap<>();
                for (Connection c : servers) got.put(c, new java.io.ByteArrayOutputStream());
                long deadline = System.nanoTime() + LIMIT.toNanos();
                while (got.values().stream().anyMatch(b -> b.size() < 8 * count)) {
                    assertTrue(System.nanoTime() < deadline, mode + ": not everything arrived: " + sizes(got));
                    Connection c = p.await(Duration.ofSeconds(5));
                    if (c == null) continue;
                    for (Buffer b; (b = c.poll()) != null; ) {
                        byte[] bytes = new byte[b.length()];
                        b.segment().asByteBuffer().get(bytes);
                        got.get(c).writeBytes(bytes);
                        b.release();
                    }
                }
                sending.get();
                for (Connection c : servers) {
                    java.nio.ByteBuffer all = java.nio.ByteBuffer.wrap(got.get(c).toByteArray()).order(java.nio.ByteOrder.nativeOrder());
                    for (int i = 0; i < count; i++) assertEquals(i, all.getLong(), mode + ", " + c.transport() + ": message " + i);
                }
                rawClient.close();
                rawServer.close();
            } finally {
                pairs.forEach(Pair::close);
            }
        }
    }

    private static String sizes(java.util.Map<Connection, java.io.ByteArrayOutputStream> got) {
        StringBuilder s = new StringBuilder();
        got.forEach((c, b) -> s.append(c.transport()).append('=').append(b.size()).append(' '));
        return s.toString();
    }

    /**
     * A connection the poller sleeps on moves shm → tcp → shm while messages flow: the poller follows it from
     * its tripwire watcher to its selector and back, and nothing is lost or reordered.
     */
    @Test
    void followsAConnectionBetweenSharedMemoryAndSockets() throws Exception {
        try (Pair a = Pair.open("shm", ConnectOptions.trusted().waitMode(WaitMode.BLOCK), ConnectOptions.trusted());
             Poller p = Fable.poller(WaitMode.BLOCK)) {
            p.add(a.server());
            int count = 3000;
            CompletableFuture<Void> sending = CompletableFuture.runAsync(() -> {
                for (int i = 0; i < count; i++) {
                    if (i == 1000) a.client().reconfigure("tcp", "test: poller over sockets");
                    if (i == 2000) a.client().reconfigure("shm", "test: poller back on shared memory");
                    Buffer b = a.client().claim(8, LIMIT);
                    assertNotNull(b);
                    b.putLong(0, i);
                    b.length(8);
                    b.commit();
                    if (i % 100 == 0) java.util.concurrent.locks.LockSupport.parkNanos(200_000);   // let the poller go idle and sleep
                }
            });
            // the leg each message came over is its buffer's epoch (0 shm, 1 tcp, 2 shm): the connection's transport() when
            // the poller reads is the newest leg's, which a slow reader may see before it has drained the older one
            java.util.Set<Long> epochs = new java.util.TreeSet<>();
            long next = 0;
            long deadline = System.nanoTime() + LIMIT.toNanos();
            while (next < count) {
                assertTrue(System.nanoTime() < deadline, "stuck at message " + next);
                Connection c = p.await(Duration.ofSeconds(5));
                if (c == null) continue;
                assertSame(a.server(), c);
                while (c.pollEvent() != null) {
                    // the switches' events
                }
                for (Buffer b; (b = c.poll()) != null; ) {
                    assertEquals(next++, b.getLong(0));
                    assertTrue(epochs.isEmpty() || b.epoch() >= java.util.Collections.max(epochs), "legs in order");
                    epochs.add(b.epoch());
                    b.release();
                }
            }
            sending.get();
            assertEquals(java.util.Set.of(0L, 1L, 2L), epochs, "messages came over all three legs: shm, tcp, shm");
        }
    }

    /**
     * An application with its own NIO Selector serves a plain ServerSocketChannel and a Fable Poller from one
     * thread: the poller's selectable channel wakes the selector when a Fable connection has data.
     */
    @Test
    void runsInsideAnApplicationsSelector() throws Exception {
        try (Pair a = Pair.open("shm", ConnectOptions.trusted().waitMode(WaitMode.BLOCK), ConnectOptions.trusted());
             Pair b = Pair.open("tcp", ConnectOptions.trusted().waitMode(WaitMode.BLOCK), ConnectOptions.trusted());
             Poller p = Fable.poller(WaitMode.BLOCK);
             java.nio.channels.Selector sel = java.nio.channels.Selector.open();
             java.nio.channels.ServerSocketChannel server = java.nio.channels.ServerSocketChannel.open()) {
            p.add(a.server());
            p.add(b.server());
            server.bind(new java.net.InetSocketAddress("127.0.0.1", 0));
            server.configureBlocking(false);
            server.register(sel, java.nio.channels.SelectionKey.OP_ACCEPT);
            p.selectable().register(sel, java.nio.channels.SelectionKey.OP_READ);
            p.armSelectable();
            int rounds = 50;
            // a plain NIO client and the two Fable clients each send `rounds` requests and expect each echoed
            CompletableFuture<Void> plain = CompletableFuture.runAsync(() -> {
                try (java.nio.channels.SocketChannel s = java.nio.channels.SocketChannel.open(server.getLocalAddress())) {
                    java.nio.ByteBuffer bb = java.nio.ByteBuffer.allocate(8);
                    for (int i = 0; i < rounds; i++) {
                        bb.clear();
                        bb.putLong(0, i);
                        while (bb.hasRemaining()) s.write(bb);
                        bb.clear();
                        while (bb.hasRemaining()) if (s.read(bb) < 0) throw new IllegalStateException("closed");
                        assertEquals(i, bb.getLong(0));
                    }
                } catch (java.io.IOException e) {
                    throw new java.io.UncheckedIOException(e);
                }
            });
            CompletableFuture<Void> fa = echoClient(a.client(), rounds);
            CompletableFuture<Void> fb = echoClient(b.client(), rounds);
            java.nio.ByteBuffer buf = java.nio.ByteBuffer.allocate(8);
            long deadline = System.nanoTime() + LIMIT.toNanos();
            while (!(plain.isDone() && fa.isDone() && fb.isDone())) {
                assertTrue(System.nanoTime() < deadline, "one thread did not serve everything");
                sel.select(1000);
                for (java.nio.channels.SelectionKey k : sel.selectedKeys()) {
                    if (k.isAcceptable()) {
                        java.nio.channels.SocketChannel ch = server.accept();
                        if (ch != null) {
                            ch.configureBlocking(false);
                            ch.register(sel, java.nio.channels.SelectionKey.OP_READ, java.nio.ByteBuffer.allocate(8));
                        }
                    } else if (k.channel() == p.selectable()) {
                        for (Connection c; (c = p.poll()) != null; ) {
                            for (Buffer r; (r = c.poll()) != null; ) {
                                Buffer w = c.claim(8, LIMIT);
                                w.putLong(0, r.getLong(0));
                                w.length(8);
                                w.commit();
                                r.release();
                            }
                        }
                        p.armSelectable();
                    } else if (k.isReadable()) {
                        java.nio.channels.SocketChannel ch = (java.nio.channels.SocketChannel) k.channel();
                        java.nio.ByteBuffer in = (java.nio.ByteBuffer) k.attachment();
                        if (ch.read(in) < 0) {
                            k.cancel();
                            ch.close();
                        } else if (!in.hasRemaining()) {
                            in.flip();
                            while (in.hasRemaining()) ch.write(in);
                            in.clear();
                        }
                    }
                }
                sel.selectedKeys().clear();
            }
            plain.get();
            fa.get();
            fb.get();
        }
    }

    private static CompletableFuture<Void> echoClient(Connection c, int rounds) {
        return CompletableFuture.runAsync(() -> {
            for (int i = 0; i < rounds; i++) {
                Buffer w = c.claim(8, LIMIT);
                w.putLong(0, i);
                w.length(8);
                w.commit();
                Buffer r = c.receive(LIMIT);
                assertNotNull(r, c.transport() + ": no echo of request " + i);
                assertEquals(i, r.getLong(0));
                r.release();
            }
        });
    }

    /** A poller's capacity is enforced with a clear error, and a removed connection's place is taken again. */
    @Test
    void refusesConnectionsBeyondItsCapacity() throws Exception {
        try (Pair a = Pair.open("shm", ConnectOptions.trusted(), ConnectOptions.trusted());
             Pair b = Pair.open("unix", ConnectOptions.trusted(), ConnectOptions.trusted());
             Poller p = Fable.poller(WaitMode.BLOCK, 1)) {
            p.add(a.server());
            IllegalStateException e = assertThrows(IllegalStateException.class, () -> p.add(b.server()));
            assertTrue(e.getMessage().contains("capacity"), e.getMessage());
            assertThrows(IllegalArgumentException.class, () -> p.add(a.server()), "twice");
            assertTrue(p.remove(a.server()));
            p.add(b.server());
            b.client().send(new byte[] {1, 2, 3});
            assertSame(b.server(), p.await(LIMIT));
        }
    }
}
