package dev.fable.transport.shm;

import dev.fable.ConnectOptions;
import dev.fable.FableException;
import dev.fable.WaitMode;
import dev.fable.transport.ControlChannel;
import dev.fable.transport.Frames;
import dev.fable.transport.Transport;

import dev.fable.sync.AdaptiveSpin;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.util.concurrent.TimeUnit;
import dev.fable.transport.PeerRef;
import dev.fable.transport.Leg;
import dev.fable.transport.LegServices;


/**
 * The shared-memory transport (Barrelfish bulk transport, one producer and one consumer per
 * direction). Each side creates the pool and ring of the direction it writes as sealed memfds
 * ({@link ShmFiles}), the peer opens them through {@code /proc/<pid>/fd}, checks the seals and maps
 * them (pool read-only), and each side closes its descriptors as soon as the peer confirms the mapping.
 *
 * <h2>Handshake (after the naming layer opened the control channel)</h2>
 * <pre>
 * connector → HELLO  "shm", version, target name, pid, own name, wait mode, slotSize, slotCount, logBytes, pool fd, ring fd
 * acceptor  → ACCEPT pid, name, wait mode, slotSize, slotCount, logBytes, pool fd, ring fd, secret, ticket,
 *                   fan-out: byte 0 | byte 1, int fd, int slotSize, int slotCount,
 *                   byte contribution, [broadcast: byte 0 | byte 1, int fd, int logBytes, int maxMessage]  | REJECT reason
 * connector → READY | REJECT reason (it will not map what the acceptor declared)
 * </pre>
 * The fan-out section names a publisher's fan-out pool (a subscription's leg only; see {@link FanoutPool}): the
 * subscriber maps it read-only beside the publisher's pool; a connector that did not subscribe refuses one. The
 * broadcast section follows only when the subscriber's HELLO asked for it ({@link #HELLO_BROADCAST}): the publisher's
 * {@link BroadcastLog}, mapped read-only.
 * Either side refuses a peer whose pool is larger than its {@link dev.fable.transport.PeerLimits} allow, before it maps anything.
 */
public final class ShmTransport implements Transport {
    public static final String NAME = "shm";
    static final short VERSION = 5;   // 2: a reconfiguration leg ends its handshake with INSTALLED; 3: sealed memfds named by descriptor, REJECT instead of READY; 4: the log size (layout 3); 5: ACCEPT ends with the fan-out section
    static final byte ACCEPT = 2;
    private static final byte REJECT = Transport.REJECT;
    static final byte READY = 4;
    /** HELLO's last byte (a subscriber's; 0 otherwise): it offers its pool (early classification). */
    static final int HELLO_CONTRIBUTES = 1;
    /** HELLO's last byte: the subscriber copies each message at poll (strict privacy). Shown by {@code fable flows}, never acted on. */
    static final int HELLO_COPIES = 2;
    /** HELLO's last byte: the subscriber reads a broadcast log if the publisher has one (ACCEPT then ends with its section). */
    static final int HELLO_BROADCAST = 4;
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

    /**
     * What one side announces about the direction it writes: its pool and ring are its descriptors {@code poolFd}
     * and {@code ringFd}, sealed memfds the peer opens through {@code /proc/<pid>/fd/<n>}.
     */
    record Side(long pid, String name, WaitMode waitMode, int slotSize, int slotCount, int logBytes, int poolFd, int ringFd) {
        void write(ByteBuffer b) {
            b.putLong(pid);
            Frames.putString(b, name);
            b.put((byte) waitMode.ordinal()).putInt(slotSize).putInt(slotCount).putInt(logBytes);
            b.putInt(poolFd).putInt(ringFd);
        }

