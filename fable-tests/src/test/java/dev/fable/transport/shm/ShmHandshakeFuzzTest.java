package dev.fable.transport.shm;

import dev.fable.ConnectOptions;
import dev.fable.FableException;
import dev.fable.WaitMode;
import dev.fable.testing.Fuzz;
import dev.fable.transport.ControlChannel;
import dev.fable.transport.Frames;
import dev.fable.transport.Transport;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

/**
 * Fuzzing of the shared-memory handshake and its geometry: the connector's HELLO as the acceptor reads it
 * (version, target name, {@link ShmTransport.Side}) followed by the mapping of the peer's memfds as
 * {@code Incoming.map} does it ({@link ShmFiles#mapPeer} of the announced descriptors at the sizes the
 * announced geometry gives, then {@link RingReader#validateHeaders}) against real sealed memfds of this
 * process (a HELLO that names another pid is only parsed: the fuzzer must not map other processes' memory);
 * the acceptor's ACCEPT as the connector reads it (with the connection secret); and the file headers
 * themselves under {@link RingReader#validateHeaders}, in segments exactly as long as the headers, so
 * that a read beyond them fails. Only {@link FableException} (with {@code SharedMemoryException},
 * {@code CorruptChannelException}) may come out, or a returned reason.
 */
class ShmHandshakeFuzzTest {
    static final int HELLO_INPUTS = 12_000;
    static final int REPLY_INPUTS = 8_000;
    static final int HEADER_INPUTS = 10_000;
    private static final short VERSION = 3;
    private static final int SLOT = 64;
    private static final int SLOTS = 4;

    private static final long SELF = ProcessHandle.current().pid();
    private static Arena memfds;
    private static int pool;
    private static int ring;
    private static SocketChannel unconnected;
    private static ControlChannel control;

