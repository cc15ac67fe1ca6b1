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
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.channels.SocketChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

/**
 * Fuzzing of the shared-memory handshake and its geometry: the connector's HELLO as the acceptor reads it
 * (version, target name, {@link ShmTransport.Side}) followed by the mapping of the peer's files as
 * {@code Incoming.map} does it ({@link ShmFiles#mapPeer} of the announced paths at the sizes the announced
 * geometry gives, then {@link RingReader#validateHeaders}) against real files in a private directory;
 * the acceptor's ACCEPT as the connector reads it (with the connection secret); and the file headers
 * themselves under {@link RingReader#validateHeaders}, in segments exactly as long as the headers, so
 * that a read beyond them fails. Only {@link FableException} (with {@code SharedMemoryException},
 * {@code CorruptChannelException}) may come out, or a returned reason.
 */
class ShmHandshakeFuzzTest {
    static final int HELLO_INPUTS = 12_000;
    static final int REPLY_INPUTS = 8_000;
    static final int HEADER_INPUTS = 10_000;
    private static final short VERSION = 2;
    private static final int SLOT = 64;
    private static final int SLOTS = 4;

    private static Path dir;
    private static ShmFiles files;
    private static Path pool;
    private static Path ring;
    private static SocketChannel unconnected;
    private static ControlChannel control;

    @BeforeAll
    static void peerFiles(@TempDir Path tmp) throws IOException {
        dir = tmp;
        files = new ShmFiles(dir);
        pool = dir.resolve("peer.pool");
        ring = dir.resolve("peer.ring");
        // a peer's real pair of files for 4 slots of 64 B, headers initialised as a writer does
        try (Arena a = Arena.ofConfined();
             FileChannel p = FileChannel.open(pool, StandardOpenOption.CREATE, StandardOpenOption.READ, StandardOpenOption.WRITE);
             FileChannel r = FileChannel.open(ring, StandardOpenOption.CREATE, StandardOpenOption.READ, StandardOpenOption.WRITE)) {
            long poolBytes = ShmLayout.poolBytes(SLOT, SLOTS);
            long ringBytes = ShmLayout.ringBytes(ShmLayout.capacityFor(SLOTS));
            p.write(ByteBuffer.allocate(1), poolBytes - 1);
            r.write(ByteBuffer.allocate(1), ringBytes - 1);
            RingWriter.initialise(p.map(FileChannel.MapMode.READ_WRITE, 0, poolBytes, a), r.map(FileChannel.MapMode.READ_WRITE, 0, ringBytes, a),
                    SLOT, SLOTS);
        }
        unconnected = SocketChannel.open();
        control = new ControlChannel(unconnected, "fuzz");
    }

    @AfterAll
    static void close() throws IOException {
        if (unconnected != null) unconnected.close();
    }

    private static void side(ByteBuffer b, long pid, String name, int mode, int slotSize, int slotCount, String poolPath, String ringPath) {
        b.putLong(pid);
        Frames.putString(b, name);
        b.put((byte) mode).putInt(slotSize).putInt(slotCount);
        Frames.putString(b, poolPath);
        Frames.putString(b, ringPath);
    }

    private static byte[] array(ByteBuffer b) {
        return Arrays.copyOf(b.array(), b.position());
    }

    static byte[] hello(int mode, int slotSize, int slotCount, String poolPath, String ringPath) {
        ByteBuffer b = ByteBuffer.allocate(16 * 1024).putShort(VERSION);
        Frames.putString(b, "svc");
        side(b, 4242, "client", mode, slotSize, slotCount, poolPath, ringPath);
        return array(b);
    }