        static Side read(ByteBuffer b) {
            long pid = Frames.getLong(b, "pid");
            String name = Frames.getString(b, "endpoint name");
            int mode = Frames.getByte(b, "wait mode");
            int slotSize = Frames.getInt(b, "slot size");
            int slotCount = Frames.getInt(b, "slot count");
            int logBytes = Frames.getInt(b, "log size");
            int poolFd = Frames.getInt(b, "pool descriptor");
            int ringFd = Frames.getInt(b, "ring descriptor");
            if (mode < 0 || mode >= WaitMode.values().length) throw new FableException("malformed handshake: wait mode " + mode);
            if (slotSize < 64 || slotSize > ConnectOptions.MAX_SLOT_SIZE || slotSize % 64 != 0
                    || slotCount < 2 || slotCount > ConnectOptions.MAX_SLOT_COUNT) {
                throw new FableException("malformed handshake: pool of " + slotCount + " slots of " + slotSize + " B");
            }
            if (!ShmLayout.validLogBytes(logBytes)) throw new FableException("malformed handshake: a log of " + logBytes + " B");
            if (pid <= 0 || poolFd < 0 || ringFd < 0) {
                throw new FableException("malformed handshake: pid " + pid + ", pool descriptor " + poolFd + ", ring descriptor " + ringFd);
            }
            return new Side(pid, name, WaitMode.values()[mode], slotSize, slotCount, logBytes, poolFd, ringFd);
        }
    }

    /** A publisher's fan-out pool as its ACCEPT names it: descriptor {@code fd} of its process. */
    record Fanout(int fd, int slotSize, int slotCount) {
        static void write(ByteBuffer b, FanoutPool p) {
            if (p == null) {
                b.put((byte) 0);
            } else {
                b.put((byte) 1).putInt(p.fd()).putInt(p.slotSize()).putInt(p.slotCount());
            }
        }

        /** The section, or null when the frame has none (0, or an older peer that sends nothing). */
        static Fanout read(ByteBuffer b) {
            if (!b.hasRemaining()) return null;
            int present = Frames.getByte(b, "fan-out section");
            if (present == 0) return null;
            int fd = Frames.getInt(b, "fan-out pool descriptor");
            int slotSize = Frames.getInt(b, "fan-out slot size");
            int slotCount = Frames.getInt(b, "fan-out slot count");
            if (present != 1 || fd < 0 || slotSize < 64 || slotSize > ConnectOptions.MAX_SLOT_SIZE || slotSize % 64 != 0
                    || slotCount < 2 || slotCount > ConnectOptions.MAX_SLOT_COUNT) {
                throw new FableException("malformed handshake: fan-out section " + present + ", descriptor " + fd + ", "
                        + slotCount + " slots of " + slotSize + " B");
            }
            return new Fanout(fd, slotSize, slotCount);
        }

        long bytes() {
            return ShmLayout.poolBytes(slotSize, slotCount);
        }
    }

    /** A publisher's broadcast log as its ACCEPT names it: descriptor {@code fd} of its process. */
    record Broadcast(int fd, int logBytes, int maxMessage) {
        static void write(ByteBuffer b, BroadcastLog log) {
            if (log == null) {
                b.put((byte) 0);
            } else {
                b.put((byte) 1).putInt(log.fd()).putInt(log.logBytes()).putInt(log.maxMessage());
            }
        }

        /** The section, or null when the publisher has no log. */
        static Broadcast read(ByteBuffer b) {
            int present = Frames.getByte(b, "broadcast section");
            if (present == 0) return null;
            int fd = Frames.getInt(b, "broadcast log descriptor");
            int logBytes = Frames.getInt(b, "broadcast log size");
            int max = Frames.getInt(b, "broadcast message size");
            if (present != 1 || fd < 0 || !ShmLayout.validLogBytes(logBytes) || max < 1 || max > ShmLayout.INLINE_MAX) {
                throw new FableException("malformed handshake: broadcast section " + present + ", descriptor " + fd + ", a log of "
                        + logBytes + " B for messages of " + max + " B");
            }
            return new Broadcast(fd, logBytes, max);
        }

        long bytes() {
            return ShmLayout.ringBytes(logBytes);
        }

