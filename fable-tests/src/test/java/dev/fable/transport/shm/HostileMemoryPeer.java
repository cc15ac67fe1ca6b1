package dev.fable.transport.shm;

import dev.fable.Buffer;
import dev.fable.ConnectOptions;
import dev.fable.Connection;
import dev.fable.Endpoint;
import dev.fable.Fable;
import dev.fable.FableException;
import dev.fable.WaitMode;
import dev.fable.endpoint.FableRuntime;
import dev.fable.flow.LiveConnection;
import dev.fable.internal.Libc;
import dev.fable.transport.ControlChannel;
import dev.fable.transport.Frames;
import dev.fable.transport.Leg;
import dev.fable.transport.LegServices;
import dev.fable.transport.PeerRef;
import dev.fable.transport.Transport;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.reflect.Field;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;

import static dev.fable.transport.shm.HostilePeer.nextCommand;
import static dev.fable.transport.shm.HostilePeer.say;

/**
 * The hostile process of {@code PeerMemoryCapsTest}: a second JVM whose shared-memory transport is
 * replaced (reflection into its own set-up, test code only) by {@link Crafted}, which speaks the real
 * handshake but declares whatever geometry it is told, may offer an unsealed memfd, and keeps its
 * descriptors so it can try to truncate its pool and ring mid-stream. Stream cases use the public API
 * and, for a frame that lies about its length, the connection's own socket.
 *
 * <p>Modes ({@code args[0]}), each printing lines the test waits for:
 * <ul>
 *   <li>{@code declare EP SLOT_SIZE SLOT_COUNT REAL}: connects to EP declaring that geometry; its memfds are 8 slots
 *       of 4 KiB, or the declared geometry itself when REAL is {@code true}. Prints {@code REFUSED reason} or {@code ACCEPTED}.</li>
 *   <li>{@code listen-declare SLOT_SIZE SLOT_COUNT}: listens (prints {@code READY name}); answers every shm HELLO with that
 *       geometry and prints what the connector said then: {@code GOT-REJECT reason} or {@code GOT type}.</li>
 *   <li>{@code unsealed EP}: connects offering memfds without seals; prints {@code REFUSED reason} or {@code ACCEPTED}.</li>
 *   <li>{@code truncate EP}: connects (sealed memfds, descriptors kept), sends longs 0..99, prints {@code SENT-BEFORE};
 *       on {@code TRUNCATE} truncates its pool and ring to 0 (prints {@code TRUNCATE pool=ERRNO ring=ERRNO}), sends
 *       100..199, prints {@code SENT-AFTER}; on {@code EXIT} halts without closing.</li>
 *   <li>{@code stream-declare EP}: connects over unix with 16 MiB slots; prints {@code REFUSED reason} or {@code ACCEPTED}.</li>
 *   <li>{@code stream-listen-declare}: listens with 16 MiB slots, prints {@code READY name}, then waits for EXIT.</li>
 *   <li>{@code stream-frame EP}: connects over unix with 4 KiB slots, sends "ok", then writes a frame header claiming
 *       16 MiB and 64 KiB of junk on the socket; prints {@code WROTE}; halts on {@code EXIT}.</li>
 * </ul>
 */
public final class HostileMemoryPeer {
    private HostileMemoryPeer() {}

    static final List<ShmTransport.Outgoing> KEPT = new CopyOnWriteArrayList<>();

    static Object field(Object o, String name) throws ReflectiveOperationException {
        Field f = o.getClass().getDeclaredField(name);
        f.setAccessible(true);
        return f.get(o);
    }

    /** Replaces the set-up's shm transport by {@code t} (its registry's map is rebuilt with it). */
    static void install(Fable f, java.util.function.Function<LegServices, Transport> make) throws ReflectiveOperationException {
        FableRuntime rt = (FableRuntime) field(f, "runtime");
        Object registry = field(rt, "transports");
        Field byName = registry.getClass().getDeclaredField("byName");
        byName.setAccessible(true);
        @SuppressWarnings("unchecked")
        Map<String, Transport> m = new HashMap<>((Map<String, Transport>) byName.get(registry));
        m.put(ShmTransport.NAME, make.apply(rt.services()));
        byName.set(registry, m);
    }

    /** Memfds for a pool and ring of this geometry and log, initialised; sealed as Fable seals them, or not at all. */
    static ShmTransport.Outgoing outgoing(int slotSize, int slotCount, int logBytes, boolean sealed) {
        if (sealed) return ShmTransport.Outgoing.create(new ShmFiles(ShmFiles.defaultDirectory()), slotSize, slotCount, logBytes);
        Arena arena = Arena.ofShared();
        ShmFiles.Sealed pool = unsealed(ShmLayout.poolBytes(slotSize, slotCount), arena);
        ShmFiles.Sealed ring = unsealed(ShmLayout.ringBytes(logBytes), arena);
        RingWriter.initialise(pool.segment(), ring.segment(), slotSize, slotCount, logBytes);
        return new ShmTransport.Outgoing(arena, slotSize, slotCount, logBytes, pool, ring);
    }

