package dev.fable.transport.shm;

import dev.fable.ConnectOptions;
import dev.fable.FableException;
import dev.fable.buffer.LeakDetector;
import dev.fable.testing.Await;
import dev.fable.transport.ControlChannel;
import dev.fable.transport.Frames;
import dev.fable.transport.LegServices;
import dev.fable.transport.Liveness;
import dev.fable.transport.Transport;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;

import static org.junit.jupiter.api.Assertions.*;

/**
 * The accepting side of the shm transport checks the connector's HELLO, and maps and validates the
 * memfds it names, before it obtains its own outgoing pool: a hostile hello (memfds whose headers are
 * garbage or that are smaller than their geometry, descriptors that are not Fable's memfds, a
 * geometry out of range) is refused with a REJECT frame that gives the reason, the pool this process
 * had prepared ({@link PoolReserve}) is still there untouched, and no memfd of ours appeared.
 * {@link ShmTransport#accept} is driven directly, over a real Unix socket pair.
 */
class ShmAcceptChecksHelloFirstTest {
    private static final ConnectOptions OPTIONS = ConnectOptions.trusted().slotSize(64).slotCount(4);
    private static final short SHM_HANDSHAKE_VERSION = 5;

    @TempDir
    Path dir;
    private LegServices services;
    private ShmTransport transport;
    private AtomicReference<?> prepared;

    @BeforeEach
    void prepareAPool() {
        services = new LegServices(LeakDetector.Level.OFF, "hello-first", Liveness.OFF, dev.fable.transport.PeerLimits.DEFAULTS);
        transport = new ShmTransport(dir.resolve("shm"), services);
        transport.prepare(OPTIONS);
        prepared = (AtomicReference<?>) HostileAccess.field(HostileAccess.field(transport, "reserve"), "ready");
        Await.until(() -> prepared.get() != null, Duration.ofSeconds(10), () -> "the reserve prepared no pool");
    }

    @AfterEach
    void close() {
        if (prepared.getAndSet(null) instanceof ShmTransport.Outgoing o) {
            o.unlink();
            o.arena().close();
        }
        services.close();
        arena.close();
    }

    /** This process's Fable memfds held open. */
    private static Set<String> files() {
        return dev.fable.testing.ProcFs.memfdDescriptors(ProcessHandle.current().pid());
    }

    /** A sealed memfd of {@code size} zero bytes, named as this process's (its descriptor stays open for the test). */
    private int zeros(String name, long size) {
        return ShmFiles.createSealed(ShmFiles.newName(name), size, arena, "test " + name).fd();
    }

    private final java.lang.foreign.Arena arena = java.lang.foreign.Arena.ofShared();

    private static ByteBuffer hello(int slotSize, int slotCount, int poolFd, int ringFd) {
        ByteBuffer b = ByteBuffer.allocate(ControlChannel.MAX_FRAME);
        b.putShort(SHM_HANDSHAKE_VERSION);
        Frames.putString(b, "victim");
        b.putLong(ProcessHandle.current().pid());
        Frames.putString(b, "hostile");
        b.put((byte) 0).putInt(slotSize).putInt(slotCount).putInt(ConnectOptions.MIN_LOG_BYTES);
        b.putInt(poolFd).putInt(ringFd);
        return b.flip();
    }

    /** Offers {@code hello} to accept() over a real socket pair; asserts the refusal, the REJECT frame and the untouched reserve. */
    private void refused(ByteBuffer hello, String reason) throws Exception {
        Object pool = prepared.get();
        Set<String> before = files();
        Path sock = dir.resolve("c.sock");
        Files.deleteIfExists(sock);
        try (ServerSocketChannel server = ServerSocketChannel.open(StandardProtocolFamily.UNIX).bind(UnixDomainSocketAddress.of(sock));
             SocketChannel connector = SocketChannel.open(UnixDomainSocketAddress.of(sock));
             SocketChannel acceptor = server.accept()) {
            ControlChannel theirs = new ControlChannel(connector, "hostile connector");
            ControlChannel ours = new ControlChannel(acceptor, "victim acceptor");
            FableException e = assertThrows(FableException.class, () -> transport.accept(ours, "victim", hello, OPTIONS));
            assertTrue(e.getMessage().contains(reason), e.getMessage());
            ByteBuffer reply = theirs.readFrame(System.nanoTime() + TimeUnit.SECONDS.toNanos(10));
            assertEquals(Transport.REJECT, Frames.getByte(reply, "reply type"), "the connector is told");
            String why = Frames.getString(reply, "reason");
            assertTrue(why.contains(reason), why);
        }
        assertSame(pool, prepared.get(), "the prepared pool was not taken for a hello that was refused");
        assertEquals(before, files(), "no memfd of ours appeared (nor went)");
    }

    @Test
    void memfdsWithGarbageHeadersAreRefusedBeforeAnyPoolIsTaken() throws Exception {
        int pool = zeros("bogus.pool", ShmLayout.poolBytes(64, 4));
        int ring = zeros("bogus.ring", ShmLayout.ringBytes(ConnectOptions.MIN_LOG_BYTES));
        refused(hello(64, 4, pool, ring), "bad magic");
    }

    @Test
    void memfdsSmallerThanTheirGeometryAreRefusedBeforeAnyPoolIsTaken() throws Exception {
        int pool = zeros("small.pool", 4096);
        int ring = zeros("small.ring", 4096);
        refused(hello(64, 1024, pool, ring), "");
    }

    @Test
    void descriptorsThatAreNotFableMemfdsAreRefusedBeforeAnyPoolIsTaken() throws Exception {
        int passwd = dev.fable.internal.Libc.open("/etc/passwd", 0);
        assertTrue(passwd >= 0, "open /etc/passwd");
        try {
            refused(hello(64, 4, passwd, passwd), "");
        } finally {
            dev.fable.internal.Libc.close(passwd);
        }
    }

    @Test
    void aGeometryOutOfRangeIsRefusedWithTheReason() throws Exception {
        for (List<Integer> g : List.of(List.of(63, 4), List.of(64, 1), List.of(64, Integer.MAX_VALUE), List.of(-64, 4))) {
            refused(hello(g.get(0), g.get(1), 0, 0), "malformed handshake: pool of " + g.get(1) + " slots of " + g.get(0) + " B");
        }
    }
}