        /** Maps the log read-only into {@code arena} and checks its header. */
        MemorySegment map(Side peer, Arena arena) {
            MemorySegment m = ShmFiles.mapPeer(peer.pid(), fd, bytes(), true, arena, "broadcast log", false).segment();
            // plain reads: written once before the handshake frame that named the file (as RingReader.validateHeaders)
            if (ShmLayout.headerMagicPlain(m) != ShmLayout.BROADCAST_MAGIC || ShmLayout.headerVersionPlain(m) != ShmLayout.VERSION
                    || ShmLayout.headerLogBytesPlain(m) != logBytes || ShmLayout.headerSlotSizePlain(m) != maxMessage) {
                throw new FableException("peer '" + peer.name() + "' (pid " + peer.pid() + "): its broadcast log's header disagrees with the handshake");
            }
            return m;
        }
    }

    /** This side's outgoing memfds, created, initialised and sealed, not yet shared; mapped in the connection's own arena. */
    record Outgoing(Arena arena, int slotSize, int slotCount, int logBytes, ShmFiles.Sealed poolFile, ShmFiles.Sealed ringFile) {
        /** Creates the memfds now: reserving and faulting in every page, milliseconds for the default 8 MiB pool (docs/transports.md). */
        static Outgoing create(ShmFiles files, int slotSize, int slotCount, int logBytes) {
            files.sweepOnce();
            Arena arena = Arena.ofShared();
            ShmFiles.Sealed pool = null;
            try {
                pool = ShmFiles.createSealed(ShmFiles.newName("pool"), ShmLayout.poolBytes(slotSize, slotCount), arena,
                        "shared-memory pool (" + slotCount + " slots of " + slotSize + " B)");
                ShmFiles.Sealed ring = ShmFiles.createSealed(ShmFiles.newName("ring"), ShmLayout.ringBytes(logBytes),
                        arena, "shared-memory ring (a log of " + logBytes + " B)");
                RingWriter.initialise(pool.segment(), ring.segment(), slotSize, slotCount, logBytes);
                return new Outgoing(arena, slotSize, slotCount, logBytes, pool, ring);
            } catch (RuntimeException e) {
                if (pool != null) pool.closeFd();
                arena.close();
                throw e;
            }
        }

        /** A prepared pool of this shape from the {@link PoolReserve}, else a new one; then asks the reserve for the next. */
        static Outgoing obtain(ShmFiles files, PoolReserve reserve, ConnectOptions o) {
            Outgoing ready = reserve.take(o.slotSize(), o.slotCount(), o.logBytes());
            if (ready == null) ready = create(files, o.slotSize(), o.slotCount(), o.logBytes());   // throws when memory is short: no refill then
            reserve.refill(o.slotSize(), o.slotCount(), o.logBytes());
            return ready;
        }

        boolean hasShape(int slotSize, int slotCount, int logBytes) {
            return this.slotSize == slotSize && this.slotCount == slotCount && this.logBytes == logBytes;
        }

        MemorySegment pool() {
            return poolFile.segment();
        }

        MemorySegment ring() {
            return ringFile.segment();
        }

        Side describe(String name, ConnectOptions o) {
            return new Side(ProcessHandle.current().pid(), name, o.waitMode(), o.slotSize(), o.slotCount(), o.logBytes(), poolFile.fd(), ringFile.fd());
        }

        /** Closes our descriptors (once; the mappings stay): the peer has opened the memfds, or never will. */
        void unlink() {
            poolFile.closeFd();
            ringFile.closeFd();
        }
    }

    /** The peer's memfds, mapped (pools read-only) in an arena of their own and validated; {@code fanout} null unless a subscription's. */
    record Incoming(MemorySegment pool, MemorySegment ring, MemorySegment fanout, Fanout fanoutShape, int poolFd, int fanoutFd) {
        /** Closes the descriptors kept for lending, when no connection came to own them (a handshake that failed after mapping). */
        void closeFds() {
            if (poolFd >= 0) dev.fable.internal.Libc.close(poolFd);
            if (fanoutFd >= 0) dev.fable.internal.Libc.close(fanoutFd);
        }