    private static ShmFiles.Sealed unsealed(long size, Arena arena) {
        int fd = Libc.memfdReserved(ShmFiles.newName("unsealed"), size);
        if (fd < 0) throw new IllegalStateException("memfd: " + Libc.strerror(-fd));
        try (FileChannel ch = FileChannel.open(Path.of("/proc/self/fd/" + fd), StandardOpenOption.READ, StandardOpenOption.WRITE)) {
            return new ShmFiles.Sealed(fd, ch.map(FileChannel.MapMode.READ_WRITE, 0, size, arena));
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
    }

    /**
     * The real shm handshake with a lying side: {@code declaredSize} × {@code declaredCount} announced over memfds
     * of {@code realSize} × {@code realCount} ({@code sealed} or not); the log, declared and real, is the options' own.
     * Its descriptors stay open (in {@link #KEPT}).
     */
    static final class Crafted implements Transport {
        final LegServices services;
        final int declaredSize, declaredCount, realSize, realCount;
        final boolean sealed;

        Crafted(LegServices services, int declaredSize, int declaredCount, int realSize, int realCount, boolean sealed) {
            this.services = services;
            this.declaredSize = declaredSize;
            this.declaredCount = declaredCount;
            this.realSize = realSize;
            this.realCount = realCount;
            this.sealed = sealed;
        }

        @Override public String name() { return ShmTransport.NAME; }
        @Override public boolean crossesHosts() { return false; }

        private ShmTransport.Side lie(ShmTransport.Outgoing out, String localName) {
            return new ShmTransport.Side(ProcessHandle.current().pid(), localName, WaitMode.ADAPTIVE, declaredSize, declaredCount,
                    out.logBytes(), out.poolFile().fd(), out.ringFile().fd());
        }

        @Override
        public Leg connect(java.util.function.Supplier<ControlChannel> opener, String localName, PeerRef route, ConnectOptions options) {
            ShmTransport.Outgoing out = outgoing(realSize, realCount, options.logBytes(), sealed);
            KEPT.add(out);
            ControlChannel control = opener.get();
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
            ByteBuffer hello = ByteBuffer.allocate(ControlChannel.MAX_FRAME);
            Frames.putString(hello, ShmTransport.NAME);
            hello.putShort(ShmTransport.VERSION);
            Frames.putString(hello, route.name());
            lie(out, localName).write(hello);
            control.writeFrame(hello.flip());
            ByteBuffer reply = control.readFrame(deadline);
            byte type = Frames.getByte(reply, "reply type");
            if (type == Transport.REJECT) {
                control.close();
                throw new FableException("REFUSED " + Frames.getString(reply, "reason"));
            }
            ShmTransport.Side peer = ShmTransport.Side.read(reply);
            control.takeSecret(reply);
            java.lang.foreign.Arena inArena = java.lang.foreign.Arena.ofShared();
            ShmTransport.Incoming in = ShmTransport.Incoming.map(inArena, peer, null);
            control.writeFrame(ByteBuffer.allocate(1).put(0, ShmTransport.READY));
            control.handshakeDone();
            return new ShmConnection(localName, peer.name(), peer.pid(), options, out.arena(), inArena, control, out.pool(), out.ring(),
                    in.pool(), in.ring(), peer.slotSize(), peer.slotCount(), peer.logBytes(), peer.waitMode(), services);
        }

        @Override
        public Leg accept(ControlChannel control, String localName, ByteBuffer hello, ConnectOptions options) {
            hello.getShort();
            Frames.getString(hello, "target name");
            ShmTransport.Side.read(hello);
            ShmTransport.Outgoing out = outgoing(realSize, realCount, options.logBytes(), sealed);
            KEPT.add(out);
            ByteBuffer reply = ByteBuffer.allocate(ControlChannel.MAX_FRAME).put(ShmTransport.ACCEPT);
            lie(out, localName).write(reply);
            control.putSecret(reply);
            control.writeFrame(reply.flip());
            ByteBuffer next = control.readFrame(System.nanoTime() + TimeUnit.SECONDS.toNanos(30));
            byte type = Frames.getByte(next, "type");
            if (type == Transport.REJECT) say("GOT-REJECT " + Frames.getString(next, "reason"));
            else say("GOT " + type);
            control.close();
            throw new FableException("the hostile acceptor is done");
        }
    }

    /** Runs the handshakes of incoming connections (they run in accept()); says how each failed. */
    private static void acceptInBackground(Endpoint ep) {
        Thread t = new Thread(() -> {
            while (true) {
                try {
                    Connection c = ep.accept(Duration.ofSeconds(60));
                    if (c != null) say("ACCEPTED " + c);
                } catch (FableException e) {
                    say("ACCEPT-FAILED " + e.getMessage());
                }
            }
        }, "hostile-accept");
        t.setDaemon(true);
        t.start();
    }

    private static void tryConnect(Fable f, String uri, ConnectOptions o) {
        try (Connection c = f.open(uri, o)) {
            say("ACCEPTED " + c);
        } catch (FableException e) {
            String m = e.getMessage();
            int at = m.indexOf("REFUSED ");
            say(at >= 0 ? m.substring(at) : "REFUSED " + m);
        }
    }

    private static void sendLong(Connection c, long v) {
        Buffer b = c.claim(8, Duration.ofSeconds(30));
        if (b == null) throw new IllegalStateException("no room for 30 s");
        b.putLong(0, v);
        b.commit();
    }

    public static void main(String[] args) throws Exception {
        HostilePeer.readCommands();
        Fable f = Fable.launch(new Fable.Context());
        switch (args[0]) {
            case "declare" -> {
                int size = Integer.parseInt(args[2]);
                int count = Integer.parseInt(args[3]);
                boolean real = Boolean.parseBoolean(args[4]);
                install(f, s -> new Crafted(s, size, count, real ? size : 4096, real ? count : 8, true));
                tryConnect(f, "xio+shm://" + args[1], ConnectOptions.trusted());
            }
            case "unsealed" -> {
                install(f, s -> new Crafted(s, 4096, 8, 4096, 8, false));
                tryConnect(f, "xio+shm://" + args[1], ConnectOptions.trusted());
            }
            case "listen-declare" -> {
                int size = Integer.parseInt(args[1]);
                int count = Integer.parseInt(args[2]);
                Endpoint ep = f.endpoint(dev.fable.testing.Names.unique("hostile-acceptor")).listen();
                install(f, s -> new Crafted(s, size, count, 4096, 8, true));   // after listen(): it prepares a real pool
                acceptInBackground(ep);
                say("READY " + ep.name());
            }
            case "truncate" -> truncate(f, args[1]);
            case "stream-declare" -> tryConnect(f, "xio+unix://" + args[1], ConnectOptions.trusted().slotSize(16 << 20));
            case "stream-listen-declare" -> {
                Endpoint ep = f.endpoint(dev.fable.testing.Names.unique("hostile-stream")).listen(ConnectOptions.trusted().slotSize(16 << 20));
                acceptInBackground(ep);
                say("READY " + ep.name());
            }
            case "stream-frame" -> streamFrame(f, args[1]);
            default -> throw new IllegalArgumentException(args[0]);
        }
        HostilePeer.EXIT.await();
        Runtime.getRuntime().halt(0);   // no clean close: the survivor sees its peer gone
    }

    private static void truncate(Fable f, String ep) throws Exception {
        install(f, s -> new Crafted(s, 4096, 8, 4096, 8, true));
        Connection c = f.open("xio+shm://" + ep, ConnectOptions.trusted().slotSize(4096).slotCount(8));
        for (long i = 0; i < 100; i++) sendLong(c, i);
        say("SENT-BEFORE");
        String cmd = nextCommand();
        if (!cmd.equals("TRUNCATE")) throw new IllegalStateException("expected TRUNCATE, got " + cmd);
        ShmTransport.Outgoing out = KEPT.get(0);
        int pool = Libc.ftruncate(out.poolFile().fd(), 0);
        int ring = Libc.ftruncate(out.ringFile().fd(), 0);
        say("TRUNCATE pool=" + pool + " ring=" + ring);
        try {
            for (long i = 100; i < 200; i++) sendLong(c, i);
            say("SENT-AFTER");
        } catch (Throwable t) {
            say("HOSTILE-FAULT " + t);   // its own pool is gone too (only without seals)
        }
    }

    private static void streamFrame(Fable f, String ep) throws Exception {
        Connection c = f.open("xio+unix://" + ep, ConnectOptions.trusted().slotSize(4096));
        c.send("ok".getBytes(StandardCharsets.US_ASCII));
        Object leg = ((LiveConnection) c).leg();
        SocketChannel ch = (SocketChannel) field(leg, "channel");
        ByteBuffer lie = ByteBuffer.allocate(8 + (64 << 10)).order(ByteOrder.LITTLE_ENDIAN);
        lie.putInt(0, 16 << 20).putInt(4, 0);
        while (lie.hasRemaining()) {   // the sender is idle (send() returned): nothing else writes the socket now
            if (ch.write(lie) == 0) Thread.onSpinWait();
        }
        say("WROTE");
    }
}