    static byte[] reply(int mode, int slotSize, int slotCount, boolean secret) {
        ByteBuffer b = ByteBuffer.allocate(16 * 1024).put((byte) 2);
        side(b, 4243, "svc", mode, slotSize, slotCount, pool.toString(), ring.toString());
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
        try (Arena arena = Arena.ofConfined()) {   // Incoming.map
            MemorySegment p = files.mapPeer(peer.pool(), ShmLayout.poolBytes(peer.slotSize(), peer.slotCount()), true, arena, "pool");
            MemorySegment r = files.mapPeer(peer.ring(), ShmLayout.ringBytes(ShmLayout.capacityFor(peer.slotCount())), false, arena, "ring");
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

    /** Headers: int slotSize, int slotCount (as the handshake said), then 24 B of pool header and 24 B of ring header. */
    static String headers(byte[] input) {
        ByteBuffer in = ByteBuffer.wrap(Arrays.copyOf(input, Math.max(input.length, 56)));
        int slotSize = in.getInt();
        int slotCount = in.getInt();
        MemorySegment p = MemorySegment.ofArray(new long[3]);   // the 24 B the reader may look at, no more
        MemorySegment r = MemorySegment.ofArray(new long[3]);
        p.copyFrom(MemorySegment.ofArray(Arrays.copyOfRange(in.array(), 8, 32)));
        r.copyFrom(MemorySegment.ofArray(Arrays.copyOfRange(in.array(), 32, 56)));
        String bad = RingReader.validateHeaders(p, r, slotSize, slotCount);
        return bad == null ? "valid" : bad.replaceAll("-?[0-9]+", "#");
    }

    static byte[] headerSeed(int slotSize, int slotCount, int announcedSize, int announcedCount) {
        MemorySegment p = MemorySegment.ofArray(new long[3]);
        MemorySegment r = MemorySegment.ofArray(new long[3]);
        RingWriter.initialise(p, r, slotSize, slotCount);
        ByteBuffer b = ByteBuffer.allocate(56).putInt(announcedSize).putInt(announcedCount);
        b.put(p.toArray(java.lang.foreign.ValueLayout.JAVA_BYTE)).put(r.toArray(java.lang.foreign.ValueLayout.JAVA_BYTE));
        return b.array();
    }

    @Test
    void seedsMapAndValidate() {
        assertEquals("mapped", acceptHello(hello(1, SLOT, SLOTS, pool.toString(), ring.toString())));
        assertTrue(acceptHello(hello(1, SLOT, 2, pool.toString(), ring.toString())).startsWith("bad headers"));   // files larger than announced
        assertThrows(SharedMemory(), () -> acceptHello(hello(1, SLOT, SLOTS, ring.toString(), pool.toString())));   // the ring is too small for a pool
        assertEquals("accepted " + WaitMode.values()[1], connectorReply(reply(1, SLOT, SLOTS, true)));
        assertEquals("valid", headers(headerSeed(SLOT, SLOTS, SLOT, SLOTS)));
        assertThrows(SharedMemory(), () -> acceptHello(hello(0, SLOT, SLOTS, "/etc/passwd", ring.toString())));
        // the fuzzer's first two finds: a path with a NUL byte (was InvalidPathException), a path without a directory (was NullPointerException)
        assertThrows(FableException.class, () -> acceptHello(hello(0, SLOT, SLOTS, pool + "\0", ring.toString())));
        assertThrows(SharedMemory(), () -> acceptHello(hello(0, SLOT, SLOTS, "", ring.toString())));
        assertThrows(SharedMemory(), () -> acceptHello(hello(0, SLOT, SLOTS, pool.toString(), "peer.ring")));
        assertThrows(FableException.class, () -> acceptHello(hello(0, 65, SLOTS, pool.toString(), ring.toString())));
        assertThrows(FableException.class, () -> acceptHello(hello(0, SLOT, 1 + ConnectOptions.MAX_SLOT_COUNT, pool.toString(), ring.toString())));
    }

    private static Class<dev.fable.SharedMemoryException> SharedMemory() {
        return dev.fable.SharedMemoryException.class;
    }

    @Test
    void hellosOnlyEverMapOrRefuse() {
        List<byte[]> seeds = new ArrayList<>();
        for (int m = 0; m < WaitMode.values().length; m++) seeds.add(hello(m, SLOT, SLOTS, pool.toString(), ring.toString()));
        seeds.add(hello(0, SLOT, 2, pool.toString(), ring.toString()));            // smaller than the files: maps, headers disagree
        seeds.add(hello(0, 1 << 20, 1 << 10, pool.toString(), ring.toString()));   // larger than the files
        seeds.add(hello(0, SLOT, SLOTS, dir.resolve("absent.pool").toString(), ring.toString()));
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