        static Incoming map(Arena arena, Side peer, Fanout f) {
            return map(arena, peer, f, false, false);
        }

        /**
         * {@code keepFds}: our descriptors of the pools stay open (the connection closes them), so that this side can
         * forward read buffers in place (a third process opens the pool through them; see RingReader.lendable).
         */
        static Incoming map(Arena arena, Side peer, Fanout f, boolean keepFds, boolean poolWritable) {
            int poolFd = -1, fanFd = -1;
            try {
                ShmFiles.Mapped pool = ShmFiles.mapPeer(peer.pid(), peer.poolFd(), ShmLayout.poolBytes(peer.slotSize(), peer.slotCount()),
                        !poolWritable, arena, poolWritable ? "contributed pool" : "pool", keepFds);
                poolFd = pool.fd();
                MemorySegment ring = ShmFiles.mapPeer(peer.pid(), peer.ringFd(), ShmLayout.ringBytes(peer.logBytes()), false, arena, "ring");
                String bad = RingReader.validateHeaders(pool.segment(), ring, peer.slotSize(), peer.slotCount(), peer.logBytes());
                MemorySegment fan = null;
                if (bad == null && f != null) {
                    ShmFiles.Mapped m = ShmFiles.mapPeer(peer.pid(), f.fd(), f.bytes(), true, arena, "fan-out pool", keepFds);
                    fanFd = m.fd();
                    fan = m.segment();
                    bad = RingReader.validatePoolHeader(fan, f.slotSize(), f.slotCount());
                }
                if (bad != null) throw new FableException("peer '" + peer.name() + "' (pid " + peer.pid() + "): " + bad);
                return new Incoming(pool.segment(), ring, fan, f, poolFd, fanFd);
            } catch (RuntimeException e) {
                if (poolFd >= 0) dev.fable.internal.Libc.close(poolFd);
                if (fanFd >= 0) dev.fable.internal.Libc.close(fanFd);
                throw e;
            }
        }
    }

    /**
     * Null if this side may map what {@code peer} declared, else why not, naming the limit and the setting that
     * raises it (see {@link dev.fable.transport.PeerLimits}). Checked before anything is mapped or allocated.
     */
    static String tooLarge(Side peer, Fanout f, Broadcast b, dev.fable.transport.PeerLimits limits) {
        long bytes = ShmLayout.poolBytes(peer.slotSize(), peer.slotCount()) + ShmLayout.ringBytes(peer.logBytes()) + (f == null ? 0 : f.bytes())
                + (b == null ? 0 : b.bytes());
        String who = "peer '" + peer.name() + "' (pid " + peer.pid() + ") declared a shared-memory pool of " + peer.slotCount()
                + " slots of " + peer.slotSize() + " B and a log of " + peer.logBytes() + " B"
                + (f == null ? "" : " and a fan-out pool of " + f.slotCount() + " slots of " + f.slotSize() + " B")
                + (b == null ? "" : " and a broadcast log of " + b.logBytes() + " B");
        if (peer.slotCount() > limits.maxSlots() || (f != null && f.slotCount() > limits.maxSlots())) {
            return who + ", more than the " + limits.maxSlots() + " slots this side accepts (Fable.Context.maxPeerSlots, "
                    + dev.fable.transport.PeerLimits.SLOTS_PROPERTY + "); raise it on the receiving side or give the sender fewer slots (ConnectOptions.slotCount)";
        }
        if (bytes > limits.maxPoolBytes()) {
            return who + " (" + bytes + " B with its ring), more than the " + limits.maxPoolBytes()
                    + " B this side maps for one peer (Fable.Context.maxPeerPoolBytes, " + dev.fable.transport.PeerLimits.POOL_PROPERTY
                    + "); raise it on the receiving side or give the sender fewer or smaller slots or a smaller log (ConnectOptions.slotCount/slotSize/logBytes)";
        }
        return null;
    }

