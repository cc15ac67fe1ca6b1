package dev.fable.transport.shm;

import dev.fable.ConnectOptions;
import dev.fable.FableException;
import dev.fable.WaitMode;
import dev.fable.buffer.LeakDetector;
import dev.fable.testing.Fuzz;
import dev.fable.transport.ControlChannel;
import dev.fable.transport.Frames;
import dev.fable.transport.LegServices;
import dev.fable.transport.Liveness;
import dev.fable.transport.PeerLimits;
import dev.fable.transport.Transport;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.*;

/**
 * Fuzzing of the shared-memory handshake and its geometry: the connector's HELLO as the acceptor reads it
 * (version, target name, {@link ShmTransport.Side}) followed by what the acceptor does with it before it
 * maps anything ({@link ShmTransport#tooLarge} against this side's {@link PeerLimits}: pool and ring, log
 * included) and the mapping of the peer's memfds as {@code Incoming.map} does it ({@link ShmFiles#mapPeer}
 * of the announced descriptors at the sizes the announced geometry and log give, then
 * {@link RingReader#validateHeaders}) against real sealed memfds of this process (a HELLO that names another
 * pid is only parsed: the fuzzer must not map other processes' memory); the acceptor's ACCEPT as the
 * connector reads it (with the connection secret); and the file headers themselves under
 * {@link RingReader#validateHeaders}, in segments exactly as long as the headers, so that a read beyond
 * them fails. Only {@link FableException} (with {@code SharedMemoryException},
 * {@code CorruptChannelException}) may come out, or a returned reason.
 */
class ShmHandshakeFuzzTest {
    static final int HELLO_INPUTS = 12_000;
    static final int REPLY_INPUTS = 8_000;
    static final int HEADER_INPUTS = 10_000;
    private static final short VERSION = 5;
    private static final int SLOT = 64;
    private static final int SLOTS = 4;
    private static final int LOG = ConnectOptions.MIN_LOG_BYTES;
    /** Log sizes a Side must refuse: not a power of two, below 64 KiB, above 1 GiB (2^31 is negative as an int). */
    private static final int[] MALFORMED_LOGS = {LOG + 1, 3 << 16, LOG + LOG / 2, LOG / 2, 4096, 0, -1, 1 << 31, Integer.MAX_VALUE, -LOG};
    /** The acceptor's caps: the default 64 MiB of pool and ring, as a set-up without settings has. */
    private static final PeerLimits LIMITS = PeerLimits.DEFAULTS;

    private static final long SELF = ProcessHandle.current().pid();
    private static Arena memfds;
    private static int pool;
    private static int ring;
    private static SocketChannel unconnected;
    private static ControlChannel control;

    @BeforeAll
    static void peerFiles() throws IOException {
        // a peer's real pair of sealed memfds for 4 slots of 64 B and a 64 KiB log, headers initialised as a writer does
        memfds = Arena.ofShared();
        ShmFiles.Sealed p = ShmFiles.createSealed(ShmFiles.newName("pool"), ShmLayout.poolBytes(SLOT, SLOTS), memfds, "fuzz pool");
        ShmFiles.Sealed r = ShmFiles.createSealed(ShmFiles.newName("ring"), ShmLayout.ringBytes(LOG), memfds, "fuzz ring");
        RingWriter.initialise(p.segment(), r.segment(), SLOT, SLOTS, LOG);
        pool = p.fd();
        ring = r.fd();
        unconnected = SocketChannel.open();
        control = new ControlChannel(unconnected, "fuzz");
    }

    @AfterAll
    static void close() throws IOException {
        if (unconnected != null) unconnected.close();
        if (memfds != null) memfds.close();   // the descriptors stay open until the JVM ends; a few, once
    }

    private static void side(ByteBuffer b, long pid, String name, int mode, int slotSize, int slotCount, int logBytes, int poolFd, int ringFd) {
        b.putLong(pid);
        Frames.putString(b, name);
        b.put((byte) mode).putInt(slotSize).putInt(slotCount).putInt(logBytes);
        b.putInt(poolFd).putInt(ringFd);
    }

