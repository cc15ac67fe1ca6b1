package dev.fable.transport.shm;

import dev.fable.Buffer;
import dev.fable.ConnectOptions;
import dev.fable.Connection;
import dev.fable.CorruptChannelException;
import dev.fable.Endpoint;
import dev.fable.Fable;
import dev.fable.FableException;
import dev.fable.PeerGoneException;
import dev.fable.testing.Await;
import dev.fable.testing.PeerProcess;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.lang.management.BufferPoolMXBean;
import java.lang.management.ManagementFactory;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicReference;
import java.util.stream.LongStream;

import static dev.fable.testing.Names.unique;
import static org.junit.jupiter.api.Assertions.*;

/**
 * Issue 16, point 3: what a peer declares cannot make this side (the survivor, this JVM) map or allocate
 * more than its own {@link Fable.Context} caps, and a peer that truncates its pool cannot crash it.
 * The hostile peer is a real second JVM ({@link HostileMemoryPeer}) speaking the real handshake with
 * lies in it. After every case the survivor's heap (after a full GC) and direct memory must have grown
 * by less than {@link #HEAP_SLACK} and {@link #DIRECT_SLACK}, far below what the peer declared, and a
 * shared-memory connection between two other endpoints of the same set-up must still carry a message.
 *
 * <p>The survivor runs with the default pool caps (64 MiB of pool and ring, 65,536 slots) and a stream
 * fragment cap of 64 KiB.
 */
class PeerMemoryCapsTest {
    static final int MAX_FRAGMENT = 64 << 10;
    static final long HEAP_SLACK = 16L << 20;
    static final long DIRECT_SLACK = 4L << 20;
    static final Duration WAIT = Duration.ofSeconds(60);

    static Fable survivor;
    static Endpoint ep;
    static Endpoint otherEp;
    static Connection otherA;
    static Connection otherB;
    Memory before;

    record Memory(long heap, long direct) {
        static Memory now() {
            System.gc();
            System.gc();
            long heap = ManagementFactory.getMemoryMXBean().getHeapMemoryUsage().getUsed();
            long direct = ManagementFactory.getPlatformMXBeans(BufferPoolMXBean.class).stream()
                    .filter(b -> b.getName().equals("direct")).mapToLong(BufferPoolMXBean::getMemoryUsed).sum();
            return new Memory(heap, direct);
        }
    }

    @BeforeAll
    static void setUp() throws Exception {
        survivor = Fable.launch(new Fable.Context().maxPeerFragment(MAX_FRAGMENT));
        assertEquals(64L << 20, survivor.context().maxPeerPoolBytes(), "the default pool cap");
        assertEquals(65_536, survivor.context().maxPeerSlots(), "the default slot cap");
        ep = survivor.endpoint(unique("survivor")).listen(ConnectOptions.trusted());
        otherEp = survivor.endpoint(unique("other")).listen(ConnectOptions.trusted());
        CompletableFuture<Connection> accepted = CompletableFuture.supplyAsync(() -> otherEp.accept(Duration.ofSeconds(30)));
        otherA = survivor.open("xio+shm://" + otherEp.name(), ConnectOptions.trusted());
        otherB = accepted.get();
        otherConnectionFlows();
    }

    @AfterAll
    static void tearDown() {
        otherA.close();
        otherB.close();
        otherEp.close();
        ep.close();
        survivor.close();
    }

    @BeforeEach
    void measure() {
        before = Memory.now();
    }

    @AfterEach
    void survivorIsWellAndSmall() {
        otherConnectionFlows();
        Memory after = Memory.now();
        assertTrue(after.heap() - before.heap() < HEAP_SLACK, "heap grew by " + (after.heap() - before.heap()) + " B");
        assertTrue(after.direct() - before.direct() < DIRECT_SLACK, "direct memory grew by " + (after.direct() - before.direct()) + " B");
    }

    static void otherConnectionFlows() {
        byte[] m = ("still here " + System.nanoTime()).getBytes(StandardCharsets.US_ASCII);
        otherA.send(m);
        assertArrayEquals(m, otherB.receiveMessage(Duration.ofSeconds(10)), "another connection of the survivor carries on");
    }