    /** Prepares a pool of this shape in the background, so the next connect or accept need not (see {@link PoolReserve}). */
    public void prepare(ConnectOptions o) {
        reserve.refill(o.slotSize(), o.slotCount(), o.logBytes());
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
        Arena inArena = null;
        Incoming in = null;
        try {
            control = opener.get();
            long deadline = System.nanoTime() + HANDSHAKE_NANOS;
            ByteBuffer hello = ByteBuffer.allocate(ControlChannel.MAX_FRAME);
            Frames.putString(hello, NAME);
            hello.putShort(VERSION);
            Frames.putString(hello, peerName);
            out.describe(localName, options).write(hello);
            boolean contribute = control.subscribing() && options.contributePool();
            // a subscriber offers its pool to the publisher (early classification); and says whether it copies at poll
            hello.put((byte) ((contribute ? HELLO_CONTRIBUTES : 0) | (control.subscribing() && !options.isTrusted() ? HELLO_COPIES : 0)
                    | (control.subscribing() ? HELLO_BROADCAST : 0)));
            control.writeFrame(hello.flip());

            ByteBuffer reply = control.readFrame(deadline);
            byte type = Frames.getByte(reply, "reply type");
            if (type == REJECT) {
                throw new FableException("'" + peerName + "' refused the shared-memory connection: " + Frames.getString(reply, "reason"));
            }
            if (type != ACCEPT) throw new FableException("malformed handshake: reply type " + type);
            Side peer = Side.read(reply);
            control.takeSecret(reply);
            Fanout fanout;
            try {
                fanout = Fanout.read(reply);
            } catch (RuntimeException e) {
                reject(control, e.getMessage());
                throw e;
            }
            if (fanout != null && !control.subscribing()) {
                reject(control, "it offered a fan-out pool to a connector that did not subscribe");
            }
            boolean contributed = reply.hasRemaining() && Frames.getByte(reply, "contribution") == 1;   // the publisher writes into our pool
            if (contributed && !contribute) reject(control, "it claims to write into a pool this side did not offer");
            Broadcast broadcast = null;
            if (control.subscribing()) {
                try {
                    broadcast = Broadcast.read(reply);
                } catch (RuntimeException e) {
                    reject(control, e.getMessage());
                    throw e;
                }
            }
            inArena = Arena.ofShared();
            in = admit(control, inArena, peer, fanout, broadcast, options.isTrusted(), false);   // a refusal goes instead of READY: the acceptor learns why
            MemorySegment broadcastLog = null;
            if (broadcast != null) {
                try {
                    broadcastLog = broadcast.map(peer, inArena);
                } catch (RuntimeException e) {
                    reject(control, e.getMessage());
                    throw e;
                }
            }
            publishSetupCpu(out.ring(), in.ring());
            control.writeFrame(ByteBuffer.allocate(1).put(0, READY));
            if (control.epoch() > 0) {
                // A reconfiguration leg: wait until the accepting side has put it in its connection's chain, so that our
                // sender, which moves as soon as this returns, never ends the old leg before the peer's receiver can follow.
                ByteBuffer installed = control.readFrame(deadline);
                if (Frames.getByte(installed, "installed") != INSTALLED) throw new FableException("malformed handshake: expected INSTALLED");
            }
            Leg leg = established(localName, options, inArena, control, out, in, peer, contributed);   // the acceptor mapped ours before it accepted
            if (fanout != null) ((ShmConnection) leg).privacy(contributed ? "early" : options.isTrusted() ? "relaxed" : "strict");
            if (broadcastLog != null) ((ShmConnection) leg).readBroadcast(broadcastLog, broadcast.logBytes(), broadcast.maxMessage());   // after privacy()
            return leg;
        } catch (RuntimeException e) {
            if (in != null) in.closeFds();   // kept for lending: the leg that would have owned them never came to be
            throw abort(e, out, inArena, control);
        }
    }

