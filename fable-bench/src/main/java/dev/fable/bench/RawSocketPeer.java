package dev.fable.bench;

import dev.fable.sync.ThreadAffinity;
import org.HdrHistogram.Histogram;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.lang.management.ManagementFactory;
import java.net.InetSocketAddress;
import java.net.StandardProtocolFamily;
import java.net.StandardSocketOptions;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.file.Files;
import java.nio.file.Path;

import static java.lang.foreign.ValueLayout.JAVA_INT_UNALIGNED;
import static java.lang.foreign.ValueLayout.JAVA_LONG_UNALIGNED;

/**
 * Baseline, not Fable: a plain NIO {@link SocketChannel} over a Unix domain socket ({@code nio-unix})
 * or TCP loopback with {@code TCP_NODELAY} ({@code nio-tcp}), written the way a competent Java team
 * would, under the same rules as {@link BenchPeer}.
 *
 * <p>Framing: an 8-byte header (int payload length, int low 32 bits of the sequence number) then the
 * payload, every byte of which is the low byte of the sequence number. The writer builds header and
 * payload in one direct buffer and sends them with one {@code write} per message. The reader reads
 * big chunks into one direct buffer, parses the frames in place, checks the length, the sequence
 * number and every payload byte, and moves a partial frame to the front only when the tail of the
 * buffer cannot hold a whole frame.
 *
 * <p>Mode {@code spin}: non-blocking channel, busy-polled ({@code read}/{@code write} returning 0 is
 * retried after {@link Thread#onSpinWait()}). Mode {@code block} (and anything else): a blocking
 * channel. Same arguments as {@link BenchPeer}, with the variant ({@code nio-unix} or {@code nio-tcp})
 * in the trust position; the server prints {@code READY <port>} for TCP and the orchestrator passes
 * the port to the client as a last argument.
 */
public final class RawSocketPeer {
    static final int HEADER = 8;

    public static void main(String[] a) throws Exception {
        String role = a[0], name = a[1], kind = a[2];
        int size = Integer.parseInt(a[3]);
        boolean spin = a[4].equals("spin");
        boolean unix = a[5].endsWith("unix");
        int cpu = Integer.parseInt(a[6]);
        long warmup = Long.parseLong(a[7]), measure = Long.parseLong(a[8]);
        Path sock = Path.of(System.getProperty("java.io.tmpdir"), name + ".sock");
        SocketChannel ch;
        if (role.equals("server")) {
            Files.deleteIfExists(sock);
            try (ServerSocketChannel ss = unix ? ServerSocketChannel.open(StandardProtocolFamily.UNIX) : ServerSocketChannel.open()) {
                ss.bind(unix ? UnixDomainSocketAddress.of(sock) : new InetSocketAddress("127.0.0.1", 0));
                System.out.println("READY" + (unix ? "" : " " + ((InetSocketAddress) ss.getLocalAddress()).getPort()));
                System.out.flush();
                ch = ss.accept();
            } finally {
                Files.deleteIfExists(sock);
            }
        } else {
            try {
                ch = unix ? SocketChannel.open(UnixDomainSocketAddress.of(sock))
                        : SocketChannel.open(new InetSocketAddress("127.0.0.1", Integer.parseInt(a[9])));
            } catch (IOException e) {
                BenchPeer.fail("connect " + a[5] + ": " + e);
                return;
            }
            System.out.println("CONNECTED transport=" + a[5]);
            System.out.flush();
        }
        if (!unix) ch.setOption(StandardSocketOptions.TCP_NODELAY, true);
        ch.configureBlocking(!spin);
        ThreadAffinity.pin(cpu);
        try (ch) {
            Framer f = new Framer(ch, size, spin);
            if (role.equals("server")) {
                if (kind.equals("tput")) receive(f, warmup, measure); else echo(f);
            } else {
                if (kind.equals("tput")) send(f); else ping(f, warmup, measure);
            }
        }
        BenchPeer.awaitRelease();
        System.exit(0);
    }

    /** Both directions of one channel: an outgoing frame buffer and an incoming chunk buffer parsed in place. */
    static final class Framer {
        final SocketChannel ch;
        final int size, frame;
        final boolean spin;
        final ByteBuffer out;
        final MemorySegment outSeg;
        final ByteBuffer in;
        final MemorySegment inSeg;
        int start, end;   // unparsed bytes of `in` are [start, end)
        long seqIn;

        Framer(SocketChannel ch, int size, boolean spin) {
            this.ch = ch;
            this.size = size;
            this.frame = HEADER + size;
            this.spin = spin;
            this.out = ByteBuffer.allocateDirect(frame).order(ByteOrder.nativeOrder());
            this.outSeg = MemorySegment.ofBuffer(out);
            this.in = ByteBuffer.allocateDirect(Math.max(256 * 1024, 4 * frame)).order(ByteOrder.nativeOrder());
            this.inSeg = MemorySegment.ofBuffer(in);
        }

        /** Sends message {@code seq}: header and payload in one buffer, one write (more only if the socket takes part of it). */
        void write(long seq) throws IOException {
            outSeg.set(JAVA_INT_UNALIGNED, 0, size);
            outSeg.set(JAVA_INT_UNALIGNED, 4, (int) seq);
            outSeg.asSlice(HEADER, size).fill((byte) seq);
            out.clear();
            while (out.hasRemaining()) {
                if (ch.write(out) == 0) Thread.onSpinWait();
            }
        }

