package dev.fable.transport.shm;

import dev.fable.ConnectOptions;
import dev.fable.FableException;
import dev.fable.WaitMode;
import dev.fable.transport.ControlChannel;
import dev.fable.transport.Frames;
import dev.fable.transport.Transport;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import dev.fable.transport.PeerRef;
import dev.fable.transport.Leg;
import dev.fable.transport.LegServices;


/**
 * The shared-memory transport (Barrelfish bulk transport, one producer and one consumer per
 * direction). Each side creates the pool and ring of the direction it writes, the peer maps them
 * (pool read-only), and each side unlinks its files as soon as the peer confirms the mapping.
 *
 * <h2>Handshake (after the naming layer opened the control channel)</h2>
 * <pre>
 * connector → HELLO  "shm", version, pid, names, wait mode, slotSize, slotCount, pool path, ring path
 * acceptor  → ACCEPT pid, name, wait mode, slotSize, slotCount, pool path, ring path | REJECT reason
 * connector → READY
 * </pre>
 */
public final class ShmTransport implements Transport {
    public static final String NAME = "shm";
    private static final short VERSION = 2;   // 2: a reconfiguration leg ends its handshake with INSTALLED
    private static final byte ACCEPT = 2;
    private static final byte REJECT = Transport.REJECT;
    private static final byte READY = 4;
    /** Accepting side of a reconfiguration leg (epoch > 0) → connector: the leg is installed in the connection (see ShmConnection#installed). */
    static final byte INSTALLED = 5;
    private static final long HANDSHAKE_NANOS = TimeUnit.SECONDS.toNanos(30);

    private final LegServices services;
    private final ShmFiles files;
    private final PoolReserve reserve;

    /**
     * {@code dir}: where this transport's pools and rings go; {@code services}: the set-up's leak detector and
     * threads, shared by its connections. It prepares its next outgoing pool in the background unless {@code fable.shm.reserve=false}.
     */
    public ShmTransport(java.nio.file.Path dir, LegServices services) {
        this.services = services;
        this.files = new ShmFiles(dir);
        this.reserve = new PoolReserve(files, dev.fable.internal.Settings.getBoolean("fable.shm.reserve", true));
    }

    @Override
    public String name() {
        return NAME;
    }

    /** What one side announces about the direction it writes (package-private: ShmHandshakeFuzzTest reads hostile ones). */
    record Side(long pid, String name, WaitMode waitMode, int slotSize, int slotCount, Path pool, Path ring) {
        void write(ByteBuffer b) {
            b.putLong(pid);
            Frames.putString(b, name);
            b.put((byte) waitMode.ordinal()).putInt(slotSize).putInt(slotCount);
            Frames.putString(b, pool.toString());
            Frames.putString(b, ring.toString());
        }

        static Side read(ByteBuffer b) {
            long pid = Frames.getLong(b, "pid");
            String name = Frames.getString(b, "endpoint name");
            int mode = Frames.getByte(b, "wait mode");
            int slotSize = Frames.getInt(b, "slot size");
            int slotCount = Frames.getInt(b, "slot count");
            String pool = Frames.getString(b, "pool path");
            String ring = Frames.getString(b, "ring path");
            if (mode < 0 || mode >= WaitMode.values().length) throw new FableException("malformed handshake: wait mode " + mode);
            if (slotSize < 64 || slotSize > ConnectOptions.MAX_SLOT_SIZE || slotSize % 64 != 0
                    || slotCount < 2 || slotCount > ConnectOptions.MAX_SLOT_COUNT) {
                throw new FableException("malformed handshake: pool of " + slotCount + " slots of " + slotSize + " B");
            }
            try {
                return new Side(pid, name, WaitMode.values()[mode], slotSize, slotCount, Path.of(pool), Path.of(ring));
            } catch (java.nio.file.InvalidPathException e) {   // a NUL byte, say: the peer's bytes, not a path
                throw new FableException("malformed handshake: " + e.getMessage(), e);
            }
        }
    }