    /**
     * The accepting side. Everything the connector's HELLO says is checked first, its files mapped and
     * their headers validated, and refused (REJECT with the reason) before this side obtains its own
     * outgoing pool: a bad hello costs no pool, neither a new 8 MiB file nor the prepared one in the
     * {@link PoolReserve}.
     */
    @Override
    public Leg accept(ControlChannel control, String localName, ByteBuffer hello, ConnectOptions options) {
        long deadline = System.nanoTime() + HANDSHAKE_NANOS;
        Outgoing out = null;
        Arena inArena = null;
        Incoming in = null;
        try {
            short version = hello.remaining() >= 2 ? hello.getShort() : -1;
            if (version != VERSION) {
                reject(control, "shared-memory handshake version " + version + " is not supported (this side speaks " + VERSION + ")");
            }
            Side peer;
            String wanted;
            int flags;
            try {
                wanted = Frames.getString(hello, "target name");
                peer = Side.read(hello);
                flags = hello.hasRemaining() ? Frames.getByte(hello, "flags") & 0xFF : 0;
            } catch (RuntimeException e) {   // malformed, or a path the file system cannot name
                reject(control, e.getMessage());
                throw e;
            }
            if (!wanted.equals(localName)) reject(control, "this endpoint is '" + localName + "', not '" + wanted + "'");
            if ((flags & ~(HELLO_CONTRIBUTES | HELLO_COPIES | HELLO_BROADCAST)) != 0) reject(control, "unknown HELLO flags 0x" + Integer.toHexString(flags));
            boolean contribute = (flags & HELLO_CONTRIBUTES) != 0;
            // a subscriber's offered pool is taken only by a publisher: it then writes this subscriber's messages into it
            boolean takes = contribute && control.fanout() != null;
            inArena = Arena.ofShared();
            in = admit(control, inArena, peer, null, null, options.isTrusted() && !takes, takes);
            out = Outgoing.obtain(files, reserve, options);   // only now: the hello and the files it names are sound
            publishSetupCpu(out.ring(), in.ring());
            ByteBuffer reply = ByteBuffer.allocate(ControlChannel.MAX_FRAME).put(ACCEPT);
            out.describe(localName, options).write(reply);
            control.putSecret(reply);   // a first leg: the connection's secret (the Unix socket is this user's only)
            Fanout.write(reply, control.fanout() instanceof FanoutPool p ? p : null);
            reply.put((byte) (takes ? 1 : 0));   // we write into the subscriber's pool
            BroadcastLog log = (flags & HELLO_BROADCAST) != 0 && control.broadcast() instanceof BroadcastLog l ? l : null;
            if ((flags & HELLO_BROADCAST) != 0) Broadcast.write(reply, log);   // asked for: present or not
            control.writeFrame(reply.flip());
            ByteBuffer ready = control.readFrame(deadline);
            byte readyType = Frames.getByte(ready, "ready");
            if (readyType == REJECT) {
                throw new FableException("'" + peer.name() + "' (pid " + peer.pid() + ") refused the shared-memory connection: "
                        + Frames.getString(ready, "reason"));
            }
            if (readyType != READY) throw new FableException("malformed handshake: expected READY");
            Leg leg = established(localName, options, inArena, control, out, in, peer, takes);
            if (control.fanout() != null) ((ShmConnection) leg).privacy(takes ? "early" : (flags & HELLO_COPIES) != 0 ? "strict" : "relaxed");
            if (log != null) ((ShmConnection) leg).broadcastTo(log);   // after privacy()
            return leg;
        } catch (RuntimeException e) {
            if (in != null) in.closeFds();   // kept for lending: the leg that would have owned them never came to be
            throw abort(e, out, inArena, control);
        }
    }

