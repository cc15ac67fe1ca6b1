package dev.fable.bench;

import dev.fable.ConnectOptions;
import dev.fable.Connection;
import dev.fable.Fable;
import org.HdrHistogram.Histogram;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.net.InetSocketAddress;
import java.net.StandardSocketOptions;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.Locale;

/**
 * The active peer of a row, in its own JVM: takes the orchestrator's commands on stdin, one per
 * line, runs them over its link to the {@link Responder} and answers one line each on stdout:
 * {@code OK ...}, {@code RESULT key=value ...} or {@code ERROR reason} (after which it exits).
 *
 * <pre>
 * OPEN size                                         (re)connect for messages of this size (Fable: a connection per size)
 * LAT  size cpu peerCpu warmMs measureMs maxRts verify    ping-pong
 * TPUT size cpu peerCpu warmMs measureMs verify           one-way, measured at the reader
 * RDV  warm count paceMs                            rendezvous: connect → first message (Fable rows)
 * QUIT
 * </pre>
 *
 * Usage: {@code Driver <row> <name> <responder address or -> <max size>}.
 */
public final class Driver {
    private final Row row;
    private final String name, address;
    private final int maxSize;
    private Link link;
    private int linkSize = -1;
    private Process child;   // the pipe row's responder

    Driver(Row row, String name, String address, int maxSize) {
        this.row = row;
        this.name = name;
        this.address = address;
        this.maxSize = maxSize;
    }

    public static void main(String[] a) {
        Row row = Row.parse(List.of(a[0])).getFirst();
        Driver d = new Driver(row, a[1], a[2], Integer.parseInt(a[3]));
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
        try {
            String line;
            while ((line = in.readLine()) != null && !line.equals("QUIT")) {
                System.out.println(d.run(line.trim().split(" ")));
                System.out.flush();
            }
            d.close();
            System.exit(0);
        } catch (Throwable t) {
            String why = t instanceof BenchFailure || t instanceof Link.Closed ? t.getMessage() : t.toString();
            System.out.println("ERROR " + String.valueOf(why).strip().replaceAll("\\s+", " "));
            System.out.flush();
            d.close();
            Runtime.getRuntime().halt(3);
        }
    }

    String run(String[] c) throws Exception {
        return switch (c[0]) {
            case "OPEN" -> open(Integer.parseInt(c[1]));
            case "LAT" -> lat(c);
            case "TPUT" -> tput(c);
            case "RDV" -> rdv(Long.parseLong(c[1]), Long.parseLong(c[2]), Long.parseLong(c[3]));
            default -> throw new IllegalArgumentException("unknown command " + c[0]);
        };
    }

    private String open(int size) throws Exception {
        if (link != null && (linkSize == size || !row.fable())) return "OK transport=" + link.transport();
        if (link != null) link.close();
        link = connect(size);
        linkSize = size;
        link.expect(Pattern.HELLO, "the responder's hello");
        return "OK transport=" + link.transport();
    }

    private Link connect(int size) throws Exception {
        switch (row.family()) {
            case "fable" -> {
                ConnectOptions o = FableLink.options(size, row.mode(), row.trusted()).connectTimeout(Duration.ofSeconds(10));
                return new FableLink(Fable.connect(row.uri(name + "-" + size), o));
            }
            case "nio" -> {
                boolean unix = row.transport().equals("unix");
                SocketChannel ch = SocketChannel.open(unix ? UnixDomainSocketAddress.of(address)
                        : new InetSocketAddress("127.0.0.1", Integer.parseInt(address)));
                if (row.transport().equals("tcp-nodelay")) ch.setOption(StandardSocketOptions.TCP_NODELAY, true);
                return new NioLink(ch, row.id(), maxSize);
            }
            case "pipe" -> {
                child = new ProcessBuilder(PeerJvm.command(Responder.class, List.of(row.id(), name, "-")))
                        .redirectError(ProcessBuilder.Redirect.INHERIT).start();
                return new PipeLink(child.getInputStream(), child.getOutputStream(), maxSize);
            }
            case "aeron" -> {
                AeronLink l = new AeronLink(address, false, null, maxSize);
                l.awaitConnected();
                return l;
            }
            case "raw" -> {
                return RawRingLink.open(java.nio.file.Path.of(address));
            }
            default -> throw new IllegalArgumentException(row.family());
        }
    }