    /** This side's outgoing files, created and initialised, not yet shared; mapped in the connection's own arena. */
    record Outgoing(Arena arena, int slotSize, int slotCount, Path poolPath, Path ringPath, MemorySegment pool, MemorySegment ring) {
        /** Creates the files now: reserving and faulting in every page, milliseconds for the default 8 MiB pool (docs/transports.md). */
        static Outgoing create(ShmFiles files, int slotSize, int slotCount) {
            Arena arena = Arena.ofShared();
            Path poolPath = files.newPath("pool");
            Path ringPath = files.newPath("ring");
            try {
                MemorySegment pool = ShmFiles.createAndMap(poolPath, ShmLayout.poolBytes(slotSize, slotCount), arena,
                        "shared-memory pool (" + slotCount + " slots of " + slotSize + " B)");
                MemorySegment ring = ShmFiles.createAndMap(ringPath, ShmLayout.ringBytes(ShmLayout.capacityFor(slotCount)),
                        arena, "shared-memory ring");
                RingWriter.initialise(pool, ring, slotSize, slotCount);
                return new Outgoing(arena, slotSize, slotCount, poolPath, ringPath, pool, ring);
            } catch (RuntimeException e) {
                ShmFiles.unlink(poolPath);
                ShmFiles.unlink(ringPath);
                arena.close();
                throw e;
            }
        }

        /** A prepared pool of this shape from the {@link PoolReserve}, else a new one; then asks the reserve for the next. */
        static Outgoing obtain(ShmFiles files, PoolReserve reserve, ConnectOptions o) {
            Outgoing ready = reserve.take(o.slotSize(), o.slotCount());
            if (ready == null) ready = create(files, o.slotSize(), o.slotCount());   // throws when /dev/shm is too small: no refill then
            reserve.refill(o.slotSize(), o.slotCount());
            return ready;
        }

        Side describe(String name, ConnectOptions o) {
            return new Side(ProcessHandle.current().pid(), name, o.waitMode(), o.slotSize(), o.slotCount(), poolPath, ringPath);
        }

        void unlink() {
            ShmFiles.unlink(poolPath);
            ShmFiles.unlink(ringPath);
        }
    }

    private record Incoming(MemorySegment pool, MemorySegment ring) {
        static Incoming map(ShmFiles files, Arena arena, Side peer) {
            MemorySegment pool = files.mapPeer(peer.pool(), ShmLayout.poolBytes(peer.slotSize(), peer.slotCount()), true, arena, "pool");
            MemorySegment ring = files.mapPeer(peer.ring(), ShmLayout.ringBytes(ShmLayout.capacityFor(peer.slotCount())), false, arena, "ring");
            String bad = RingReader.validateHeaders(pool, ring, peer.slotSize(), peer.slotCount());
            if (bad != null) throw new FableException("peer '" + peer.name() + "' (pid " + peer.pid() + "): " + bad);
            return new Incoming(pool, ring);
        }
    }

    /** Prepares a pool of this shape in the background, so the next connect or accept need not (see {@link PoolReserve}). */
    public void prepare(ConnectOptions o) {
        reserve.refill(o.slotSize(), o.slotCount());
    }

    @Override
    public boolean crossesHosts() {
        return false;
    }