    /**
     * The peer's side, checked against this side's caps, then its memfds mapped into {@code inArena}
     * and validated; any refusal is told to the peer (REJECT and the reason) before it is thrown here.
     */
    /**
     * Publishes the CPU the thread setting this leg up is pinned to, if it is (PRODUCER_CPU of our ring,
     * CONSUMER_CPU of the peer's), before the frame that lets the peer go on: an adaptive wait of the
     * peer's compares it from its first wait on (two processes pinned to one CPU block from the first
     * message; see AdaptiveSpin).
     */
    private static void publishSetupCpu(MemorySegment ourRing, MemorySegment peerRing) {
        long w = AdaptiveSpin.stampIfPinned();
        if (w == 0) return;
        ShmLayout.putProducerCpuOpaque(ourRing, w);
        ShmLayout.putConsumerCpuOpaque(peerRing, w);
    }

    /** {@code writable}: the peer's pool is mapped read-write (a subscriber's contributed pool, which this side writes into). */
    private Incoming admit(ControlChannel control, Arena inArena, Side peer, Fanout fanout, Broadcast broadcast, boolean keepFds, boolean writable) {
        String tooLarge = tooLarge(peer, fanout, broadcast, services.limits());
        if (tooLarge != null) reject(control, tooLarge);
        try {
            return Incoming.map(inArena, peer, fanout, keepFds, writable);
        } catch (RuntimeException e) {
            reject(control, e.getMessage());
            throw e;
        }
    }

    /**
     * Both sides have mapped each other's files: ours can go from the directory now. {@code contributed}: the
     * subscriber's pool carries the publisher's slot messages (early classification): the publisher's writer writes
     * into it (mapped read-write) and the subscriber's reader reads pool 0 from its own pool; the publisher's own
     * pool of that direction goes unused.
     */
    private Leg established(String localName, ConnectOptions options, Arena inArena, ControlChannel control,
                                          Outgoing out, Incoming in, Side peer, boolean contributed) {
        out.unlink();
        control.handshakeDone();
        boolean publisherSide = control.fanout() != null;
        ConnectOptions writerShape = options;
        MemorySegment writerPool = out.pool(), readerPool = in.pool();
        int readerSlotSize = peer.slotSize(), readerSlotCount = peer.slotCount();
        if (contributed && publisherSide) {
            writerShape = options.slotSize(peer.slotSize()).slotCount(peer.slotCount());
            writerPool = in.pool();
            readerPool = in.pool().asReadOnly();
        } else if (contributed) {
            readerPool = out.pool().asReadOnly();
            readerSlotSize = options.slotSize();
            readerSlotCount = options.slotCount();
        }
        ShmConnection c = new ShmConnection(localName, peer.name(), peer.pid(), writerShape, out.arena(), inArena, control,
                writerPool, out.ring(), readerPool, in.ring(), readerSlotSize, readerSlotCount,
                in.fanoutShape() == null ? 0 : in.fanoutShape().slotCount(), peer.logBytes(), peer.waitMode(), services);
        if (contributed && !publisherSide) c.lendable(-1, in.fanoutFd());   // our own pool is not lent on (the publisher writes it)
        if (control.fanout() instanceof FanoutPool p) c.shareFrom(p);
        if (in.fanout() != null) c.readFanout(in.fanout(), in.fanoutShape().slotSize(), in.fanoutShape().slotCount());
        if (!contributed || publisherSide) c.lendable(in.poolFd(), in.fanoutFd());
        long used = ShmLayout.poolBytes(peer.slotSize(), peer.slotCount()) + ShmLayout.ringBytes(peer.logBytes())
                + (in.fanoutShape() == null ? 0 : in.fanoutShape().bytes());
        c.acceptForwardedPools(services.limits().maxPoolBytes() - used);
        return c;
    }

    /** A failed handshake: removes our files, unmaps everything, closes the control channel. */
    private static RuntimeException abort(RuntimeException e, Outgoing out, Arena inArena, ControlChannel control) {
        if (out != null) {
            out.unlink();
            out.arena().close();
        }
        if (inArena != null) inArena.close();   // unmaps the peer's files if they were mapped
        if (control != null) control.close();
        return e;
    }

    private static void reject(ControlChannel control, String reason) {
        Transport.reject(control, REJECT, "shared-memory", reason);
    }
}
