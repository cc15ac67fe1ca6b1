package dev.fable;

import dev.fable.testing.Names;
import dev.fable.testing.Pair;
import dev.fable.testing.PeerProcess;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.atomic.AtomicLong;
import java.util.zip.CRC32;

import static org.junit.jupiter.api.Assertions.*;

/**
 * Live reconfiguration (make-before-break) with real processes: a producer JVM streams
 * sequence-numbered messages of mixed sizes (1 B to 1 MiB) while a second thread of it switches the
 * connection among every ordered pair of transports; the consumer JVM checks every message's
 * sequence number (no gap, duplicate or reordering) and every byte (the content is a function of
 * the sequence number), and both sides fold every byte into a CRC that must agree.
 */
@Timeout(value = 600, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
class ReconfigureTest {
    private static final Duration WAIT = Duration.ofSeconds(30);

    /** Size of message {@code seq}: mostly 1–512 B, every 1000th up to 1 MiB, so the run covers 1 B to 1 MiB in reasonable time. */
    static int size(long seq) {
        if (seq % 1000 == 999) return (int) (1 + (seq * 7919 % (1 << 20)));
        if (seq % 100_000 == 500) return 1 << 20;
        return (int) (1 + (seq * 2654435761L >>> 7) % 512);
    }

    /** Byte {@code i} of message {@code seq}. */
    static byte at(long seq, int i) {
        return (byte) (seq * 31 + i * 7);
    }

    static byte[] message(long seq) {
        int n = size(seq);
        byte[] m = new byte[Math.max(n, 8)];
        for (int i = 0; i < m.length; i++) m[i] = at(seq, i);
        for (int i = 0; i < 8 && i < n; i++) m[i] = (byte) (seq >>> (8 * i));   // little-endian sequence number first
        return n >= 8 ? m : java.util.Arrays.copyOf(m, n);
    }

    /** Every ordered pair of transports, as a path of switches from {@code start}. */
    static List<String> switchPath(String start, int atLeast) {
        List<String> path = new ArrayList<>();
        String cur = start;
        while (path.size() < atLeast) {
            for (String a : TransportName.ALL) {
                for (String b : TransportName.ALL) {
                    if (a.equals(b)) continue;
                    if (!cur.equals(a)) {
                        path.add(a);
                        cur = a;
                    }
                    path.add(b);
                    cur = b;
                }
            }
        }
        return path;
    }

    @Test
    void aMillionMessagesOverFiftySwitchesAmongEveryPairArriveExactlyOnceInOrder() throws Exception {
        String name = "reconf-" + ProcessHandle.current().pid();
        long count = 1_000_000;
        try (PeerProcess consumer = PeerProcess.start(ReconfigureTest.class, "consume", name, Long.toString(count))) {
            consumer.expectLine("LISTENING", WAIT);
            try (PeerProcess producer = PeerProcess.start(ReconfigureTest.class, "produce", name, Long.toString(count))) {
                String sent = producer.expectLine("SENT", Duration.ofMinutes(8));
                String got = consumer.expectLine("RECEIVED", Duration.ofMinutes(1));
                String[] s = sent.split(" "), g = got.split(" ");
                System.out.println("producer: " + sent + "; consumer: " + got);
                assertEquals(Long.toString(count), g[1], "messages received: " + got);
                assertEquals(s[2], g[2], "CRC of every byte: sent " + sent + ", received " + got);
                int switches = Integer.parseInt(s[3]);
                int pairs = Integer.parseInt(s[4]);
                assertTrue(switches >= 50, "switches: " + sent);
                assertEquals(12, pairs, "ordered transport pairs covered: " + sent);
                assertTrue(Integer.parseInt(g[3]) >= 1, "the consumer saw RECONFIGURED events: " + got);
                assertEquals(switches, Long.parseLong(g[4]), "the consumer's last RECONFIGURED epoch is the producer's last switch: " + got + " / " + sent);
                assertEquals("shm,tcp,tls,unix", g[5], "the consumer's side completed switches to every transport: " + got);
                assertEquals(0, producer.waitFor(30), "producer exit");
                assertEquals(0, consumer.waitFor(60), "consumer exit");
            }
        }
    }

    @Test
    void aPeerKilledWhileSwitchingLeavesTheSurvivorWithPeerGoneAndNoFiles() throws Exception {
        String name = "reconf-kill-" + ProcessHandle.current().pid();
        java.nio.file.Path base = java.nio.file.Path.of("/dev/shm");
        java.nio.file.Path shmDir = java.nio.file.Files.createTempDirectory(
                java.nio.file.Files.isDirectory(base) ? base : java.nio.file.Path.of(System.getProperty("java.io.tmpdir")), "fable-reconf-")
                .resolve("shm");   // made by the peers themselves: that it exists afterwards shows they used it
        List<String> jvm = List.of("-Dfable.shm.dir=" + shmDir);
        try {
            try (PeerProcess consumer = PeerProcess.start(ReconfigureTest.class, jvm, "survive", name, "0")) {
                consumer.expectLine("LISTENING", WAIT);
                try (PeerProcess producer = PeerProcess.start(ReconfigureTest.class, jvm, "churn", name, "0")) {
                    producer.expectLine("SWITCHED 12", Duration.ofSeconds(120));   // switching back to back: a switch is under way now
                    producer.kill9();
                }
                String end = consumer.expectLine("ENDED", Duration.ofSeconds(40));
                System.out.println("survivor: " + end);
                assertTrue(end.startsWith("ENDED PeerGoneException"), "the survivor learns its peer is gone: " + end);
                assertEquals(0, consumer.waitFor(30), "the survivor exits normally");
            }
            // pools and rings (a pool the killed producer was preparing, a leg's memfds) are sealed memfds that went with
            // its process: nothing is ever written to the shared-memory directory
            if (java.nio.file.Files.isDirectory(shmDir)) {
                try (var files = java.nio.file.Files.list(shmDir)) {
                    assertEquals(List.of(), files.map(f -> f.getFileName().toString()).toList(), "files left in " + shmDir);
                }
            }
        } finally {
            try (var files = java.nio.file.Files.walk(shmDir.getParent())) {
                for (java.nio.file.Path f : files.sorted(java.util.Comparator.reverseOrder()).toList()) java.nio.file.Files.deleteIfExists(f);
            }
        }
    }

    /**
     * The accepting side streams at full speed while the connecting side switches back to back: the
     * acceptor's sender moves onto a new stream leg the moment it is linked, so the leg's INSTALLED
     * frame must already be on it; behind a data frame the connector took the leg as refused and
     * abandoned the switch, while the acceptor had left the old transport and then failed on the
     * closed leg (found by KillCampaignTest). The race is narrow: it showed once in about 100
     * switching runs there; with a 2 ms pause put between the link and INSTALLED in the old order,
     * this test failed at once.
     */
    @Test
    void switchesWhileTheAcceptingSideStreamsAllSucceed() throws Exception {
        try (Pair p = Pair.open("shm", ConnectOptions.trusted(), ConnectOptions.trusted())) {
            Connection c = p.client(), s = p.server();
            java.util.concurrent.atomic.AtomicBoolean stop = new java.util.concurrent.atomic.AtomicBoolean();
            java.util.concurrent.FutureTask<Long> producer = dev.fable.testing.Tasks.spawn("acceptor-produces", () -> {
                long seq = 0;
                while (!stop.get()) s.send(message(seq++));
                return seq;
            });
            java.util.concurrent.FutureTask<Integer> switcher = dev.fable.testing.Tasks.spawn("connector-switches", () -> {
                java.util.Random r = new java.util.Random(16);
                int n = 0;
                try {
                    for (; n < 20; n++) {
                        String to;
                        do {
                            to = TransportName.ALL.get(r.nextInt(TransportName.ALL.size()));
                        } while (to.equals(c.transport()));
                        c.reconfigure(to, "test: switch " + n);
                    }
                } finally {
                    stop.set(true);
                }
                return n;
            });
            long seq = 0;
            while (!producer.isDone() || seq < producer.get()) {
                byte[] m = c.receiveMessage(Duration.ofMillis(100));
                if (m != null) check(seq++, m);
            }
            assertEquals(20, dev.fable.testing.Tasks.join(switcher));
            assertEquals(seq, dev.fable.testing.Tasks.join(producer));
            roundTrip(c, s, 1);
        }
    }

    @Test
    void badSwitchesLeaveTheConnectionFlowingOnItsTransport() throws Exception {
        try (Pair p = Pair.open("unix", ConnectOptions.trusted(), ConnectOptions.trusted())) {
            badSwitches(p.client(), p.server());
        }
    }

    private static void badSwitches(Connection c, Connection s) {
        {
            IllegalArgumentException unknown = assertThrows(IllegalArgumentException.class, () -> c.reconfigure("carrier-pigeon", "test"));
            assertTrue(unknown.getMessage().contains("carrier-pigeon") && unknown.getMessage().contains("shm, unix, tcp, tls"), unknown.getMessage());
            UnsupportedOperationException acceptor = assertThrows(UnsupportedOperationException.class, () -> s.reconfigure("tcp", "test"));
            assertTrue(acceptor.getMessage().contains("only the side that connected"), acceptor.getMessage());
            assertEquals("unix", c.transport());
            roundTrip(c, s, 1);

            assertEquals(1, c.reconfigure("shm", "test"));
            roundTrip(c, s, 2);   // both directions move at their next message
            assertEquals("shm", c.transport());
            assertEquals("shm", s.transport());
            assertEquals(1, c.epoch());
            assertEquals(1, s.epoch());
        }
    }

    /**
     * A switch completes on both sides even when neither application calls again: the accepting side
     * held a claimed buffer while the switch was set up (so its sending direction could not move then),
     * commits it and goes quiet; the connecting side reads that last message and never receives again.
     * Someone must still end the accepting side's old output and read its marker for the connector.
     */
    @Test
    void aSwitchCompletesOnSidesThatGoQuiet() throws Exception {
        try (Pair p = Pair.open("shm", ConnectOptions.trusted(), ConnectOptions.trusted())) {
            Connection c = p.client(), s = p.server();
            Buffer held = s.claim(8);
            assertEquals(1, c.reconfigure("tcp", "test: quiet sides"));
            held.putLong(0, 42);
            held.commit();   // the accepting side's last message, on the old transport; it sends nothing more
            Buffer last = c.receive(WAIT);
            assertEquals(42, last.getLong(0));
            assertEquals(0, last.epoch(), "sent on the old transport");
            last.release();
            dev.fable.testing.Await.until(() -> !c.reconfiguring() && !s.reconfiguring(), WAIT,
                    () -> "still switching: connector " + c.reconfiguring() + ", acceptor " + s.reconfiguring());
            assertEquals("tcp", c.transport());
            roundTrip(c, s, 7);   // and both directions run on tcp
        }
    }

    /**
     * The consumer keeps read buffers of the old transport past the drain timeout: they are copied
     * (their values stay readable, release works) and the old transport closes, for a socket and for
     * shared memory as the old side.
     */
    @Test
    void readBuffersHeldPastTheDrainTimeoutAreCopiedAndTheOldTransportCloses() throws Exception {
        try (Fable fable = Fable.launch(new Fable.Context().drainTimeout(Duration.ofMillis(200)))) {   // the daemon of the suite, a set-up of its own
            for (String[] pair : new String[][] {{"unix", "shm"}, {"shm", "tcp"}}) {
                try (Pair p = Pair.open(fable, Names.unique("drain"), pair[0], ConnectOptions.trusted(), ConnectOptions.trusted())) {
                    Connection c = p.client(), s = p.server();
                    List<Buffer> kept = new ArrayList<>();
                    for (long v = 1; v <= 3; v++) {
                        Buffer b = c.claim(8, WAIT);
                        b.putLong(0, v * 111);
                        b.commit();
                        kept.add(s.receive(WAIT));   // held, not released
                    }
                    c.reconfigure(pair[1], "test: drain");
                    roundTrip(c, s, 4);   // both directions on the new transport; the old one waits for the three buffers
                    assertEquals(pair[1], s.transport());
                    ConnectionEvent copied = null;
                    long until = System.nanoTime() + WAIT.toNanos();
                    while (copied == null && System.nanoTime() < until) {
                        assertNull(s.poll(), "nothing else was sent");
                        for (ConnectionEvent e; (e = s.pollEvent()) != null; ) {
                            if (e.type() == ConnectionEvent.Type.OLD_BUFFERS_COPIED) copied = e;
                        }
                    }
                    assertNotNull(copied, "no OLD_BUFFERS_COPIED event within " + WAIT);
                    assertTrue(copied.reason().startsWith("3 read buffer(s) of epoch 0"), copied.reason());
                    assertEquals(pair[0], copied.transport());
                    for (int i = 0; i < 3; i++) {
                        assertEquals((i + 1) * 111L, kept.get(i).getLong(0), "a copied buffer reads as before");
                        assertEquals(Buffer.Kind.PRIVATE_COPY, kept.get(i).kind(), "a buffer copied off its transport says so");
                        assertEquals((i + 1) * 111L, kept.get(i).segment().get(java.lang.foreign.ValueLayout.JAVA_LONG_UNALIGNED, 0));
                        kept.get(i).release();
                        Buffer dead = kept.get(i);
                        assertThrows(IllegalStateException.class, () -> dead.getLong(0), "single-use after release");
                    }
                    roundTrip(c, s, 5);
                }
            }
        }
    }

    /**
     * Session frames are read from a socket anyone of this user can connect to: an OPEN with an epoch
     * other than 0, an OPEN that reuses a live connection's id, and a REJOIN offering an epoch that is
     * not the next one are refused (the socket is closed), and the real connection flows on unchanged.
     */
    /**
     * Peers that connect to the endpoint and send nothing hold up nobody: each incoming channel gets a
     * thread of its own. One dispatcher reading session frames in turn, 5 s each, would hold this
     * switch's REJOIN behind them for 100 s, past the connector's 30 s handshake deadline.
     */
    @Test
    void silentPeersAtTheEndpointDoNotHoldUpASwitch() throws Exception {
        try (Pair p = Pair.open("unix", ConnectOptions.trusted(), ConnectOptions.trusted())) {
            java.nio.file.Path sock = dev.fable.naming.NamingConfig.endpointSocket(p.ep().name());
            List<java.nio.channels.SocketChannel> silent = new ArrayList<>();
            try {
                for (int i = 0; i < 20; i++) {
                    java.nio.channels.SocketChannel ch = java.nio.channels.SocketChannel.open(java.net.StandardProtocolFamily.UNIX);
                    ch.connect(java.net.UnixDomainSocketAddress.of(sock));
                    silent.add(ch);
                }
                assertEquals(1, p.client().reconfigure("shm", "test: past silent peers"));
                roundTrip(p.client(), p.server(), 3);
                assertEquals("shm", p.server().transport());
            } finally {
                for (java.nio.channels.SocketChannel ch : silent) ch.close();
            }
        }
    }

    @Test
    void forgedSessionFramesAreRefusedAndTheConnectionFlowsOn() throws Exception {
        try (Pair p = Pair.open("unix", ConnectOptions.trusted(), ConnectOptions.trusted())) {
            Endpoint ep = p.ep();
            Connection c = p.client(), s = p.server();
            String name = ep.name();
            java.lang.reflect.Field f = dev.fable.flow.LiveConnection.class.getDeclaredField("id");
            f.setAccessible(true);
            long id = (long) f.get(c);   // what a snooping peer would have to know
            java.nio.file.Path sock = dev.fable.naming.NamingConfig.endpointSocket(name);
            assertRefused(sock, session((byte) 1, 0x1234, 3, null), "an OPEN at epoch 3");
            assertRefused(sock, session((byte) 1, id, 0, null), "an OPEN reusing a live connection's id");
            assertRefused(sock, session((byte) 2, id, 7, "forged"), "a REJOIN offering epoch 7 after epoch 0");
            assertRefused(sock, forgedRejoin(id, 1), "a REJOIN for the next epoch with a made-up authenticator");
            assertNull(ep.accept(Duration.ofMillis(200)), "no forged connection reached accept()");
            roundTrip(c, s, 9);
            assertEquals(0, c.epoch());
            assertEquals(0, s.epoch());
            assertNull(s.pollEvent(), "the accepting side saw no switch");
        }
    }

    private static java.nio.ByteBuffer session(byte kind, long id, long epoch, String reason) {
        java.nio.ByteBuffer b = java.nio.ByteBuffer.allocate(4 + 4 + 1 + 8 + 8 + 2 + 64);
        b.putInt(0).putInt(0x46534553).put(kind).putLong(id).putLong(epoch);
        if (reason != null) b.putShort((short) reason.length()).put(reason.getBytes(java.nio.charset.StandardCharsets.UTF_8));
        b.putInt(0, b.position() - 4);   // the control channel's frame length
        return b.flip();
    }

    /** A REJOIN in today's layout (nonce, reason, wait mode, authenticator) whose authenticator is random bytes. */
    private static java.nio.ByteBuffer forgedRejoin(long id, long epoch) {
        java.nio.ByteBuffer b = java.nio.ByteBuffer.allocate(4 + 21 + 16 + 2 + 6 + 1 + 32);
        b.putInt(0).putInt(0x46534553).put((byte) 2).putLong(id).putLong(epoch);
        byte[] junk = new byte[16 + 32];
        new java.util.Random(42).nextBytes(junk);
        b.put(junk, 0, 16).putShort((short) 6).put("forged".getBytes(java.nio.charset.StandardCharsets.US_ASCII)).put((byte) 0).put(junk, 16, 32);
        b.putInt(0, b.position() - 4);
        return b.flip();
    }

    /**
     * Sends the frame to the endpoint's socket and waits for the endpoint to refuse it: at most a
     * refusal frame (type 3 and its reason), then the end of the connection.
     */
    static void assertRefused(java.nio.file.Path sock, java.nio.ByteBuffer frame, String what) throws Exception {
        try (java.nio.channels.SocketChannel ch = java.nio.channels.SocketChannel.open(java.net.UnixDomainSocketAddress.of(sock))) {
            while (frame.hasRemaining()) ch.write(frame);
            java.util.concurrent.FutureTask<byte[]> read = new java.util.concurrent.FutureTask<>(() -> java.nio.channels.Channels.newInputStream(ch).readAllBytes());
            Thread.ofVirtual().start(read);
            byte[] got = read.get(10, java.util.concurrent.TimeUnit.SECONDS);   // ends only when the endpoint closes
            assertTrue(got.length == 0 || (got.length > 5 && got[4] == 3), what + " must be refused: a refusal frame at most, then the end; got "
                    + got.length + " B");
        }
    }

    /** One message each way; each must arrive, on the connection's current epoch (both directions have moved). */
    static void roundTrip(Connection c, Connection s, long v) {
        Buffer b = c.claim(8, WAIT);
        b.putLong(0, v);
        b.commit();
        Buffer r = s.receive(WAIT);
        assertNotNull(r, "message " + v + " did not arrive over " + s);
        assertEquals(v, r.getLong(0));
        assertEquals(c.epoch(), r.epoch(), "message " + v + " came over the current epoch");
        r.release();
        b = s.claim(8, WAIT);
        b.putLong(0, -v);
        b.commit();
        r = c.receive(WAIT);
        assertNotNull(r, "message " + -v + " did not arrive over " + c);
        assertEquals(-v, r.getLong(0));
        assertEquals(s.epoch(), r.epoch(), "message " + -v + " came over the current epoch");
        r.release();
    }

    // ---- the two processes ----

    public static void main(String[] a) throws Exception {
        String role = a[0], name = a[1];
        long count = Long.parseLong(a[2]);
        switch (role) {
            case "consume" -> consume(name, count);
            case "produce" -> produce(name, count);
            case "survive" -> survive(name);
            case "churn" -> churn(name);
            default -> throw new IllegalArgumentException(role);
        }
        System.out.flush();
        System.exit(0);
    }

    static void consume(String name, long count) {
        try (Endpoint ep = Fable.register(name).listen(ConnectOptions.trusted())) {
            System.out.println("LISTENING");
            System.out.flush();
            try (Connection c = ep.accept(WAIT)) {
                CRC32 crc = new CRC32();
                long[] reconfigured = {0, 0};   // events, last epoch
                java.util.Set<String> seen = new java.util.TreeSet<>();   // transports this side's both directions completed a switch to
                seen.add(c.transport());
                for (long seq = 0; seq < count; seq++) {
                    byte[] m = c.receiveMessage(WAIT);
                    if (m == null) throw new AssertionError("message " + seq + " did not arrive within " + WAIT + " over " + c.transport());
                    check(seq, m);
                    crc.update(m);
                    drainEvents(c, reconfigured, seen);
                }
                awaitSwitched(c);
                drainEvents(c, reconfigured, seen);
                System.out.println("RECEIVED " + count + " " + Long.toHexString(crc.getValue()) + " " + reconfigured[0] + " " + reconfigured[1]
                        + " " + String.join(",", seen));
                System.out.flush();
                if (c.receiveMessage(WAIT) != null) throw new AssertionError("a message after the last one");
            } catch (ConnectionClosedException end) {
                // the producer closed after the last message: expected
            }
        }
    }

    /** Receives and checks messages until the connection ends; prints "ENDED <exception> <message>". */
    static void survive(String name) {
        try (Endpoint ep = Fable.register(name).listen(ConnectOptions.trusted())) {
            System.out.println("LISTENING");
            System.out.flush();
            try (Connection c = ep.accept(WAIT)) {
                for (long seq = 0; ; seq++) {
                    byte[] m = c.receiveMessage(WAIT);
                    if (m == null) {
                        System.out.println("ENDED timeout after " + seq + " messages on " + c);
                        return;
                    }
                    check(seq, m);
                }
            } catch (RuntimeException e) {
                System.out.println("ENDED " + e.getClass().getSimpleName() + " " + String.valueOf(e.getMessage()).replace('\n', ' '));
            }
        }
    }

    /** Streams messages while a second thread switches the connection back to back, forever; prints "SWITCHED n" every 12 switches. */
    static void churn(String name) {
        try (Connection c = Fable.connect("xio+shm://" + name, ConnectOptions.trusted().connectTimeout(WAIT))) {
            Thread.ofPlatform().daemon().name("switcher").start(() -> {
                for (int n = 1; ; n++) {
                    c.reconfigure(TransportName.ALL.get(n % TransportName.ALL.size()), "churn");
                    if (n % 12 == 0) {
                        System.out.println("SWITCHED " + n);
                        System.out.flush();
                    }
                }
            });
            for (long seq = 0; ; seq++) c.send(message(seq));
        }
    }

    static void drainEvents(Connection c, long[] reconfigured, java.util.Set<String> seen) {
        for (ConnectionEvent e; (e = c.pollEvent()) != null; ) {
            if (e.type() != ConnectionEvent.Type.RECONFIGURED) continue;
            reconfigured[0]++;
            seen.add(e.transport());
            if (e.epoch() <= reconfigured[1]) throw new AssertionError("RECONFIGURED epochs out of order: " + e + " after " + reconfigured[1]);
            reconfigured[1] = e.epoch();
        }
    }

    /** The last switch completes on this side when it reads the peer's end-of-epoch marker: keep receiving (nothing else comes). */
    static void awaitSwitched(Connection c) {
        long deadline = System.nanoTime() + WAIT.toNanos();
        while (c.reconfiguring()) {
            Buffer b = c.poll();
            if (b != null) throw new AssertionError("a message after the last one: " + b.length() + " B");
            if (System.nanoTime() > deadline) throw new AssertionError(c + " still reconfiguring after " + WAIT);
        }
    }

    static void check(long seq, byte[] m) {
        byte[] want = message(seq);
        int at = java.util.Arrays.mismatch(m, want);
        if (at >= 0) {
            long got = m.length >= 8 ? java.nio.ByteBuffer.wrap(m).order(java.nio.ByteOrder.LITTLE_ENDIAN).getLong(0) : -1;
            throw new AssertionError("message " + seq + " (" + want.length + " B) differs at byte " + at + "; got " + m.length
                    + " B whose sequence field says " + got);
        }
    }

    static void produce(String name, long count) throws Exception {
        AtomicLong sent = new AtomicLong();
        try (Connection c = Fable.connect("xio+shm://" + name, ConnectOptions.trusted().connectTimeout(WAIT))) {
            String initial = c.transport();
            List<String> path = switchPath(initial, 60);
            int[] switches = {0};
            Thread switcher = Thread.ofPlatform().name("switcher").uncaughtExceptionHandler((t, e) -> {
                e.printStackTrace();
                System.out.println("ERROR switcher: " + e);
                System.out.flush();
                Runtime.getRuntime().halt(1);
            }).start(() -> {
                long every = count / (path.size() + 2);
                String from = c.transport();
                for (String to : path) {
                    while (sent.get() < (switches[0] + 1) * every) Thread.onSpinWait();
                    long epoch = c.reconfigure(to, "test: " + from + " -> " + to);
                    if (epoch != switches[0] + 1) throw new AssertionError("asked for " + to + " as epoch " + (switches[0] + 1) + ", got " + epoch);
                    from = to;
                    switches[0]++;
                }
            });
            CRC32 crc = new CRC32();
            for (long seq = 0; seq < count; seq++) {
                if (seq == count - 1) {   // every switch done before the last message: the consumer, having it, can count them all
                    switcher.join();
                    awaitSwitched(c);
                }
                byte[] m = message(seq);
                c.send(m);
                crc.update(m);
                sent.set(seq + 1);
            }
            // the pairs the connection completed (RECONFIGURED: both directions of this side run on the new transport), not the ones asked for
            Set<String> pairs = new HashSet<>();
            String prev = initial;
            long done = 0;
            for (ConnectionEvent e; (e = c.pollEvent()) != null; ) {
                if (e.type() != ConnectionEvent.Type.RECONFIGURED) continue;
                if (e.epoch() != ++done) throw new AssertionError("RECONFIGURED for epoch " + e.epoch() + ", expected " + done);
                pairs.add(prev + "->" + e.transport());
                prev = e.transport();
            }
            if (done != switches[0]) throw new AssertionError(switches[0] + " switches asked, " + done + " completed");
            System.out.println("SENT " + count + " " + Long.toHexString(crc.getValue()) + " " + done + " " + pairs.size());
            System.out.flush();
        }
    }
}