    /**
     * The survivor's accept() runs the handshake with the hostile connector: it must throw, naming the limit; the
     * connector must have been told the same reason. Returns both messages, the survivor's first, joined by " || ".
     */
    private static String refusal(PeerProcess p) throws InterruptedException {
        FableException local = assertThrows(FableException.class, () -> ep.accept(WAIT), "the survivor's accept() should refuse");
        String l = p.expectLine("", WAIT);
        assertTrue(l.startsWith("REFUSED "), "the survivor should have refused: " + l + "; peer stderr:\n" + p.stderr());
        assertTrue(local.getMessage().startsWith("refused a "), local.getMessage());
        String reason = local.getMessage().substring(local.getMessage().indexOf(": ") + 2);
        assertTrue(l.contains(reason), "the peer was told the survivor's reason '" + reason + "': " + l);
        return local.getMessage() + " || " + l;
    }

    @Test
    void aPoolOf16MiSlotsOf1GiBIsRefusedNamingTheLimitOnBothSides() throws Exception {
        try (PeerProcess p = PeerProcess.start(HostileMemoryPeer.class, "declare", ep.name(), "1073741824", "16777216", "false")) {
            String l = refusal(p);
            assertTrue(l.contains("16777216 slots of 1073741824 B") && l.contains("Fable.Context.maxPeerSlots")
                    && l.contains("fable.shm.maxPeerSlots") && l.contains("65536"), l);
            p.send("EXIT");
        }
        try (PeerProcess p = PeerProcess.start(HostileMemoryPeer.class, "declare", ep.name(), "1073741824", "4096", "false")) {
            String l = refusal(p);
            assertTrue(l.contains("4096 slots of 1073741824 B") && l.contains("Fable.Context.maxPeerPoolBytes")
                    && l.contains("fable.shm.maxPeerPoolBytes") && l.contains("67108864 B"), l);
            p.send("EXIT");
        }
        // The survivor connects, the hostile acceptor declares the huge pool: refused locally, and the acceptor is told why.
        try (PeerProcess p = PeerProcess.start(HostileMemoryPeer.class, "listen-declare", "1073741824", "16777216")) {
            String name = p.expectLine("READY ", WAIT).substring("READY ".length());
            FableException e = assertThrows(FableException.class, () -> survivor.open("xio+shm://" + name, ConnectOptions.trusted()));
            assertTrue(e.getMessage().contains("16777216 slots of 1073741824 B") && e.getMessage().contains("Fable.Context.maxPeerSlots"),
                    e.getMessage());
            String told = p.expectLine("GOT-REJECT ", WAIT);
            assertTrue(told.contains("Fable.Context.maxPeerSlots"), told);
            p.send("EXIT");
        }
    }

    /** Half a million 64-byte slots, backed by real memfds and within the pool cap: refused by the slot cap, so no per-slot heap. */
    @Test
    void halfAMillionRealSlotsAreRefusedByTheSlotCap() throws Exception {
        try (PeerProcess p = PeerProcess.start(HostileMemoryPeer.class, "declare", ep.name(), "64", "524288", "true")) {
            String l = refusal(p);
            assertTrue(l.contains("524288 slots of 64 B") && l.contains("Fable.Context.maxPeerSlots"), l);
            p.send("EXIT");
        }
    }

    @Test
    void aPoolThatIsNotSealedIsRefused() throws Exception {
        try (PeerProcess p = PeerProcess.start(HostileMemoryPeer.class, "unsealed", ep.name())) {
            String l = refusal(p);
            assertTrue(l.contains("is not sealed against shrinking"), l);
            p.send("EXIT");
        }
    }