    private static byte[] array(ByteBuffer b) {
        return Arrays.copyOf(b.array(), b.position());
    }

    static byte[] hello(int mode, int slotSize, int slotCount, int logBytes, int poolFd, int ringFd) {
        ByteBuffer b = ByteBuffer.allocate(16 * 1024).putShort(VERSION);
        Frames.putString(b, "svc");
        side(b, SELF, "client", mode, slotSize, slotCount, logBytes, poolFd, ringFd);
        return array(b);
    }

    static byte[] hello(int mode, int slotSize, int slotCount, int poolFd, int ringFd) {
        return hello(mode, slotSize, slotCount, LOG, poolFd, ringFd);
    }

    static byte[] reply(int mode, int slotSize, int slotCount, int logBytes, boolean secret) {
        return reply(mode, slotSize, slotCount, logBytes, secret, -1, 0, 0);
    }

    /** An ACCEPT; {@code fanoutFd >= 0}: with a fan-out section naming that descriptor and geometry (a publisher's). */
    static byte[] reply(int mode, int slotSize, int slotCount, int logBytes, boolean secret, int fanoutFd, int fanoutSlotSize, int fanoutSlots) {
        ByteBuffer b = ByteBuffer.allocate(16 * 1024).put((byte) 2);
        side(b, 4243, "svc", mode, slotSize, slotCount, logBytes, pool, ring);
        if (secret) b.put((byte) ControlChannel.SECRET_BYTES).put(new byte[ControlChannel.SECRET_BYTES]);
        else b.put((byte) 0);
        b.put((byte) 0);   // no door ticket
        if (fanoutFd >= 0) b.put((byte) 1).putInt(fanoutFd).putInt(fanoutSlotSize).putInt(fanoutSlots);
        else b.put((byte) 0);
        return array(b);
    }

    /** The geometry a Side may announce, and what the acceptor maps for it. */
    private static void checkGeometry(ShmTransport.Side s) {
        assertTrue(s.slotSize() >= 64 && s.slotSize() <= ConnectOptions.MAX_SLOT_SIZE && s.slotSize() % 64 == 0, "slot size " + s.slotSize());
        assertTrue(s.slotCount() >= 2 && s.slotCount() <= ConnectOptions.MAX_SLOT_COUNT, "slot count " + s.slotCount());
        assertTrue(s.logBytes() >= ConnectOptions.MIN_LOG_BYTES && s.logBytes() <= ConnectOptions.MAX_LOG_BYTES && Integer.bitCount(s.logBytes()) == 1,
                "log of " + s.logBytes());
        long poolBytes = ShmLayout.poolBytes(s.slotSize(), s.slotCount());
        long ringBytes = ShmLayout.ringBytes(s.logBytes());
        assertTrue(poolBytes > ShmLayout.POOL_HEADER && poolBytes <= ShmLayout.POOL_HEADER + ((long) ConnectOptions.MAX_SLOT_SIZE << 24), "pool of " + poolBytes);
        assertTrue(ringBytes > ShmLayout.LOG && ringBytes <= ShmLayout.LOG + ConnectOptions.MAX_LOG_BYTES, "ring of " + ringBytes);
    }