    @Override
    public Leg connect(java.util.function.Supplier<ControlChannel> opener, String localName, PeerRef route,
                              ConnectOptions options) {
        String peerName = route.name();
        Outgoing out = Outgoing.obtain(files, reserve, options);   // before the connect: the peer wakes for the connect and finds HELLO behind it
        ControlChannel control = null;
        try {
            control = opener.get();
            long deadline = System.nanoTime() + HANDSHAKE_NANOS;
            Arena arena = out.arena();
            ByteBuffer hello = ByteBuffer.allocate(ControlChannel.MAX_FRAME);
            Frames.putString(hello, NAME);
            hello.putShort(VERSION);
            Frames.putString(hello, peerName);
            out.describe(localName, options).write(hello);
            control.writeFrame(hello.flip());

            ByteBuffer reply = control.readFrame(deadline);
            byte type = Frames.getByte(reply, "reply type");
            if (type == REJECT) {
                throw new FableException("'" + peerName + "' refused the shared-memory connection: " + Frames.getString(reply, "reason"));
            }
            if (type != ACCEPT) throw new FableException("malformed handshake: reply type " + type);
            Side peer = Side.read(reply);
            control.takeSecret(reply);
            Incoming in = Incoming.map(files, arena, peer);
            control.writeFrame(ByteBuffer.allocate(1).put(0, READY));
            if (control.epoch() > 0) {
                // A reconfiguration leg: wait until the accepting side has put it in its connection's chain, so that our
                // sender, which moves as soon as this returns, never ends the old leg before the peer's receiver can follow.
                ByteBuffer installed = control.readFrame(deadline);
                if (Frames.getByte(installed, "installed") != INSTALLED) throw new FableException("malformed handshake: expected INSTALLED");
            }
            return established(localName, options, arena, control, out, in, peer);   // the acceptor mapped ours before it accepted
        } catch (RuntimeException e) {
            throw abort(e, out, control);
        }
    }

    @Override
    public Leg accept(ControlChannel control, String localName, ByteBuffer hello, ConnectOptions options) {
        long deadline = System.nanoTime() + HANDSHAKE_NANOS;
        Outgoing out = null;
        try {
            short version = hello.remaining() >= 2 ? hello.getShort() : -1;
            if (version != VERSION) {
                reject(control, "shared-memory handshake version " + version + " is not supported (this side speaks " + VERSION + ")");
            }
            String wanted = Frames.getString(hello, "target name");
            Side peer = Side.read(hello);
            if (!wanted.equals(localName)) reject(control, "this endpoint is '" + localName + "', not '" + wanted + "'");
            out = Outgoing.obtain(files, reserve, options);
            Arena arena = out.arena();
            Incoming in;
            try {
                in = Incoming.map(files, arena, peer);
            } catch (RuntimeException e) {
                reject(control, e.getMessage());
                throw e;
            }
            ByteBuffer reply = ByteBuffer.allocate(ControlChannel.MAX_FRAME).put(ACCEPT);
            out.describe(localName, options).write(reply);
            control.putSecret(reply);   // a first leg: the connection's secret (the Unix socket is this user's only)
            control.writeFrame(reply.flip());
            ByteBuffer ready = control.readFrame(deadline);
            if (Frames.getByte(ready, "ready") != READY) throw new FableException("malformed handshake: expected READY");
            return established(localName, options, arena, control, out, in, peer);
        } catch (RuntimeException e) {
            throw abort(e, out, control);
        }
    }

    /** Both sides have mapped each other's files: ours can go from the directory now. */
    private Leg established(String localName, ConnectOptions options, Arena arena, ControlChannel control,
                                          Outgoing out, Incoming in, Side peer) {
        out.unlink();
        control.handshakeDone();
        return new ShmConnection(localName, peer.name(), peer.pid(), options, arena, control,
                out.pool(), out.ring(), in.pool(), in.ring(), peer.slotSize(), peer.slotCount(), peer.waitMode(), services);
    }

    /** A failed handshake: removes our files, unmaps everything, closes the control channel. */
    private static RuntimeException abort(RuntimeException e, Outgoing out, ControlChannel control) {
        if (out != null) {
            out.unlink();
            out.arena().close();   // also unmaps the peer's files if they were mapped
        }
        if (control != null) control.close();
        return e;
    }

    private static void reject(ControlChannel control, String reason) {
        Transport.reject(control, REJECT, "shared-memory", reason);
    }
}
