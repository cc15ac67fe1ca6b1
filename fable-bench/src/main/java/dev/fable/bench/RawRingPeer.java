package dev.fable.bench;

import dev.fable.sync.ThreadAffinity;
import org.HdrHistogram.Histogram;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.invoke.VarHandle;
import java.lang.management.ManagementFactory;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;

import static java.lang.foreign.ValueLayout.JAVA_LONG;

/**
 * Baseline, not Fable: the bare single-producer ring a Java team would write by hand (the protocol
 * of the measurements in the shared notes). Slots of the message size; the producer fills bytes
 * [8, size), then publishes {@code seq + 1} in the slot's first 8 bytes with a release store; the
 * consumer spins on that header, checks every payload byte, and publishes its head every
 * min(64, slots/4) messages. No buffer objects, no validation, no out-of-order release, spin only. The gap between
 * this and Fable's spin cells is what Fable's API and safety cost.
 *
 * <p>Same arguments as {@link BenchPeer}; mode and trust are ignored (always spin, zero-copy).
 */
public final class RawRingPeer {
    private static final VarHandle LONG = JAVA_LONG.varHandle();
    private static final long HEAD = 0;        // consumer's released count (own 128-byte block)
    private static final long SLOTS = 128;

    public static void main(String[] a) throws Exception {
        String role = a[0], name = a[1], kind = a[2];
        int size = Integer.parseInt(a[3]);
        int cpu = Integer.parseInt(a[6]);
        long warmup = Long.parseLong(a[7]), measure = Long.parseLong(a[8]);
        ThreadAffinity.pin(cpu);
        int count = Math.max(16, Math.min(1 << 16, (2 << 20) / size));
        long bytes = SLOTS + (long) count * size;
        Path ab = Path.of("/dev/shm", name + ".ab"), ba = Path.of("/dev/shm", name + ".ba");
        try (Arena arena = Arena.ofShared()) {
            if (role.equals("server")) {
                MemorySegment in = map(ab, bytes, arena), out = map(ba, bytes, arena);
                System.out.println("READY");
                System.out.flush();
                if (kind.equals("tput")) receive(in, size, count, warmup, measure); else echo(in, out, size, count);
                Files.deleteIfExists(ab);
                Files.deleteIfExists(ba);
            } else {
                MemorySegment out = map(ab, bytes, arena), in = map(ba, bytes, arena);
                if (kind.equals("tput")) send(out, size, count); else ping(out, in, size, count, warmup, measure);
            }
        }
        BenchPeer.awaitRelease();
        System.exit(0);
    }

    static MemorySegment map(Path p, long bytes, Arena arena) throws Exception {
        try (FileChannel ch = FileChannel.open(p, StandardOpenOption.CREATE, StandardOpenOption.READ, StandardOpenOption.WRITE)) {
            MemorySegment m = ch.map(FileChannel.MapMode.READ_WRITE, 0, bytes, arena);
            for (long o = 0; o < bytes; o += 4096) m.get(JAVA_LONG, o);
            return m;
        }
    }

    /** Producer: state kept in a small array so send and ping share it. [0]=seq, [1]=cached head. */
    static void produce(MemorySegment ring, int size, int count, long[] st) {
        long seq = st[0];
        while (seq - st[1] >= count) {
            st[1] = (long) LONG.getAcquire(ring, HEAD);   // acquire: the consumer is done with those slots
            if (seq - st[1] >= count) Thread.onSpinWait();
        }
        long slot = SLOTS + (seq % count) * size;
        ring.asSlice(slot + 8, size - 8).fill((byte) seq);
        LONG.setRelease(ring, slot, seq + 1);   // release: payload before the header
        st[0] = seq + 1;
    }

    /** Consumer: waits for message {@code seq}, checks it; [0]=seq. */
    static void consume(MemorySegment ring, int size, int count, long[] st) {
        long seq = st[0];
        long slot = SLOTS + (seq % count) * size;
        while ((long) LONG.getAcquire(ring, slot) != seq + 1) Thread.onSpinWait();   // acquire: payload visible
        long p = BenchPeer.pattern(seq), bad = 0;
        for (int i = 8; i < size; i += 8) bad |= ring.get(JAVA_LONG, slot + i) ^ p;
        if (bad != 0) BenchPeer.fail("raw ring message " + seq + " has wrong bytes");
        st[0] = seq + 1;
        if ((seq + 1) % Math.min(64, count / 4) == 0) LONG.setRelease(ring, HEAD, seq + 1);   // release: done reading those slots
    }

    static void send(MemorySegment ring, int size, int count) {
        long[] st = new long[2];
        while (true) produce(ring, size, count, st);
    }

    static void receive(MemorySegment ring, int size, int count, long warmupMs, long measureMs) {
        long[] st = new long[1];
        long warmEnd = System.nanoTime() + warmupMs * 1_000_000L, end = warmEnd + measureMs * 1_000_000L, t0 = 0, s0 = 0;
        while (true) {
            consume(ring, size, count, st);
            if ((st[0] & 1023) == 0) {
                long now = System.nanoTime();
                if (t0 == 0 && now >= warmEnd) {
                    t0 = now;
                    s0 = st[0];
                } else if (t0 != 0 && now >= end) {
                    long msgs = st[0] - s0;
                    double secs = (now - t0) / 1e9;
                    System.out.printf("RESULT side=reader msgs=%d secs=%.3f msgPerSec=%.0f bytesPerSec=%.0f allocBytes=0 cpuNanos=%d%n",
                            msgs, secs, msgs / secs, msgs * (double) size / secs, cpuNanos());
                    return;
                }
            }
        }
    }

    static void ping(MemorySegment out, MemorySegment in, int size, int count, long warmup, long measure) {
        long[] tx = new long[2], rx = new long[1];
        Histogram h = new Histogram(3_600_000_000_000L, 3);
        for (long i = 0; i < warmup + measure; i++) {
            long t0 = System.nanoTime();
            produce(out, size, count, tx);
            consume(in, size, count, rx);
            if (i >= warmup) h.recordValue(System.nanoTime() - t0);
        }
        System.out.printf("RESULT side=pinger rts=%d p50=%d p90=%d p99=%d p999=%d max=%d allocBytes=0 cpuNanos=%d%n", measure,
                h.getValueAtPercentile(50), h.getValueAtPercentile(90), h.getValueAtPercentile(99),
                h.getValueAtPercentile(99.9), h.getMaxValue(), cpuNanos());
        long[] stop = {tx[0], tx[1]};
        out.set(JAVA_LONG, SLOTS + (stop[0] % count) * size, -1L);   // tells the echo to stop
    }

    static void echo(MemorySegment in, MemorySegment out, int size, int count) {
        long[] tx = new long[2], rx = new long[1];
        while (true) {
            long slot = SLOTS + (rx[0] % count) * size;
            long v;
            while ((v = (long) LONG.getAcquire(in, slot)) != rx[0] + 1) {
                if (v == -1) {
                    System.out.println("RESULT side=echo cpuNanos=" + cpuNanos());
                    return;
                }
                Thread.onSpinWait();
            }
            consume(in, size, count, rx);
            produce(out, size, count, tx);
        }
    }

    static long cpuNanos() {
        return ((com.sun.management.OperatingSystemMXBean) ManagementFactory.getOperatingSystemMXBean()).getProcessCpuTime();
    }
}