    /**
     * The acceptor's side: HELLO after the transport name, then the caps (before anything is mapped), then
     * Incoming.map of what it announced.
     */
    static String acceptHello(byte[] input) {
        ByteBuffer hello = ByteBuffer.wrap(input);
        short version = hello.remaining() >= 2 ? hello.getShort() : -1;
        if (version != VERSION) return "other version";
        String wanted = Frames.getString(hello, "target name");
        ShmTransport.Side peer = ShmTransport.Side.read(hello);
        checkGeometry(peer);
        String tooLarge = ShmTransport.tooLarge(peer, null, null, LIMITS);
        if (tooLarge != null) {
            assertTrue(tooLarge.contains("maxPeerSlots") || tooLarge.contains("maxPeerPoolBytes"), tooLarge);
            return tooLarge.contains("maxPeerSlots") ? "too many slots" : "too large";
        }
        assertTrue(ShmLayout.poolBytes(peer.slotSize(), peer.slotCount()) + ShmLayout.ringBytes(peer.logBytes()) <= LIMITS.maxPoolBytes(),
                "passed the caps with more than " + LIMITS.maxPoolBytes() + " B of pool and ring");
        if (peer.pid() != SELF) return "another pid";   // never map another process's memory from a fuzzer
        try (Arena arena = Arena.ofConfined()) {   // Incoming.map
            MemorySegment p = ShmFiles.mapPeer(peer.pid(), peer.poolFd(), ShmLayout.poolBytes(peer.slotSize(), peer.slotCount()), true, arena, "pool");
            MemorySegment r = ShmFiles.mapPeer(peer.pid(), peer.ringFd(), ShmLayout.ringBytes(peer.logBytes()), false, arena, "ring");
            String bad = RingReader.validateHeaders(p, r, peer.slotSize(), peer.slotCount(), peer.logBytes());
            return (wanted.equals("svc") ? "" : "other name, ") + (bad == null ? "mapped" : "bad headers: " + bad.replaceAll("[0-9]+", "#"));
        }
    }

    /** The connector's side: ACCEPT (or REJECT) after its HELLO, with the connection secret. */
    static String connectorReply(byte[] input) {
        ByteBuffer reply = ByteBuffer.wrap(input);
        byte type = Frames.getByte(reply, "reply type");
        if (type == Transport.REJECT) return "refused: " + Frames.getString(reply, "reason").length();
        if (type != 2) return "other type";
        ShmTransport.Side peer = ShmTransport.Side.read(reply);
        checkGeometry(peer);
        control.takeSecret(reply);
        ShmTransport.Fanout f = ShmTransport.Fanout.read(reply);
        String fan = "";
        if (f != null) {   // a publisher's fan-out pool: its geometry is bounded as a pool's, and counted against the caps
            assertTrue(f.slotSize() >= 64 && f.slotSize() <= ConnectOptions.MAX_SLOT_SIZE && f.slotSize() % 64 == 0, "fan-out slot size " + f.slotSize());
            assertTrue(f.slotCount() >= 2 && f.slotCount() <= ConnectOptions.MAX_SLOT_COUNT && f.fd() >= 0, "fan-out " + f);
            String tooLarge = ShmTransport.tooLarge(peer, f, null, LIMITS);
            fan = tooLarge == null ? " with a fan-out pool" : " with a fan-out pool too large";
            if (tooLarge == null) {
                assertTrue(ShmLayout.poolBytes(peer.slotSize(), peer.slotCount()) + ShmLayout.ringBytes(peer.logBytes()) + f.bytes()
                        <= LIMITS.maxPoolBytes(), "passed the caps with more than " + LIMITS.maxPoolBytes() + " B");
            }
        }
        return "accepted " + peer.waitMode() + fan + (reply.hasRemaining() ? " with trailing bytes" : "");
    }

    /**
     * Headers: int slotSize, int slotCount, int logBytes (as the handshake said), then 32 B of pool header
     * and 24 B of ring header.
     */
    static String headers(byte[] input) {
        ByteBuffer in = ByteBuffer.wrap(Arrays.copyOf(input, Math.max(input.length, 68)));
        int slotSize = in.getInt();
        int slotCount = in.getInt();
        int logBytes = in.getInt();
        MemorySegment p = MemorySegment.ofArray(new long[4]);   // the 32 B the reader may look at, no more
        MemorySegment r = MemorySegment.ofArray(new long[3]);   // and 24
        p.copyFrom(MemorySegment.ofArray(Arrays.copyOfRange(in.array(), 12, 44)));
        r.copyFrom(MemorySegment.ofArray(Arrays.copyOfRange(in.array(), 44, 68)));
        String bad = RingReader.validateHeaders(p, r, slotSize, slotCount, logBytes);
        String fanout = RingReader.validatePoolHeader(p, slotSize, slotCount);   // the same 32 B as a fan-out pool's header
        if (bad == null && fanout != null) fail("a pool header valid as a connection's pool but not as a fan-out pool: " + fanout);
        return bad == null ? "valid" : bad.replaceAll("-?[0-9]+", "#");
    }

