package dev.fable.bench;

import dev.fable.sync.ThreadAffinity;
import io.aeron.Aeron;
import io.aeron.FragmentAssembler;
import io.aeron.Publication;
import io.aeron.Subscription;
import io.aeron.driver.MediaDriver;
import io.aeron.driver.ThreadingMode;
import io.aeron.logbuffer.FragmentHandler;
import org.HdrHistogram.Histogram;
import org.agrona.BufferUtil;
import org.agrona.DirectBuffer;
import org.agrona.concurrent.SleepingMillisIdleStrategy;
import org.agrona.concurrent.UnsafeBuffer;

import java.lang.management.ManagementFactory;

/**
 * Baseline, not Fable: Aeron IPC (what a Java team would otherwise pick for same-host messaging),
 * under the same rules as {@link BenchPeer}. The writer fills every byte of its message with the low
 * byte of the sequence and {@code offer}s it (Aeron copies it into its log); the reader's handler checks
 * every byte in place (fragments above the MTU are reassembled by a {@link FragmentAssembler}, as any
 * Aeron user would). Spin only. The server side embeds the media driver with a sleeping idle
 * strategy, so the driver stays off the two pinned CPUs' critical path.
 *
 * <p>Same arguments as {@link BenchPeer}; mode and trust are ignored.
 */
public final class AeronIpcPeer {
    private static final String CHANNEL = "aeron:ipc";
    private static final int TO_SERVER = 1001, TO_CLIENT = 1002;

    public static void main(String[] a) throws Exception {
        String role = a[0], name = a[1], kind = a[2];
        int size = Integer.parseInt(a[3]);
        int cpu = Integer.parseInt(a[6]);
        long warmup = Long.parseLong(a[7]), measure = Long.parseLong(a[8]);
        String dir = "/dev/shm/" + name + "-aeron";
        MediaDriver driver = null;
        if (role.equals("server")) {
            driver = MediaDriver.launch(new MediaDriver.Context().aeronDirectoryName(dir).dirDeleteOnStart(true)
                    .dirDeleteOnShutdown(true).threadingMode(ThreadingMode.SHARED)
                    .sharedIdleStrategy(new SleepingMillisIdleStrategy(1)));
        }
        try (Aeron aeron = Aeron.connect(new Aeron.Context().aeronDirectoryName(dir))) {
            Publication pub = aeron.addPublication(CHANNEL, role.equals("server") ? TO_CLIENT : TO_SERVER);
            Subscription sub = aeron.addSubscription(CHANNEL, role.equals("server") ? TO_SERVER : TO_CLIENT);
            if (role.equals("server")) System.out.println("READY");   // the driver runs: the client may start now
            System.out.flush();
            while (!pub.isConnected() || !sub.isConnected()) Thread.onSpinWait();
            ThreadAffinity.pin(cpu);
            if (role.equals("server")) {
                if (kind.equals("tput")) receive(sub, size, warmup, measure); else echo(sub, pub, size);
            } else {
                if (kind.equals("tput")) send(pub, size); else ping(pub, sub, size, warmup, measure);
            }
            BenchPeer.awaitRelease();
        } finally {
            if (driver != null) driver.close();
        }
        System.exit(0);
    }

    /** Checks message {@code expected[0]} and advances it. */
    static final class Checker {
        long seq;
        int size;

        final FragmentHandler handler = (DirectBuffer buf, int offset, int length, io.aeron.logbuffer.Header h) -> {
            long p = BenchPeer.pattern(seq), bad = 0;
            if (length != size) BenchPeer.fail("aeron message " + seq + " has " + length + " bytes");
            for (int i = 0; i < length; i += 8) bad |= buf.getLong(offset + i) ^ p;
            if (bad != 0) BenchPeer.fail("aeron message " + seq + " has wrong bytes");
            seq++;
        };
    }