    private String lat(String[] c) {
        int size = Integer.parseInt(c[1]);
        Loops.Lat r = Loops.ping(link, size, Integer.parseInt(c[2]), Integer.parseInt(c[3]), Long.parseLong(c[4]) * 1_000_000L,
                Long.parseLong(c[5]) * 1_000_000L, Long.parseLong(c[6]), c[7].equals("1"));
        Histogram h = r.h();
        long n = h.getTotalCount();
        return String.format(Locale.ROOT, "RESULT rts=%d p50=%d p90=%d p99=%d p999=%d max=%d allocPerRt=%.4f transport=%s", n,
                h.getValueAtPercentile(50), h.getValueAtPercentile(90), h.getValueAtPercentile(99), h.getValueAtPercentile(99.9),
                h.getMaxValue(), n == 0 ? Double.NaN : r.allocBytes() / (double) n, link.transport());
    }

    private String tput(String[] c) {
        int size = Integer.parseInt(c[1]);
        long[] r = Loops.write(link, size, Integer.parseInt(c[2]), Integer.parseInt(c[3]), Long.parseLong(c[4]) * 1_000_000L,
                Long.parseLong(c[5]) * 1_000_000L, c[6].equals("1"));
        long msgs = r[0], nanos = r[1], readerAlloc = r[2], sent = r[Pattern.ARGS], writerAlloc = r[Pattern.ARGS + 1];
        double secs = nanos / 1e9;
        return String.format(Locale.ROOT, "RESULT msgs=%d secs=%.4f msgPerSec=%.0f bytesPerSec=%.0f readerAllocPerMsg=%.4f "
                        + "writerAllocPerMsg=%.4f sent=%d transport=%s", msgs, secs, msgs / secs, msgs * (double) size / secs,
                msgs == 0 ? Double.NaN : readerAlloc / (double) msgs, sent == 0 ? Double.NaN : writerAlloc / (double) sent, sent, link.transport());
    }

    /** Connect → the responder's first message, {@code warm + count} times, {@code paceMs} apart (outside the timed span). */
    private String rdv(long warm, long count, long paceMs) throws InterruptedException {
        if (!row.fable()) throw new IllegalArgumentException("rendezvous cells are for Fable rows only");
        Histogram h = new Histogram(3_600_000_000_000L, 3);
        ConnectOptions o = (row.trusted() ? ConnectOptions.trusted() : ConnectOptions.untrusted()).waitMode(row.mode()).fixedWaitMode(true)
                .connectTimeout(Duration.ofSeconds(10));
        String transport = "?";
        for (long i = 0; i < warm + count; i++) {
            long t0 = System.nanoTime();
            Connection c = Fable.connect(row.uri(name + "-rdv"), o);
            try (FableLink l = new FableLink(c)) {
                l.expect(Pattern.HELLO, "the responder's hello");
                if (i >= warm) h.recordValue(System.nanoTime() - t0);
                transport = l.transport();
            }
            if (paceMs > 0) Thread.sleep(paceMs);
        }
        return String.format(Locale.ROOT, "RESULT rts=%d p50=%d p90=%d p99=%d p999=%d max=%d transport=%s", count,
                h.getValueAtPercentile(50), h.getValueAtPercentile(90), h.getValueAtPercentile(99), h.getValueAtPercentile(99.9),
                h.getMaxValue(), transport);
    }

    void close() {
        if (link != null) link.close();
        if (child != null) {
            try {
                if (!child.waitFor(5, java.util.concurrent.TimeUnit.SECONDS)) child.destroyForcibly();
            } catch (InterruptedException e) {
                child.destroyForcibly();
            }
        }
    }
}