    static byte[] headerSeed(int slotSize, int slotCount, int logBytes, int announcedSize, int announcedCount, int announcedLog) {
        MemorySegment p = MemorySegment.ofArray(new long[4]);
        MemorySegment r = MemorySegment.ofArray(new long[3]);
        RingWriter.initialise(p, r, slotSize, slotCount, logBytes);
        ByteBuffer b = ByteBuffer.allocate(68).putInt(announcedSize).putInt(announcedCount).putInt(announcedLog);
        b.put(p.toArray(java.lang.foreign.ValueLayout.JAVA_BYTE)).put(r.toArray(java.lang.foreign.ValueLayout.JAVA_BYTE));
        return b.array();
    }

    @Test
    void seedsMapAndValidate() throws IOException {
        assertEquals("mapped", acceptHello(hello(1, SLOT, SLOTS, pool, ring)));
        assertTrue(acceptHello(hello(1, SLOT, 2, pool, ring)).startsWith("bad headers"));   // memfds larger than announced
        assertThrows(SharedMemory(), () -> acceptHello(hello(1, SLOT, SLOTS, ring, pool)));   // the ring is too small for a pool
        assertThrows(SharedMemory(), () -> acceptHello(hello(1, SLOT, SLOTS, 2 * LOG, pool, ring)));   // the ring is smaller than its log
        assertEquals("accepted " + WaitMode.values()[1], connectorReply(reply(1, SLOT, SLOTS, LOG, true)));
        assertEquals("accepted " + WaitMode.values()[1] + " with a fan-out pool", connectorReply(reply(1, SLOT, SLOTS, LOG, true, pool, 1024, 64)));
        assertEquals("accepted " + WaitMode.values()[1] + " with a fan-out pool too large",
                connectorReply(reply(1, SLOT, SLOTS, LOG, true, pool, 1 << 20, 64)), "64 MiB of fan-out pool beside pool and ring: over the cap");
        assertThrows(FableException.class, () -> connectorReply(reply(1, SLOT, SLOTS, LOG, true, pool, 65, 64)));
        assertThrows(FableException.class, () -> connectorReply(reply(1, SLOT, SLOTS, LOG, true, pool, 64, 1)));
        assertEquals("valid", headers(headerSeed(SLOT, SLOTS, LOG, SLOT, SLOTS, LOG)));
        assertEquals("file headers disagree with the handshake (# slots of # B, a log of # B)", headers(headerSeed(SLOT, SLOTS, LOG, SLOT, SLOTS, 2 * LOG)));
        int passwd = dev.fable.internal.Libc.open("/etc/passwd", 0);
        try {
            assertThrows(SharedMemory(), () -> acceptHello(hello(0, SLOT, SLOTS, passwd, ring)));   // not a Fable memfd
        } finally {
            dev.fable.internal.Libc.close(passwd);
        }
        assertThrows(FableException.class, () -> acceptHello(hello(0, SLOT, SLOTS, -1, ring)));
        assertThrows(FableException.class, () -> acceptHello(hello(0, 65, SLOTS, pool, ring)));
        assertThrows(FableException.class, () -> acceptHello(hello(0, SLOT, 1 + ConnectOptions.MAX_SLOT_COUNT, pool, ring)));
        for (int log : MALFORMED_LOGS) {
            FableException e = assertThrows(FableException.class, () -> acceptHello(hello(0, SLOT, SLOTS, log, pool, ring)), "log " + log);
            assertEquals("malformed handshake: a log of " + log + " B", e.getMessage());
            e = assertThrows(FableException.class, () -> connectorReply(reply(0, SLOT, SLOTS, log, true)), "log " + log);
            assertEquals("malformed handshake: a log of " + log + " B", e.getMessage());
        }
        // A log of 64 MiB over 4 slots of 64 B: well formed, but pool and ring come to more than the 64 MiB cap. The
        // descriptors name 64 KiB memfds: had they been mapped first, the refusal would be the mapping's, not the cap's.
        assertEquals("too large", acceptHello(hello(0, SLOT, SLOTS, 1 << 26, pool, ring)));
        assertEquals("too large", acceptHello(hello(0, SLOT, SLOTS, ConnectOptions.MAX_LOG_BYTES, pool, ring)));
        assertThrows(SharedMemory(), () -> acceptHello(hello(0, SLOT, SLOTS, 1 << 25, pool, ring)), "32 MiB fits the cap: mapped, and too small");
    }

