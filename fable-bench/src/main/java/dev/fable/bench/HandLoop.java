package dev.fable.bench;

import dev.fable.Buffer;
import dev.fable.ConnectOptions;
import dev.fable.Connection;
import dev.fable.Endpoint;
import dev.fable.Fable;
import dev.fable.WaitMode;
import dev.fable.sync.ThreadAffinity;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.time.Duration;
import java.util.List;

import static java.lang.foreign.ValueLayout.JAVA_LONG;

/**
 * The yardstick of the harness's own cost: a two-process one-way loop over Fable shared memory
 * written by hand, as a user would, with nothing of the bench in it (no {@link Link}, no commands,
 * no {@link Pattern}). Same work per message as the bench's {@code fable-shm-spin} 64 B cell: the
 * writer fills all 64 bytes (sequence number, then its low byte), the reader checks the sequence
 * number. Same pool (32768 slots of 64 B), spin waits, hot threads pinned.
 *
 * <p>Usage: {@code HandLoop reader <name> <cpu> <warmMs>} (prints READY, then RESULT msgPerSec=...)
 * and {@code HandLoop writer <name> <cpu> <durationMs>}.
 */
public final class HandLoop {
    private static final Duration FOREVER = Duration.ofSeconds(-1);

    public static void main(String[] a) throws Exception {
        String name = a[1];
        int cpu = Integer.parseInt(a[2]);
        long ms = Long.parseLong(a[3]);
        ConnectOptions o = FableLink.options(64, WaitMode.SPIN, true);   // the fable-shm-spin row's own options
        if (a[0].equals("reader")) {
            try (Endpoint ep = Fable.register(name).listen(o)) {
                System.out.println("READY");
                System.out.flush();
                try (Connection c = ep.accept()) {
                    ThreadAffinity.pin(cpu);
                    System.out.println(read(c, ms * 1_000_000L));
                }
            }
        } else {
            try (Connection c = Fable.connect("xio+shm://" + name, o.connectTimeout(Duration.ofSeconds(10)))) {
                ThreadAffinity.pin(cpu);
                long end = System.nanoTime() + ms * 1_000_000L;
                for (long seq = 0; ; seq++) {
                    Buffer b = c.claim(64, FOREVER);
                    MemorySegment s = b.segment();
                    long w = (seq & 0xFF) * 0x0101010101010101L;
                    s.set(JAVA_LONG, 0, seq);
                    for (int i = 8; i < 64; i += 8) s.set(JAVA_LONG, i, w);
                    b.commit();
                    if ((seq & 255) == 0 && System.nanoTime() >= end) break;
                }
                Buffer b = c.claim(64, FOREVER);
                b.segment().set(JAVA_LONG, 0, -1L);   // the end
                b.commit();
                System.in.read();   // until the orchestrator has the reader's figure
            }
        }
        System.out.flush();
        System.exit(0);
    }

    static String read(Connection c, long warmNanos) {
        long expect = 0, first = 0, t0 = 0, m0 = 0;
        while (true) {
            Buffer b = c.receive(FOREVER);
            long seq = b.segment().get(JAVA_LONG, 0);
            b.release();
            if (seq < 0) break;
            if (seq != expect) return "ERROR expected message " + expect + ", got " + seq;
            expect++;
            if (t0 == 0 && (expect & 255) == 1) {
                long now = System.nanoTime();
                if (first == 0) first = now;
                else if (now - first >= warmNanos) {
                    t0 = now;
                    m0 = expect;
                }
            }
        }
        long t1 = System.nanoTime();
        if (t0 == 0) return "ERROR the writer stopped before the warm-up ended";
        return "RESULT msgPerSec=" + (long) ((expect - m0) / ((t1 - t0) / 1e9));
    }

    /** One hand-written cell in fresh JVMs: the reader on {@code cpuB}, the writer on {@code cpuA}; msg/s, or NaN if it failed. */
    static double run(String name, int cpuA, int cpuB, long warmMs, long measureMs, List<Process> owned, long timeoutMs) throws IOException {
        PeerPair p;
        try {
            p = PeerPair.start(PeerJvm.command(HandLoop.class, List.of("reader", name, Integer.toString(cpuB), Long.toString(warmMs))),
                    PeerJvm.command(HandLoop.class, List.of("writer", name, Integer.toString(cpuA), Long.toString(warmMs + measureMs + 20))),
                    ProcessBuilder.Redirect.DISCARD, ProcessBuilder.Redirect.DISCARD, owned, timeoutMs + warmMs + measureMs);
        } catch (BenchFailure e) {
            return Double.NaN;
        }
        try (p) {
            String r = p.firstOut.readLine();
            return r != null && r.startsWith("RESULT msgPerSec=") ? Double.parseDouble(r.substring(17)) : Double.NaN;
        }
    }
}