    /**
     * The peer tries to truncate its pool and ring to 0 mid-stream. The seals make the kernel refuse
     * ({@code EPERM}); the survivor reads every message before and after, then sees the peer gone when it
     * halts. (Without the seals the truncation succeeds and the survivor's next read faults: SIGBUS.)
     */
    @Test
    void aPeerThatTruncatesItsPoolMidStreamCannotCrashTheSurvivor() throws Exception {
        try (PeerProcess p = PeerProcess.start(HostileMemoryPeer.class, "truncate", ep.name())) {
            Connection c = ep.accept(WAIT);
            assertNotNull(c, "the hostile peer never connected; stderr:\n" + p.stderr());
            List<Long> got = new CopyOnWriteArrayList<>();
            AtomicReference<Throwable> ended = new AtomicReference<>();
            Thread receiver = new Thread(() -> {
                try {
                    while (true) {
                        Buffer b = c.receive(WAIT);
                        if (b == null) throw new AssertionError("nothing for 60 s");
                        got.add(b.getLong(0));
                        b.release();
                    }
                } catch (Throwable t) {
                    ended.set(t);
                }
            }, "survivor-receiver");
            receiver.start();
            p.expectLine("SENT-BEFORE", WAIT);
            Await.until(() -> got.size() == 100 || ended.get() != null, WAIT, () -> "received " + got.size());
            p.send("TRUNCATE");
            String truncated = p.expectLine("TRUNCATE ", WAIT);
            String after = p.expectLine("", WAIT);
            Await.until(() -> got.size() == 200 || ended.get() != null, Duration.ofSeconds(30), () -> "received " + got.size());
            p.send("EXIT");
            receiver.join(WAIT.toMillis());
            assertFalse(receiver.isAlive(), "the survivor's receiver never saw the peer go");
            Throwable t = ended.get();
            assertTrue(t instanceof PeerGoneException || t instanceof CorruptChannelException,
                    "the survivor must end the connection with PeerGone or CorruptChannel, not " + t);
            assertEquals(LongStream.range(0, 200).boxed().toList(), got, "every message before and after the attempt, intact");
            assertEquals("SENT-AFTER", after, "the peer kept sending after its attempt");
            assertEquals("TRUNCATE pool=" + dev.fable.internal.Libc.EPERM + " ring=" + dev.fable.internal.Libc.EPERM, truncated,
                    "the kernel refused to shrink the sealed memfds");
            c.close();
        }
    }

    @Test
    void aStreamPeerDeclaring16MiBFragmentsIsRefusedEitherWay() throws Exception {
        try (PeerProcess p = PeerProcess.start(HostileMemoryPeer.class, "stream-declare", ep.name())) {
            String l = refusal(p);
            assertTrue(l.contains("fragments of up to 16777216 B") && l.contains("65536 B") && l.contains("Fable.Context.maxPeerFragment")
                    && l.contains("fable.maxPeerFragment"), l);
            p.send("EXIT");
        }
        // The survivor connects to a peer that sends 16 MiB fragments: the HELLO said 64 KiB is the most it accepts.
        try (PeerProcess p = PeerProcess.start(HostileMemoryPeer.class, "stream-listen-declare")) {
            String name = p.expectLine("READY ", WAIT).substring("READY ".length());
            FableException e = assertThrows(FableException.class, () -> survivor.open("xio+unix://" + name, ConnectOptions.trusted()));
            assertTrue(e.getMessage().contains("16777216 B") && e.getMessage().contains("65536 B")
                    && e.getMessage().contains("maxPeerFragment"), e.getMessage());
            String l = p.expectLine("ACCEPT-FAILED ", WAIT);
            assertTrue(l.contains("more than the 65536 B the connecting side accepts"), l);
            p.send("EXIT");
        }
    }

    /** A peer that declared 4 KiB fragments sends a frame header claiming 16 MiB: the survivor fails the connection, allocating nothing for it. */
    @Test
    void aStreamFrameClaiming16MiBFailsTheConnectionCleanly() throws Exception {
        try (PeerProcess p = PeerProcess.start(HostileMemoryPeer.class, "stream-frame", ep.name())) {
            Connection c = ep.accept(WAIT);
            assertNotNull(c, "the hostile peer never connected; stderr:\n" + p.stderr());
            assertEquals("unix", c.transport());
            assertArrayEquals("ok".getBytes(StandardCharsets.US_ASCII), c.receiveMessage(WAIT));
            p.expectLine("WROTE", WAIT);
            CorruptChannelException e = assertThrows(CorruptChannelException.class, () -> c.receive(WAIT));
            assertTrue(e.getMessage().contains("a fragment of 16777216 B"), e.getMessage());
            c.close();
            p.send("EXIT");
        }
    }
}