        /** Reads more bytes; false at end of stream. */
        boolean fill() throws IOException {
            if (in.capacity() - end < frame) {   // not room for a whole frame at the tail: move the partial one to the front
                MemorySegment.copy(inSeg, start, inSeg, 0, end - start);
                end -= start;
                start = 0;
            }
            in.limit(in.capacity()).position(end);
            int n;
            while ((n = ch.read(in)) == 0) Thread.onSpinWait();
            if (n < 0) return false;
            end += n;
            return true;
        }

        /** Checks and consumes up to {@code max} whole frames of the buffer; returns how many. */
        int parse(int max) {
            int got = 0;
            while (got < max && end - start >= HEADER) {
                int len = inSeg.get(JAVA_INT_UNALIGNED, start);
                if (len != size) BenchPeer.fail("nio message " + seqIn + " has " + len + " bytes, expected " + size);
                if (end - start < HEADER + len) break;
                int s = inSeg.get(JAVA_INT_UNALIGNED, start + 4);
                if (s != (int) seqIn) BenchPeer.fail("nio message " + seqIn + " arrived with sequence number " + s);
                long p = BenchPeer.pattern(seqIn), bad = 0;
                long base = start + HEADER;
                for (int i = 0; i < len; i += 8) bad |= inSeg.get(JAVA_LONG_UNALIGNED, base + i) ^ p;
                if (bad != 0) BenchPeer.fail("nio message " + seqIn + " has wrong bytes");
                start += HEADER + len;
                seqIn++;
                got++;
            }
            if (start == end) start = end = 0;
            return got;
        }

        /** Waits for the next whole frame and checks it; false at end of stream. */
        boolean readOne() throws IOException {
            while (parse(1) == 0) {
                if (!fill()) return false;
            }
            return true;
        }
    }

    static void send(Framer f) {
        try {
            for (long seq = 0; ; seq++) f.write(seq);
        } catch (IOException end) {
            // the reader closed its end: the orchestrator has its result
        }
    }

    static void receive(Framer f, long warmupMs, long measureMs) throws IOException {
        var threads = (com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean();
        long warmEnd = System.nanoTime() + warmupMs * 1_000_000L, end = warmEnd + measureMs * 1_000_000L, t0 = 0, s0 = 0, alloc0 = 0;
        while (true) {
            if (!f.fill()) BenchPeer.fail("nio writer closed early");
            f.parse(Integer.MAX_VALUE);
            long now = System.nanoTime();
            if (t0 == 0 && now >= warmEnd) {
                t0 = now;
                s0 = f.seqIn;
                alloc0 = threads.getCurrentThreadAllocatedBytes();
            } else if (t0 != 0 && now >= end) {
                long alloc = threads.getCurrentThreadAllocatedBytes() - alloc0;
                long msgs = f.seqIn - s0;
                double secs = (now - t0) / 1e9;
                System.out.printf("RESULT side=reader msgs=%d secs=%.3f msgPerSec=%.0f bytesPerSec=%.0f allocBytes=%d cpuNanos=%d%n",
                        msgs, secs, msgs / secs, msgs * (double) f.size / secs, alloc, cpuNanos());
                return;
            }
        }
    }

    static void ping(Framer f, long warmup, long measure) throws IOException {
        var threads = (com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean();
        Histogram h = new Histogram(3_600_000_000_000L, 3);
        long alloc0 = 0;
        long warmEnd = System.nanoTime() + BenchPeer.MIN_WARM_NANOS;
        for (long i = 0; i < warmup + measure; i++) {
            if (i == warmup) {
                if (System.nanoTime() < warmEnd) warmup++;   // as in BenchPeer.ping
                else alloc0 = threads.getCurrentThreadAllocatedBytes();
            }
            long t0 = System.nanoTime();
            f.write(i);
            if (!f.readOne()) BenchPeer.fail("nio echo closed early");
            if (i >= warmup) h.recordValue(System.nanoTime() - t0);
        }
        long alloc = threads.getCurrentThreadAllocatedBytes() - alloc0;
        System.out.printf("RESULT side=pinger rts=%d p50=%d p90=%d p99=%d p999=%d max=%d allocBytes=%d cpuNanos=%d transport=%s%n", measure,
                h.getValueAtPercentile(50), h.getValueAtPercentile(90), h.getValueAtPercentile(99),
                h.getValueAtPercentile(99.9), h.getMaxValue(), alloc, cpuNanos(), f.ch.getRemoteAddress() instanceof UnixDomainSocketAddress ? "nio-unix" : "nio-tcp");
    }

    static void echo(Framer f) throws IOException {
        while (f.readOne()) f.write(f.seqIn - 1);
        System.out.println("RESULT side=echo cpuNanos=" + cpuNanos());
    }

    static long cpuNanos() {
        return ((com.sun.management.OperatingSystemMXBean) ManagementFactory.getOperatingSystemMXBean()).getProcessCpuTime();
    }
}