    static void offer(Publication pub, UnsafeBuffer msg, long seq, int size) {
        msg.setMemory(0, size, (byte) seq);
        long r;
        while ((r = pub.offer(msg, 0, size)) < 0) {
            if (r == Publication.CLOSED || r == Publication.NOT_CONNECTED) throw new IllegalStateException("aeron publication " + r);
            Thread.onSpinWait();
        }
    }

    static void send(Publication pub, int size) {
        UnsafeBuffer msg = new UnsafeBuffer(BufferUtil.allocateDirectAligned(size, 64));
        for (long seq = 0; ; seq++) offer(pub, msg, seq, size);
    }

    static void receive(Subscription sub, int size, long warmupMs, long measureMs) {
        Checker c = new Checker();
        c.size = size;
        FragmentHandler h = new FragmentAssembler(c.handler);
        long warmEnd = System.nanoTime() + warmupMs * 1_000_000L, end = warmEnd + measureMs * 1_000_000L, t0 = 0, s0 = 0;
        while (true) {
            if (sub.poll(h, 64) == 0) Thread.onSpinWait();
            long now = System.nanoTime();
            if (t0 == 0 && now >= warmEnd) {
                t0 = now;
                s0 = c.seq;
            } else if (t0 != 0 && now >= end) {
                long msgs = c.seq - s0;
                double secs = (now - t0) / 1e9;
                System.out.printf("RESULT side=reader msgs=%d secs=%.3f msgPerSec=%.0f bytesPerSec=%.0f allocBytes=0 cpuNanos=%d%n",
                        msgs, secs, msgs / secs, msgs * (double) size / secs, cpuNanos());
                return;
            }
        }
    }

    static void ping(Publication pub, Subscription sub, int size, long warmup, long measure) {
        UnsafeBuffer msg = new UnsafeBuffer(BufferUtil.allocateDirectAligned(size, 64));
        Checker c = new Checker();
        c.size = size;
        FragmentHandler h = new FragmentAssembler(c.handler);
        Histogram hist = new Histogram(3_600_000_000_000L, 3);
        for (long i = 0; i < warmup + measure; i++) {
            long t0 = System.nanoTime();
            offer(pub, msg, i, size);
            while (c.seq == i) {
                if (sub.poll(h, 1) == 0) Thread.onSpinWait();
            }
            if (i >= warmup) hist.recordValue(System.nanoTime() - t0);
        }
        System.out.printf("RESULT side=pinger rts=%d p50=%d p90=%d p99=%d p999=%d max=%d allocBytes=0 cpuNanos=%d%n", measure,
                hist.getValueAtPercentile(50), hist.getValueAtPercentile(90), hist.getValueAtPercentile(99),
                hist.getValueAtPercentile(99.9), hist.getMaxValue(), cpuNanos());
        offer(pub, msg, -1, 8);   // an 8-byte message tells the echo to stop
    }

    static void echo(Subscription sub, Publication pub, int size) {
        UnsafeBuffer msg = new UnsafeBuffer(BufferUtil.allocateDirectAligned(size, 64));
        long[] got = {0};
        boolean[] stop = {false};
        Checker c = new Checker();
        c.size = size;
        FragmentHandler h = new FragmentAssembler((buf, offset, length, header) -> {
            if (length == 8 && size != 8) {
                stop[0] = true;
                return;
            }
            c.handler.onFragment(buf, offset, length, header);
            got[0]++;
        });
        for (long i = 0; ; i++) {
            while (got[0] == i && !stop[0]) {
                if (sub.poll(h, 1) == 0) Thread.onSpinWait();
            }
            if (stop[0]) break;
            offer(pub, msg, i, size);
        }
        System.out.println("RESULT side=echo cpuNanos=" + cpuNanos());
    }

    static long cpuNanos() {
        return ((com.sun.management.OperatingSystemMXBean) ManagementFactory.getOperatingSystemMXBean()).getProcessCpuTime();
    }
}