    private static Class<dev.fable.SharedMemoryException> SharedMemory() {
        return dev.fable.SharedMemoryException.class;
    }

    /**
     * The real acceptor ({@link ShmTransport#accept}, over a Unix socket pair): a HELLO whose log makes pool and
     * ring larger than this side's maxPeerPoolBytes is refused, naming the cap and the log, before anything is
     * mapped: its descriptors are this process's /etc/passwd, which a mapping would have refused with another
     * reason. Just under the cap, the same descriptors get as far as the mapping.
     */
    @Test
    void aDeclaredLogBeyondThePoolCapIsRefusedBeforeAnythingIsMapped(@TempDir Path dir) throws Exception {
        int passwd = dev.fable.internal.Libc.open("/etc/passwd", 0);
        assertTrue(passwd >= 0, "open /etc/passwd");
        LegServices services = new LegServices(LeakDetector.Level.OFF, "log-cap", Liveness.OFF, LIMITS);
        try {
            ShmTransport transport = new ShmTransport(dir.resolve("shm"), services);
            String refused = acceptOver(dir, transport, hello(0, SLOT, SLOTS, 1 << 26, passwd, passwd));
            assertTrue(refused.contains("a log of 67108864 B") && refused.contains("Fable.Context.maxPeerPoolBytes")
                    && refused.contains(LIMITS.maxPoolBytes() + " B") && refused.contains("logBytes"), refused);
            String mapped = acceptOver(dir, transport, hello(0, SLOT, SLOTS, 1 << 25, passwd, passwd));
            assertFalse(mapped.contains("maxPeerPoolBytes"), "32 MiB of log and 4 slots are within the cap: " + mapped);
        } finally {
            dev.fable.internal.Libc.close(passwd);
            services.close();
        }
    }

    /** Offers {@code hello} (after the transport name) to the acceptor; returns the reason it refused it with, as the connector was told. */
    private static String acceptOver(Path dir, ShmTransport transport, byte[] hello) throws Exception {
        Path sock = dir.resolve("c.sock");
        java.nio.file.Files.deleteIfExists(sock);
        try (ServerSocketChannel server = ServerSocketChannel.open(StandardProtocolFamily.UNIX).bind(UnixDomainSocketAddress.of(sock));
             SocketChannel connector = SocketChannel.open(UnixDomainSocketAddress.of(sock));
             SocketChannel acceptor = server.accept()) {
            ControlChannel theirs = new ControlChannel(connector, "hostile connector");
            ControlChannel ours = new ControlChannel(acceptor, "victim acceptor");
            FableException e = assertThrows(FableException.class, () -> transport.accept(ours, "svc", ByteBuffer.wrap(hello), ConnectOptions.trusted()));
            ByteBuffer reply = theirs.readFrame(System.nanoTime() + TimeUnit.SECONDS.toNanos(10));
            assertEquals(Transport.REJECT, Frames.getByte(reply, "reply type"), "the connector is told");
            String why = Frames.getString(reply, "reason");
            assertTrue(why.contains(e.getMessage()) || e.getMessage().contains(why), e.getMessage() + " / " + why);
            return why;
        }
    }