    @BeforeAll
    static void peerFiles() throws IOException {
        // a peer's real pair of sealed memfds for 4 slots of 64 B, headers initialised as a writer does
        memfds = Arena.ofShared();
        ShmFiles.Sealed p = ShmFiles.createSealed(ShmFiles.newName("pool"), ShmLayout.poolBytes(SLOT, SLOTS), memfds, "fuzz pool");
        ShmFiles.Sealed r = ShmFiles.createSealed(ShmFiles.newName("ring"), ShmLayout.ringBytes(ShmLayout.capacityFor(SLOTS)), memfds, "fuzz ring");
        RingWriter.initialise(p.segment(), r.segment(), SLOT, SLOTS);
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

    private static void side(ByteBuffer b, long pid, String name, int mode, int slotSize, int slotCount, int poolFd, int ringFd) {
        b.putLong(pid);
        Frames.putString(b, name);
        b.put((byte) mode).putInt(slotSize).putInt(slotCount);
        b.putInt(poolFd).putInt(ringFd);
    }

    private static byte[] array(ByteBuffer b) {
        return Arrays.copyOf(b.array(), b.position());
    }

    static byte[] hello(int mode, int slotSize, int slotCount, int poolFd, int ringFd) {
        ByteBuffer b = ByteBuffer.allocate(16 * 1024).putShort(VERSION);
        Frames.putString(b, "svc");
        side(b, SELF, "client", mode, slotSize, slotCount, poolFd, ringFd);
        return array(b);
    }

    static byte[] reply(int mode, int slotSize, int slotCount, boolean secret) {
        ByteBuffer b = ByteBuffer.allocate(16 * 1024).put((byte) 2);
        side(b, 4243, "svc", mode, slotSize, slotCount, pool, ring);
        if (secret) b.put((byte) ControlChannel.SECRET_BYTES).put(new byte[ControlChannel.SECRET_BYTES]);
        else b.put((byte) 0);
        return array(b);
    }

    /** The geometry a Side may announce, and what the acceptor maps for it. */
    private static void checkGeometry(ShmTransport.Side s) {
        assertTrue(s.slotSize() >= 64 && s.slotSize() <= ConnectOptions.MAX_SLOT_SIZE && s.slotSize() % 64 == 0, "slot size " + s.slotSize());
        assertTrue(s.slotCount() >= 2 && s.slotCount() <= ConnectOptions.MAX_SLOT_COUNT, "slot count " + s.slotCount());
        long poolBytes = ShmLayout.poolBytes(s.slotSize(), s.slotCount());
        long ringBytes = ShmLayout.ringBytes(ShmLayout.capacityFor(s.slotCount()));
        assertTrue(poolBytes > ShmLayout.POOL_HEADER && poolBytes <= ShmLayout.POOL_HEADER + ((long) ConnectOptions.MAX_SLOT_SIZE << 24), "pool of " + poolBytes);
        assertTrue(ShmLayout.capacityFor(s.slotCount()) >= s.slotCount() && ringBytes > ShmLayout.ENTRIES && ringBytes <= ShmLayout.ENTRIES + (16L << 25),
                "ring of " + ringBytes + " for " + s.slotCount() + " slots");
    }

    /** The acceptor's side: HELLO after the transport name, then Incoming.map of what it announced. */
    static String acceptHello(byte[] input) {
        ByteBuffer hello = ByteBuffer.wrap(input);
        short version = hello.remaining() >= 2 ? hello.getShort() : -1;
        if (version != VERSION) return "other version";
        String wanted = Frames.getString(hello, "target name");
        ShmTransport.Side peer = ShmTransport.Side.read(hello);
        checkGeometry(peer);
        if (peer.pid() != SELF) return "another pid";   // never map another process's memory from a fuzzer
        try (Arena arena = Arena.ofConfined()) {   // Incoming.map
            MemorySegment p = ShmFiles.mapPeer(peer.pid(), peer.poolFd(), ShmLayout.poolBytes(peer.slotSize(), peer.slotCount()), true, arena, "pool");
            MemorySegment r = ShmFiles.mapPeer(peer.pid(), peer.ringFd(), ShmLayout.ringBytes(ShmLayout.capacityFor(peer.slotCount())), false, arena, "ring");
            String bad = RingReader.validateHeaders(p, r, peer.slotSize(), peer.slotCount());
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
        return "accepted " + peer.waitMode() + (reply.hasRemaining() ? " with trailing bytes" : "");
    }

    /** Headers: int slotSize, int slotCount (as the handshake said), then 32 B of pool header and 24 B of ring header. */
    static String headers(byte[] input) {
        ByteBuffer in = ByteBuffer.wrap(Arrays.copyOf(input, Math.max(input.length, 64)));
        int slotSize = in.getInt();
        int slotCount = in.getInt();
        MemorySegment p = MemorySegment.ofArray(new long[4]);   // the 32 B the reader may look at, no more
        MemorySegment r = MemorySegment.ofArray(new long[3]);   // and 24
        p.copyFrom(MemorySegment.ofArray(Arrays.copyOfRange(in.array(), 8, 40)));
        r.copyFrom(MemorySegment.ofArray(Arrays.copyOfRange(in.array(), 40, 64)));
        String bad = RingReader.validateHeaders(p, r, slotSize, slotCount);
        return bad == null ? "valid" : bad.replaceAll("-?[0-9]+", "#");
    }

    static byte[] headerSeed(int slotSize, int slotCount, int announcedSize, int announcedCount) {
        MemorySegment p = MemorySegment.ofArray(new long[4]);
        MemorySegment r = MemorySegment.ofArray(new long[3]);
        RingWriter.initialise(p, r, slotSize, slotCount);
        ByteBuffer b = ByteBuffer.allocate(64).putInt(announcedSize).putInt(announcedCount);
        b.put(p.toArray(java.lang.foreign.ValueLayout.JAVA_BYTE)).put(r.toArray(java.lang.foreign.ValueLayout.JAVA_BYTE));
        return b.array();
    }

    @Test
    void seedsMapAndValidate() throws IOException {
        assertEquals("mapped", acceptHello(hello(1, SLOT, SLOTS, pool, ring)));
        assertTrue(acceptHello(hello(1, SLOT, 2, pool, ring)).startsWith("bad headers"));   // memfds larger than announced
        assertThrows(SharedMemory(), () -> acceptHello(hello(1, SLOT, SLOTS, ring, pool)));   // the ring is too small for a pool
        assertEquals("accepted " + WaitMode.values()[1], connectorReply(reply(1, SLOT, SLOTS, true)));
        assertEquals("valid", headers(headerSeed(SLOT, SLOTS, SLOT, SLOTS)));
        int passwd = dev.fable.internal.Libc.open("/etc/passwd", 0);
        try {
            assertThrows(SharedMemory(), () -> acceptHello(hello(0, SLOT, SLOTS, passwd, ring)));   // not a Fable memfd
        } finally {
            dev.fable.internal.Libc.close(passwd);
        }
        assertThrows(FableException.class, () -> acceptHello(hello(0, SLOT, SLOTS, -1, ring)));
        assertThrows(FableException.class, () -> acceptHello(hello(0, 65, SLOTS, pool, ring)));
        assertThrows(FableException.class, () -> acceptHello(hello(0, SLOT, 1 + ConnectOptions.MAX_SLOT_COUNT, pool, ring)));
    }

    private static Class<dev.fable.SharedMemoryException> SharedMemory() {
        return dev.fable.SharedMemoryException.class;
    }

    @Test
    void hellosOnlyEverMapOrRefuse() {
        List<byte[]> seeds = new ArrayList<>();
        for (int m = 0; m < WaitMode.values().length; m++) seeds.add(hello(m, SLOT, SLOTS, pool, ring));
        seeds.add(hello(0, SLOT, 2, pool, ring));            // smaller than the memfds: maps, headers disagree
        seeds.add(hello(0, 1 << 20, 1 << 10, pool, ring));   // larger than the memfds
        seeds.add(hello(0, SLOT, SLOTS, 0, ring));           // descriptor 0: not a memfd
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
        for (int m = 0; m < WaitMode.values().length; m++) seeds.add(reply(m, SLOT, SLOTS, m % 2 == 0));
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
        Fuzz.target("shm: file headers")
                .seeds(List.of(headerSeed(SLOT, SLOTS, SLOT, SLOTS), headerSeed(ConnectOptions.MAX_SLOT_SIZE, ConnectOptions.MAX_SLOT_COUNT,
                        ConnectOptions.MAX_SLOT_SIZE, ConnectOptions.MAX_SLOT_COUNT), headerSeed(SLOT, 3, SLOT, 3), headerSeed(SLOT, SLOTS, SLOT * 2, SLOTS)))
                .inputs(HEADER_INPUTS)
                .maxLength(64)
                .expecting()   // nothing may be thrown: a bad header is a returned reason
                .allocationCap(n -> 16 * 1024)
                .run(ShmHandshakeFuzzTest::headers);
    }
}
