package dev.fable.bench;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.invoke.VarHandle;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;

import static java.lang.foreign.ValueLayout.JAVA_LONG;

/**
 * The yardstick row {@code raw-ring}: the simplest fast shared-memory channel a Java program can
 * write with the FFM API, to show in every run how close Fable and Aeron come to what this machine
 * allows. Not a product: no trust, no liveness, no switching, no wake-ups (busy spin only).
 *
 * <p>One file in {@link PeerJvm#shmDir()} holds two one-way logs (driver → responder, responder →
 * driver). A log is Aeron's design with the smallest header: records lie back to back, each an
 * 8-byte header then the payload, aligned to 8 bytes, so a 64 B message moves 72 bytes. The header,
 * written last with a release store, is {@code length << 32 | (position / 8 + 1) mod 2^32}, which no
 * earlier lap can leave behind; a record that would cross the end of the log is preceded by a
 * padding header (length -1) and starts the next lap. The reader reads the header with acquire,
 * reads the payload in place, and publishes its position (release, its own 128-byte block) once per
 * quarter log; the writer rereads it only when its cached room runs out. Per message that is one
 * release store and one acquire load, and the cache lines of the record itself: the least a channel
 * that carries the bytes across cores can move.
 *
 * <p>File layout: [0, 4096) header (magic, log size); then per direction a 4096-byte register block
 * (the reader's position at offset 0) followed by the log.
 */
final class RawRingLink extends Link {
    private static final long MAGIC = 0x52_41_57_52_49_4E_47_31L;   // "RAWRING1"
    private static final int HEADER = 4096, REGISTERS = 4096, RECORD_HEADER = 8;
    private static final VarHandle LONG = JAVA_LONG.varHandle();

    private final MemorySegment file;
    private final Path path;
    private final boolean owner;
    // sending direction
    private final long outRegs, outLog;
    private long outPos, outLimit;
    // receiving direction
    private final long inRegs, inLog;
    private long inPos, inPublished;
    private final long logSize, logMask;

    /**
     * The responder's side: creates the file, each log {@code minLog} bytes (a power of two) or larger
     * if messages of {@code maxSize} bytes need it (a record takes at most half a log).
     */
    static RawRingLink create(Path path, long minLog, int maxSize) throws IOException {
        long log = Long.highestOneBit(Math.max(minLog, 4L * (maxSize + RECORD_HEADER)) - 1) << 1;
        Files.deleteIfExists(path);
        MemorySegment f = map(path, HEADER + 2 * (REGISTERS + log), true);
        f.set(JAVA_LONG, 8, log);
        LONG.setRelease(f, 0L, MAGIC);   // release: the size before the magic the driver waits for
        return new RawRingLink(path, f, log, true);
    }

    /** The driver's side: maps the file the responder made. */
    static RawRingLink open(Path path) throws IOException {
        long size = Files.size(path);
        MemorySegment f = map(path, size, false);
        if ((long) LONG.getAcquire(f, 0L) != MAGIC) throw new BenchFailure("raw ring " + path + " has no magic");   // acquire: pairs with create
        long log = f.get(JAVA_LONG, 8);
        if (log <= 0 || Long.bitCount(log) != 1 || HEADER + 2 * (REGISTERS + log) != size) {
            throw new BenchFailure("raw ring " + path + " names a log of " + log + " bytes in a file of " + size);
        }
        return new RawRingLink(path, f, log, false);
    }

    private static MemorySegment map(Path path, long size, boolean create) throws IOException {
        try (FileChannel ch = create ? FileChannel.open(path, StandardOpenOption.CREATE_NEW, StandardOpenOption.READ, StandardOpenOption.WRITE)
                : FileChannel.open(path, StandardOpenOption.READ, StandardOpenOption.WRITE)) {
            MemorySegment m = ch.map(FileChannel.MapMode.READ_WRITE, 0, size, Arena.global());
            if (create) m.fill((byte) 0);   // first touch now, not in the measured loop
            return m;
        }
    }

    private RawRingLink(Path path, MemorySegment file, long log, boolean responder) {
        this.path = path;
        this.file = file;
        this.owner = responder;
        this.logSize = log;
        this.logMask = log - 1;
        long d0 = HEADER, d1 = HEADER + REGISTERS + log;   // direction 0: driver → responder
        this.outRegs = responder ? d1 : d0;
        this.inRegs = responder ? d0 : d1;
        this.outLog = outRegs + REGISTERS;
        this.inLog = inRegs + REGISTERS;
        this.outLimit = log;
    }

    private static long align(long n) {
        return (n + 7) & ~7L;
    }

    private static long header(long length, long position) {
        return length << 32 | ((position >>> 3) + 1) & 0xFFFF_FFFFL;
    }

    @Override
    void send(long seq, int size) {
        long need = align(RECORD_HEADER + size);
        if (need > logSize / 2) throw new BenchFailure("raw ring: a message of " + size + " B does not fit a log of " + logSize);
        long p = outPos;
        long rest = logSize - (p & logMask);
        long pad = need > rest ? rest : 0;
        while (p + pad + need > outLimit) {
            outLimit = (long) LONG.getAcquire(file, outRegs) + logSize;   // acquire: the reader is done with what it passed
            if (p + pad + need > outLimit) Thread.onSpinWait();
        }
        if (pad != 0) {
            LONG.setRelease(file, outLog + (p & logMask), header(0xFFFF_FFFFL, p));   // release: padding, nothing before it
            p += pad;
        }
        long at = outLog + (p & logMask);
        Pattern.write(file, at + RECORD_HEADER, seq, size, args);
        LONG.setRelease(file, at, header(size, p));   // release: the payload before its header
        outPos = p + need;
    }

    @Override
    long receive(boolean verify) {
        while (true) {
            long p = inPos;
            long at = inLog + (p & logMask);
            long h = (long) LONG.getAcquire(file, at);   // acquire: pairs with the writer's release of the header
            if ((int) h != (int) ((p >>> 3) + 1)) {
                Thread.onSpinWait();
                continue;
            }
            long len = h >>> 32;
            if (len == 0xFFFF_FFFFL) {   // padding: the record starts the next lap
                inPos = p + (logSize - (p & logMask));
                continue;
            }
            if (len > logSize / 2 || (p & logMask) + align(RECORD_HEADER + len) > logSize) {   // the peer's header: bounded before use
                throw new BenchFailure("raw ring: a record of " + len + " B at " + (p & logMask) + " does not fit the " + logSize + " B log");
            }
            length = (int) len;
            long seq = Pattern.read(file, at + RECORD_HEADER, length, verify, args);
            inPos = p + align(RECORD_HEADER + len);
            if (inPos - inPublished >= logSize / 4) {
                inPublished = inPos;
                LONG.setRelease(file, inRegs, inPos);   // release: done reading everything before it
            }
            return seq;
        }
    }

    @Override
    void awaitQuietly() {
        while ((int) (long) LONG.getAcquire(file, inLog + (inPos & logMask)) != (int) ((inPos >>> 3) + 1)) {   // acquire: as in receive
            java.util.concurrent.locks.LockSupport.parkNanos(QUIET_POLL_NANOS);
        }
    }

    @Override
    String transport() {
        return "raw-ring";
    }

    @Override
    public void close() {
        if (owner) {   // the mapping (global arena) lives as long as the process, which ends with the row
            try {
                Files.deleteIfExists(path);
            } catch (IOException ignored) {
                // the orchestrator's shm dir is cleaned with the run
            }
        }
    }
}