    @Test
    void hellosOnlyEverMapOrRefuse() {
        List<byte[]> seeds = new ArrayList<>();
        for (int m = 0; m < WaitMode.values().length; m++) seeds.add(hello(m, SLOT, SLOTS, pool, ring));
        seeds.add(hello(0, SLOT, 2, pool, ring));            // smaller than the memfds: maps, headers disagree
        seeds.add(hello(0, 1 << 20, 1 << 10, pool, ring));   // larger than the memfds, and the cap
        seeds.add(hello(0, SLOT, SLOTS, 0, ring));           // descriptor 0: not a memfd
        seeds.add(hello(0, SLOT, SLOTS, 1 << 26, pool, ring));                  // a log past the cap
        seeds.add(hello(0, SLOT, SLOTS, 2 * LOG, pool, ring));                  // a log larger than the memfd
        seeds.add(hello(0, SLOT, SLOTS, ConnectOptions.MAX_LOG_BYTES, pool, ring));
        for (int log : new int[] {LOG + 1, LOG / 2, 1 << 31}) seeds.add(hello(0, SLOT, SLOTS, log, pool, ring));   // malformed logs
        // Warm-up beyond the fuzzer's own (each seed once): the method handles of the native calls a mapping makes
        // (open, fcntl, fstat, mmap, close) are customized after 127 calls each, spinning classes on the calling thread
        // (about 200 KB), which must not be counted against whichever input happens to make the 127th call.
        for (int i = 0; i < 300; i++) {
            for (byte[] s : seeds) {
                try {
                    acceptHello(s);
                } catch (FableException expected) {
                    // the seeds that are refused
                }
            }
        }
        Fuzz.target("shm: HELLO and the peer's files")
                .seeds(seeds)
                .inputs(HELLO_INPUTS)
                .maxLength(3 * 4096 + 64)
                .expecting(FableException.class)
                .allocationCap(n -> 64 * 1024 + 16 * n)
                .run(ShmHandshakeFuzzTest::acceptHello);
    }

    @Test
    void repliesOnlyEverParseOrRefuse() {
        List<byte[]> seeds = new ArrayList<>();
        for (int m = 0; m < WaitMode.values().length; m++) seeds.add(reply(m, SLOT, SLOTS, LOG, m % 2 == 0));
        seeds.add(reply(0, SLOT, SLOTS, ConnectOptions.MAX_LOG_BYTES, true));
        seeds.add(reply(0, SLOT, SLOTS, 3 << 16, true));
        seeds.add(reply(2, SLOT, SLOTS, LOG, true, 7, 4096, 256));   // with a fan-out section
        seeds.add(reply(2, SLOT, SLOTS, LOG, true, 7, 1 << 20, 1 << 10));
        ByteBuffer refused = ByteBuffer.allocate(64).put(Transport.REJECT);
        Frames.putString(refused, "no such endpoint");
        seeds.add(array(refused));
        Fuzz.target("shm: ACCEPT")
                .seeds(seeds)
                .inputs(REPLY_INPUTS)
                .maxLength(3 * 4096 + 64)
                .expecting(FableException.class)
                .allocationCap(n -> 32 * 1024 + 16 * n)
                .run(ShmHandshakeFuzzTest::connectorReply);
    }

    @Test
    void headersOnlyEverValidateOrSayWhy() {
        int max = ConnectOptions.MAX_LOG_BYTES;
        Fuzz.target("shm: file headers")
                .seeds(List.of(headerSeed(SLOT, SLOTS, LOG, SLOT, SLOTS, LOG),
                        headerSeed(ConnectOptions.MAX_SLOT_SIZE, ConnectOptions.MAX_SLOT_COUNT, max, ConnectOptions.MAX_SLOT_SIZE, ConnectOptions.MAX_SLOT_COUNT, max),
                        headerSeed(SLOT, 3, LOG, SLOT, 3, LOG), headerSeed(SLOT, SLOTS, LOG, SLOT * 2, SLOTS, LOG),
                        headerSeed(SLOT, SLOTS, LOG, SLOT, SLOTS, LOG * 4)))
                .inputs(HEADER_INPUTS)
                .maxLength(68)
                .expecting()   // nothing may be thrown: a bad header is a returned reason
                .allocationCap(n -> 16 * 1024)
                .run(ShmHandshakeFuzzTest::headers);
    }
}
