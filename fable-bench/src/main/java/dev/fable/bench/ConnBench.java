package dev.fable.bench;

import dev.fable.Buffer;
import dev.fable.ConnectOptions;
import dev.fable.Connection;
import dev.fable.ConnectionState;
import dev.fable.Endpoint;
import dev.fable.Fable;
import dev.fable.FableException;
import dev.fable.Poller;
import dev.fable.WaitMode;
import dev.fable.sync.ThreadAffinity;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SelectionKey;
import java.nio.channels.Selector;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * {@code ./fable bench --connections 1,100,1000,10000}: ping-pong RTT over one of N connections while the other
 * N-1 are idle, and while 1 % of N (N/100, rounded down) are busy, for three ways of serving N connections in one
 * server JVM (hot threads on one CPU) from a client JVM (hot thread on the other CPU):
 * <ul>
 *   <li><b>fable-poller</b>: N Fable shm connections, one server thread with one {@code Fable.poller(ADAPTIVE)}
 *       echoing every message;</li>
 *   <li><b>fable-thread-per-connection</b>: the same N connections, one server thread per connection echoing
 *       ({@code receive} in the connection's ADAPTIVE wait mode);</li>
 *   <li><b>nio-selector-unix</b>: N Unix-domain {@code SocketChannel}s, one server thread with one NIO
 *       {@code Selector} echoing.</li>
 * </ul>
 * The client measures on connection 0 with one pinned thread: claim/commit (or write) a 16-byte ping, spin for the
 * echo, {@code System.nanoTime} around both. In the busy case the same thread, while it waits for the measured echo,
 * drives the busy connections: it checks one of them per turn and sends its next ping as soon as its echo came
 * (back-to-back ping-pongs, one in flight per busy connection). One client thread, not one per busy connection:
 * this machine has two CPUs, and a second spinning client thread would share the measuring thread's CPU, so the
 * busy load would run only while the measuring thread was descheduled.
 *
 * <p>Rounds alternate the families (rotated); for each N the connections are opened once and served in turn by
 * every family of that transport. The peers and the orchestrator speak one line per command and one line per
 * answer on stdin/stdout ({@link #server} and {@link #client}); nothing waits on a sleep.
 */
public final class ConnBench {
    static final List<String> FAMILIES = List.of("fable-poller", "fable-thread-per-connection", "nio-selector-unix");
    static final List<Integer> DEFAULT_N = List.of(1, 100, 1000, 10000);
    static final List<Integer> QUICK_N = List.of(1, 100, 1000);
    static final int MESSAGE = 16;
    /** The sequence number of the message that ends a thread-per-connection server thread (echoed first). */
    static final long STOP_SEQ = -1;
    private static final Duration FOREVER = Duration.ofNanos(-1);
    private static final Duration CLAIM_WAIT = Duration.ofSeconds(10);
    /** Descriptors and memory mappings left free for the JVMs' own needs (jars, JIT, GC, watchers). */
    static final int FD_MARGIN = 300;
    static final int MAP_MARGIN = 4000;

    private ConnBench() {}

    /**
     * Small rings (slots of 256 B, 4 slots, the smallest log) so that 10,000 connections fit the machine. Untrusted:
     * a trusted side keeps its descriptor of the peer's pool open to lend buffers onward (2 descriptors per connection,
     * and 10,000 connections would need more than this machine's 20,000), an untrusted one copies each read instead
     * (16 bytes here) and keeps only its control socket. Fixed wait mode: no policy changes it during a run.
     */
    static ConnectOptions options(WaitMode mode) {
        return ConnectOptions.untrusted().slotSize(256).slotCount(4).logBytes(ConnectOptions.MIN_LOG_BYTES).waitMode(mode)
                .fixedWaitMode(true).connectTimeout(Duration.ofSeconds(60));
    }

    public static void main(String[] a) throws Exception {
        try {
            if (a[0].equals("server")) server(a[1], Integer.parseInt(a[2]), Path.of(a[3]));
            else client(a[1], Integer.parseInt(a[2]), Path.of(a[3]));
        } catch (Throwable t) {
            System.out.println("ERROR " + oneLine(t));
            System.out.flush();
            t.printStackTrace();
            System.exit(1);
        }
        System.out.flush();
        System.exit(0);
    }

    static String oneLine(Throwable t) {
        String m = t.getMessage();
        return (t.getClass().getSimpleName() + (m == null ? "" : ": " + m)).replace('\n', ' ');
    }

    private static void say(String line) {
        System.out.println(line);
        System.out.flush();
    }

    /** Open descriptors of this JVM. */
    static long fds() throws IOException {
        try (var s = Files.list(Path.of("/proc/self/fd"))) {
            return s.count();
        }
    }

    /** Memory mappings of this JVM (lines of /proc/self/maps). */
    static long maps() throws IOException {
        try (var s = Files.lines(Path.of("/proc/self/maps"))) {
            return s.count();
        }
    }

    static long fdLimit() {
        try {
            for (String l : Files.readAllLines(Path.of("/proc/self/limits"))) {
                if (l.startsWith("Max open files")) {
                    String v = l.substring("Max open files".length()).trim().split("\\s+")[0];
                    return v.equals("unlimited") ? Long.MAX_VALUE : Long.parseLong(v);
                }
            }
        } catch (IOException | RuntimeException e) {
            // not Linux
        }
        return Long.MAX_VALUE;
    }

    static long mapLimit() {
        try {
            return Long.parseLong(Files.readAllLines(Path.of("/proc/sys/vm/max_map_count")).getFirst().trim());   // readString gives "6" here
        } catch (IOException | RuntimeException e) {
            return Long.MAX_VALUE;
        }
    }

    private static String resources() throws IOException {
        return "fds=" + fds() + " fdlimit=" + fdLimit() + " maps=" + maps() + " maplimit=" + mapLimit();
    }

    // ================================================================ the server

    /**
     * The server: listens on Fable name {@code name} and on the Unix socket {@code path}, accepts everything that
     * comes (an acceptor thread per transport), and answers the orchestrator's commands:
     * {@code OPEN shm|unix N} (wait until N connections are there), {@code CLOSE shm|unix},
     * {@code SERVE family} (start serving the open connections), {@code STOP} (stop serving), {@code QUIT}.
     */
    static void server(String name, int cpu, Path path) throws Exception {
        ConcurrentLinkedQueue<Connection> shmArrived = new ConcurrentLinkedQueue<>();
        ConcurrentLinkedQueue<SocketChannel> unixArrived = new ConcurrentLinkedQueue<>();
        List<Connection> shm = new ArrayList<>();
        List<SocketChannel> unix = new ArrayList<>();
        try (Endpoint ep = Fable.register(name).listen(options(WaitMode.ADAPTIVE));
             ServerSocketChannel ss = ServerSocketChannel.open(StandardProtocolFamily.UNIX)) {
            ss.bind(UnixDomainSocketAddress.of(path), 4096);
            Thread.ofPlatform().daemon().name("accept-shm").start(() -> {
                try {
                    while (true) {
                        Connection c = ep.accept(Duration.ofSeconds(1));
                        if (c != null) shmArrived.add(c);
                    }
                } catch (FableException | IllegalStateException closed) {
                    // the endpoint closed: the run is over
                }
            });
            Thread.ofPlatform().daemon().name("accept-unix").start(() -> {
                try {
                    while (true) unixArrived.add(ss.accept());
                } catch (IOException closed) {
                    // closed: the run is over
                }
            });
            say("READY");
            BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
            Serving serving = null;
            Selector selector = null;
            for (String line; (line = in.readLine()) != null; ) {
                String[] f = line.trim().split(" ");
                try {
                    switch (f[0]) {
                        case "OPEN" -> {
                            int n = Integer.parseInt(f[2]);
                            long deadline = System.nanoTime() + TimeUnit.MINUTES.toNanos(3);
                            if (f[1].equals("shm")) {
                                while (shm.size() < n) {
                                    Connection c = shmArrived.poll();
                                    if (c != null) shm.add(c);
                                    else if (System.nanoTime() > deadline) throw new BenchFailure(shm.size() + " of " + n + " shm connections arrived");
                                    else Thread.onSpinWait();
                                }
                            } else {
                                while (unix.size() < n) {
                                    SocketChannel c = unixArrived.poll();
                                    if (c != null) unix.add(c);
                                    else if (System.nanoTime() > deadline) throw new BenchFailure(unix.size() + " of " + n + " unix connections arrived");
                                    else Thread.onSpinWait();
                                }
                            }
                            say("OPENED " + f[1] + " " + n + " " + resources());
                        }
                        case "CLOSE" -> {
                            if (f[1].equals("shm")) {
                                for (Connection c : shm) c.close();
                                shm.clear();
                            } else {
                                if (selector != null) selector.close();
                                selector = null;
                                for (SocketChannel c : unix) c.close();
                                unix.clear();
                            }
                            say("CLOSED " + f[1] + " " + resources());
                        }
                        case "SERVE" -> {
                            if (serving != null) throw new IllegalStateException("already serving");
                            serving = switch (f[1]) {
                                case "fable-poller" -> new PollerServer(shm, cpu);
                                case "fable-thread-per-connection" -> new ThreadsServer(shm, cpu);
                                case "nio-selector-unix" -> {
                                    if (selector == null) selector = Selector.open();
                                    yield new SelectorServer(unix, selector, cpu);
                                }
                                default -> throw new IllegalArgumentException("unknown family " + f[1]);
                            };
                            say(serving.start());
                        }
                        case "STOP" -> {
                            String r = serving == null ? "STOPPED" : serving.stop();
                            serving = null;
                            say(r);
                        }
                        case "RES" -> say("RES " + resources());
                        case "QUIT" -> {
                            say("BYE");
                            return;
                        }
                        default -> say("ERROR unknown command " + line);
                    }
                } catch (Exception | OutOfMemoryError e) {
                    e.printStackTrace();
                    say("ERROR " + oneLine(e));
                }
            }
        }
    }

    /** One way of serving the open connections; {@link #start} and {@link #stop} answer with one line. */
    interface Serving {
        String start() throws Exception;

        String stop() throws Exception;
    }

    /** Echoes a Fable message: the same 16 bytes back. */
    static void echo(Connection c, Buffer b) {
        long seq = b.getLong(0), stamp = b.getLong(8);
        int len = b.length();
        b.release();
        Buffer w = c.claim(MESSAGE, CLAIM_WAIT);
        if (w == null) throw new BenchFailure("no room to echo within " + CLAIM_WAIT + " on " + c);
        w.putLong(0, seq);
        w.putLong(8, stamp);
        w.length(len);
        w.commit();
    }

    /** fable-poller: one pinned thread, one Poller over every connection. */
    static final class PollerServer implements Serving {
        private final List<Connection> conns;
        private final int cpu;
        private volatile boolean stop;
        private volatile String failure;
        private Thread thread;
        private final CountDownLatch added = new CountDownLatch(1);

        PollerServer(List<Connection> conns, int cpu) {
            this.conns = conns;
            this.cpu = cpu;
        }

        @Override
        public String start() throws InterruptedException {
            thread = Thread.ofPlatform().name("poller").start(() -> {
                try {
                    ThreadAffinity.pin(cpu);
                    try (Poller p = Fable.poller(WaitMode.ADAPTIVE)) {
                        for (Connection c : conns) p.add(c);
                        added.countDown();
                        while (!stop) {
                            Connection c = p.await(Duration.ofMillis(100));
                            if (c == null) continue;
                            for (Buffer b; (b = c.poll()) != null; ) echo(c, b);
                            if (c.state() != ConnectionState.OPEN) throw new BenchFailure("a connection ended: " + c.state() + " " + c);
                        }
                    }
                } catch (RuntimeException e) {
                    e.printStackTrace();
                    failure = oneLine(e);
                } finally {
                    added.countDown();
                }
            });
            added.await();
            return failure != null ? "ERROR " + failure : "SERVING fable-poller " + conns.size();
        }

        @Override
        public String stop() throws InterruptedException {
            stop = true;
            thread.join();
            return failure != null ? "ERROR " + failure : "STOPPED";
        }
    }

    /**
     * fable-thread-per-connection: a platform thread per connection (256 KiB stacks), each pinned to the server's CPU,
     * blocking in {@code receive} (ADAPTIVE: spin 20 µs, then a futex). A thread ends when it has echoed a
     * {@link #STOP_SEQ} message. Threads are started in batches while the memory mappings they take (their stacks)
     * leave {@link #MAP_MARGIN} of {@code vm.max_map_count}; when the next batch would not, or a thread cannot be
     * made, the start stops there and says so ({@code SKIP started reason}); the client then stops those it has.
     */
    static final class ThreadsServer implements Serving {
        private final List<Connection> conns;
        private final int cpu;
        private final List<Thread> threads = new ArrayList<>();
        private final List<String> failures = new CopyOnWriteArrayList<>();

        ThreadsServer(List<Connection> conns, int cpu) {
            this.conns = conns;
            this.cpu = cpu;
        }

        @Override
        public String start() throws Exception {
            long limit = mapLimit();
            long before = maps();
            int batch = 500;
            String refusal = null;
            AtomicInteger running = new AtomicInteger();
            for (int i = 0; i < conns.size() && refusal == null; i++) {
                if (i > 0 && i % batch == 0) {   // every batch: how many mappings a thread takes, and is there room for the next batch
                    long now = maps();
                    double per = (now - before) / (double) i;
                    int left = Math.min(batch, conns.size() - i);
                    if (now + per * left + MAP_MARGIN > limit) {
                        refusal = String.format(Locale.ROOT, "%d threads take %d memory mappings (%.1f each); %d more would pass vm.max_map_count = %d "
                                + "(less a margin of %d for the JVM)", i, now - before, per, conns.size() - i, limit, MAP_MARGIN);
                        break;
                    }
                }
                Connection c = conns.get(i);
                try {
                    threads.add(Thread.ofPlatform().name("conn-" + i).stackSize(256 * 1024).daemon().start(() -> serve(c, running)));
                } catch (OutOfMemoryError e) {   // "unable to create native thread"
                    refusal = "thread " + (i + 1) + " could not be made: " + oneLine(e);
                }
            }
            while (running.get() < threads.size() && failures.isEmpty()) Thread.onSpinWait();   // every thread pinned and in receive
            if (!failures.isEmpty()) return "ERROR " + failures.getFirst();
            return refusal == null ? "SERVING fable-thread-per-connection " + threads.size() : "SKIP " + threads.size() + " " + refusal;
        }

        private void serve(Connection c, AtomicInteger running) {
            try {
                ThreadAffinity.pin(cpu);
                running.incrementAndGet();
                while (true) {
                    Buffer b = c.receive(FOREVER);
                    boolean last = b.getLong(0) == STOP_SEQ;
                    echo(c, b);
                    if (last) return;
                }
            } catch (RuntimeException e) {
                e.printStackTrace();
                failures.add(oneLine(e));
            }
        }

        @Override
        public String stop() throws InterruptedException {
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
            for (Thread t : threads) {
                long left = deadline - System.nanoTime();
                if (left <= 0 || !t.join(Duration.ofNanos(left))) return "ERROR a connection's thread did not end (it got no stop message)";
            }
            return failures.isEmpty() ? "STOPPED" : "ERROR " + failures.getFirst();
        }
    }

    /** nio-selector-unix: one pinned thread, one Selector over every channel, echoing what it reads. */
    static final class SelectorServer implements Serving {
        private final List<SocketChannel> conns;
        private final Selector selector;
        private final int cpu;
        private volatile boolean stop;
        private volatile String failure;
        private Thread thread;
        private final CountDownLatch registered = new CountDownLatch(1);

        SelectorServer(List<SocketChannel> conns, Selector selector, int cpu) {
            this.conns = conns;
            this.selector = selector;
            this.cpu = cpu;
        }

        @Override
        public String start() throws InterruptedException {
            thread = Thread.ofPlatform().name("selector").start(() -> {
                try {
                    ThreadAffinity.pin(cpu);
                    for (SocketChannel c : conns) {
                        if (c.keyFor(selector) == null) {
                            c.configureBlocking(false);
                            c.register(selector, SelectionKey.OP_READ);
                        }
                    }
                    registered.countDown();
                    ByteBuffer buf = ByteBuffer.allocateDirect(4096);
                    while (!stop) {
                        if (selector.select() == 0) continue;
                        var keys = selector.selectedKeys();
                        for (SelectionKey k : keys) {
                            SocketChannel c = (SocketChannel) k.channel();
                            buf.clear();
                            if (c.read(buf) < 0) throw new BenchFailure("a client closed its socket");
                            buf.flip();
                            while (buf.hasRemaining()) c.write(buf);   // a few bytes into an empty socket buffer: at once
                        }
                        keys.clear();
                    }
                } catch (IOException | RuntimeException e) {
                    e.printStackTrace();
                    failure = oneLine(e);
                } finally {
                    registered.countDown();
                }
            });
            registered.await();
            return failure != null ? "ERROR " + failure : "SERVING nio-selector-unix " + conns.size();
        }

        @Override
        public String stop() throws InterruptedException {
            stop = true;
            selector.wakeup();
            thread.join();
            return failure != null ? "ERROR " + failure : "STOPPED";
        }
    }

    // ================================================================ the client

    /**
     * The client: {@code CONNECT shm|unix N} (grows its set to N connections), {@code CLOSE shm|unix},
     * {@code MEASURE shm|unix busy warmMs measureMs} (answers {@code RESULT count p50 p90 p99 max busyRoundTrips}),
     * {@code RELEASE k} (sends the stop message on the first k shm connections and waits for their echoes),
     * {@code QUIT}. Its measuring thread is this one, pinned.
     */
    static void client(String name, int cpu, Path path) throws Exception {
        ThreadAffinity.pin(cpu);
        List<Connection> shm = new ArrayList<>();
        List<SocketChannel> unix = new ArrayList<>();
        ConnectOptions opts = options(WaitMode.SPIN);
        say("READY");
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
        long[] samples = new long[1 << 21];
        for (String line; (line = in.readLine()) != null; ) {
            String[] f = line.trim().split(" ");
            try {
                switch (f[0]) {
                    case "CONNECT" -> {
                        int n = Integer.parseInt(f[2]);
                        long t0 = System.nanoTime();
                        if (f[1].equals("shm")) {
                            while (shm.size() < n) shm.add(Fable.connect("xio+shm://" + name, opts));
                        } else {
                            while (unix.size() < n) {
                                SocketChannel c = SocketChannel.open(UnixDomainSocketAddress.of(path));
                                c.configureBlocking(false);
                                unix.add(c);
                            }
                        }
                        say(String.format(Locale.ROOT, "CONNECTED %s %d %d %s", f[1], n, (System.nanoTime() - t0) / 1_000_000, resources()));
                    }
                    case "CLOSE" -> {
                        if (f[1].equals("shm")) {
                            for (Connection c : shm) c.close();
                            shm.clear();
                        } else {
                            for (SocketChannel c : unix) c.close();
                            unix.clear();
                        }
                        say("CLOSED " + f[1] + " " + resources());
                    }
                    case "MEASURE" -> {
                        int busy = Integer.parseInt(f[2]);
                        long warm = Long.parseLong(f[3]), meas = Long.parseLong(f[4]);
                        Pinger p = f[1].equals("shm") ? new FablePinger(shm, busy) : new UnixPinger(unix, busy);
                        say(p.measure(warm, meas, samples));
                    }
                    case "RELEASE" -> {
                        int k = Integer.parseInt(f[1]);
                        for (int i = 0; i < k; i++) send(shm.get(i), STOP_SEQ);
                        for (int i = 0; i < k; i++) {
                            Buffer b = shm.get(i).receive(Duration.ofSeconds(60));
                            if (b == null) throw new BenchFailure("connection " + i + "'s thread did not echo the stop message within 60 s");
                            b.release();
                        }
                        say("RELEASED " + k);
                    }
                    case "RES" -> say("RES " + resources());
                    case "QUIT" -> {
                        say("BYE");
                        return;
                    }
                    default -> say("ERROR unknown command " + line);
                }
            } catch (Exception | OutOfMemoryError e) {
                e.printStackTrace();
                say("ERROR " + oneLine(e));
            }
        }
    }

    static void send(Connection c, long seq) {
        Buffer b = c.claim(MESSAGE, CLAIM_WAIT);
        if (b == null) throw new BenchFailure("no room to send within " + CLAIM_WAIT + " on " + c);
        b.putLong(0, seq);
        b.putLong(8, 0);
        b.length(MESSAGE);
        b.commit();
    }

    /**
     * The measuring loop, the same for both transports: a round trip on connection 0 after another; while one is in
     * flight, one busy connection is looked at per turn. Runs {@code warmMs}, then measures for {@code measMs} and at
     * least 50 round trips (at most 10× {@code measMs}, 5 s at least, when round trips are that slow).
     */
    abstract static class Pinger {
        final int busy;
        long busyRoundTrips;
        private int next;

        Pinger(int busy, int available) {
            if (busy + 1 > available) throw new IllegalArgumentException(busy + " busy connections and the measured one: only " + available + " open");
            this.busy = busy;
        }

        abstract void ping(long seq) throws IOException;

        /** The echo of the ping on connection 0, if it has come: its sequence number, or -2 if not yet. */
        abstract long pong() throws IOException;

        /** Busy connection {@code i} (0-based): if its echo came, send its next ping (+1 round trip). */
        abstract void serviceBusy(int i) throws IOException;

        abstract void startBusy() throws IOException;

        abstract void drainBusy() throws IOException;

        String measure(long warmMs, long measMs, long[] samples) throws IOException {
            startBusy();
            long seq = 1;
            long warmEnd = System.nanoTime() + warmMs * 1_000_000L;
            while (System.nanoTime() - warmEnd < 0) seq = roundTrip(seq);
            busyRoundTrips = 0;
            int n = 0;
            long t0 = System.nanoTime(), min = t0 + measMs * 1_000_000L, max = t0 + Math.max(5000, 10 * measMs) * 1_000_000L;
            while (n < samples.length) {
                long s = System.nanoTime();
                if ((s - min >= 0 && n >= 50) || s - max >= 0) break;
                seq = roundTrip(seq);
                samples[n++] = System.nanoTime() - s;
            }
            long busyRts = busyRoundTrips;
            double secs = (System.nanoTime() - t0) / 1e9;
            drainBusy();
            long[] s = Arrays.copyOf(samples, n);
            Arrays.sort(s);
            return String.format(Locale.ROOT, "RESULT %d %d %d %d %d %.0f", n, pct(s, 50), pct(s, 90), pct(s, 99), s[n - 1], busyRts / secs);
        }

        private long roundTrip(long seq) throws IOException {
            ping(seq);
            long got;
            if (busy == 0) {
                while ((got = pong()) == -2) Thread.onSpinWait();
            } else {
                while ((got = pong()) == -2) {
                    serviceBusy(next);
                    if (++next == busy) next = 0;
                }
            }
            if (got != seq) throw new BenchFailure("echo of " + got + " where " + seq + " was sent");
            return seq + 1;
        }
    }

    static long pct(long[] sorted, double p) {
        return sorted[(int) Math.min(sorted.length - 1, Math.round(p / 100 * (sorted.length - 1)))];
    }

    /** Fable: claim/commit, then poll in a spin (the connection's SPIN mode; poll, so that busy ones are driven meanwhile). */
    static final class FablePinger extends Pinger {
        private final Connection m;
        private final Connection[] b;
        private final long[] seqs;

        FablePinger(List<Connection> conns, int busy) {
            super(busy, conns.size());
            m = conns.getFirst();
            b = conns.subList(1, 1 + busy).toArray(new Connection[0]);
            seqs = new long[busy];
        }

        @Override
        void ping(long seq) {
            send(m, seq);
        }

        @Override
        long pong() {
            Buffer r = m.poll();
            if (r == null) return -2;
            long s = r.getLong(0);
            r.release();
            return s;
        }

        @Override
        void serviceBusy(int i) {
            Buffer r = b[i].poll();
            if (r == null) return;
            r.release();
            busyRoundTrips++;
            send(b[i], ++seqs[i]);
        }

        @Override
        void startBusy() {
            for (int i = 0; i < busy; i++) send(b[i], ++seqs[i]);
        }

        @Override
        void drainBusy() {
            for (Connection c : b) {
                Buffer r = c.receive(Duration.ofSeconds(60));
                if (r == null) throw new BenchFailure("a busy connection's last echo did not come within 60 s");
                r.release();
            }
        }
    }

    /** NIO Unix socket: a non-blocking write of 16 bytes, then non-blocking reads in a spin until 16 bytes are in. */
    static final class UnixPinger extends Pinger {
        private final SocketChannel m;
        private final SocketChannel[] b;
        private final ByteBuffer out = ByteBuffer.allocateDirect(MESSAGE), in = ByteBuffer.allocateDirect(MESSAGE);
        private final ByteBuffer scratch = ByteBuffer.allocateDirect(MESSAGE), busyIn = ByteBuffer.allocateDirect(MESSAGE * 64);
        private final int[] got;

        UnixPinger(List<SocketChannel> conns, int busy) {
            super(busy, conns.size());
            m = conns.getFirst();
            b = conns.subList(1, 1 + busy).toArray(new SocketChannel[0]);
            got = new int[busy];
        }

        private void write(SocketChannel c, long seq) throws IOException {
            out.clear();
            out.putLong(0, seq).putLong(8, 0);
            while (out.hasRemaining()) c.write(out);
        }

        @Override
        void ping(long seq) throws IOException {
            write(m, seq);
            in.clear();
        }

        @Override
        long pong() throws IOException {
            if (m.read(in) < 0) throw new BenchFailure("the server closed the measured socket");
            return in.hasRemaining() ? -2 : in.getLong(0);
        }

        @Override
        void serviceBusy(int i) throws IOException {
            busyIn.clear();
            int n = b[i].read(busyIn);
            if (n < 0) throw new BenchFailure("the server closed a busy socket");
            got[i] += n;
            if (got[i] >= MESSAGE) {   // one echo in flight: never more than 16 bytes come
                got[i] = 0;
                busyRoundTrips++;
                write(b[i], busyRoundTrips);
            }
        }

        @Override
        void startBusy() throws IOException {
            for (int i = 0; i < busy; i++) {
                got[i] = 0;
                write(b[i], 0);
            }
        }

        @Override
        void drainBusy() throws IOException {
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
            for (int i = 0; i < busy; i++) {
                while (got[i] < MESSAGE) {
                    scratch.clear();
                    int n = b[i].read(scratch);
                    if (n < 0) throw new BenchFailure("the server closed a busy socket");
                    got[i] += n;
                    if (System.nanoTime() > deadline) throw new BenchFailure("a busy socket's last echo did not come within 60 s");
                }
            }
        }
    }

    // ================================================================ the orchestrator

    /** One measured cell of one round. */
    record Result(String family, int n, String load, int round, long count, long p50, long p90, long p99, long max, double busyRtPerSec,
                  String placement) {}

    /** A peer JVM spoken to one line at a time. */
    static final class Peer {
        final String role;
        final Process process;
        final BufferedReader out;
        final OutputStream in;
        final Path err;

        Peer(String role, Process process, BufferedReader out, Path err) {
            this.role = role;
            this.process = process;
            this.out = out;
            this.in = process.getOutputStream();
            this.err = err;
        }

        /** Sends {@code cmd}, returns the answer; a peer that does not answer within {@code timeoutMs} is killed (BenchFailure). */
        String ask(String cmd, long timeoutMs) throws IOException {
            in.write((cmd + "\n").getBytes(StandardCharsets.UTF_8));
            in.flush();
            return answer(cmd, timeoutMs);
        }

        String answer(String cmd, long timeoutMs) throws IOException {
            Thread guard = Thread.ofVirtual().start(() -> {
                try {
                    Thread.sleep(timeoutMs);
                    process.destroyForcibly();
                } catch (InterruptedException answered) {
                    // in time
                }
            });
            String line;
            try {
                line = out.readLine();
            } finally {
                guard.interrupt();
            }
            if (line == null) {
                throw new BenchFailure("the " + role + " JVM " + (process.isAlive() ? "closed its output" : "died or was killed after " + timeoutMs / 1000
                        + " s") + " at '" + cmd + "' (see " + err.getFileName() + ")");
            }
            return line;
        }
    }

    /** What a run does. */
    record Settings(List<Integer> ns, List<String> families, int cpuServer, int cpuClient, int rounds, long warmMs, long measMs, boolean quick) {}

    static List<Integer> parseNs(String spec, boolean quick) {
        if (spec == null || spec.equals("auto")) return quick ? QUICK_N : DEFAULT_N;
        List<Integer> ns = new ArrayList<>();
        for (String s : spec.split(",")) {
            int n;
            try {
                n = Integer.parseInt(s.trim().replace("_", ""));
            } catch (NumberFormatException e) {
                throw new IllegalArgumentException("--connections takes counts, e.g. 1,100,1000,10000 (got '" + s + "')");
            }
            if (n < 1) throw new IllegalArgumentException("--connections: a count of " + n + " (at least 1)");
            if (!ns.contains(n)) ns.add(n);
        }
        return ns;
    }

    /** Runs the bench into {@code dir}: connections.md, connections.csv, and the two peers' stderr. Returns the report. */
    static String run(Settings s, Path dir, List<Process> owned) throws IOException {
        String name = "conn-bench-" + ProcessHandle.current().pid();
        Path sockDir = Files.createTempDirectory("fable-connbench");
        Path sock = sockDir.resolve("s");
        List<String> jvm = List.of("-Xms1g", "-Xmx1g");
        Path serverErr = dir.resolve("connections-server.err"), clientErr = dir.resolve("connections-client.err");
        List<Result> results = new ArrayList<>();
        List<String> notes = new ArrayList<>();
        Map<String, String> skipped = new LinkedHashMap<>();   // "family N" -> why
        String loadBefore = loadavg();
        long started = System.nanoTime();
        Peer server = null, client = null;
        try {
            server = start("server", PeerJvm.command(ConnBench.class, jvm, List.of("server", name, Integer.toString(s.cpuServer()), sock.toString())),
                    serverErr, owned);
            client = start("client", PeerJvm.command(ConnBench.class, jvm, List.of("client", name, Integer.toString(s.cpuClient()), sock.toString())),
                    clientErr, owned);
            Sets sets = new Sets(server, client, notes);
            sets.measure();
            boolean first = true;
            for (int n : s.ns()) {
                List<List<String>> groups = sets.plan(n, s.families(), skipped);
                for (List<String> group : groups) {
                    if (!sets.open(group, n, skipped)) continue;
                    for (int r = first ? 0 : 1; r <= s.rounds(); r++) {   // round 0 (the first N only): warm-up, not counted
                        double before = PlacementProbe.roundTripNanos(s.cpuServer(), s.cpuClient(), 20);
                        List<Result> round = new ArrayList<>();
                        for (int k = 0; k < group.size(); k++) {
                            String fam = group.get((k + r) % group.size());
                            if (skipped.containsKey(fam + " " + n)) continue;
                            round.addAll(cell(server, client, fam, n, r, s, skipped));
                        }
                        double after = PlacementProbe.roundTripNanos(s.cpuServer(), s.cpuClient(), 20);
                        String placement = String.format(Locale.ROOT, "%s (%.0f/%.0f ns)", PlacementProbe.label(before, after), before, after);
                        for (Result x : round) {
                            Result y = new Result(x.family(), x.n(), x.load(), x.round(), x.count(), x.p50(), x.p90(), x.p99(), x.max(), x.busyRtPerSec(), placement);
                            if (r > 0) results.add(y);
                            System.out.printf(Locale.ROOT, "  N=%-6d %-28s %-5s round %d: p50 %s, p99 %s (%d RT%s), %s%s%n", n, y.family(), y.load(), r,
                                    us(y.p50()), us(y.p99()), y.count(), y.load().equals("busy") ? String.format(Locale.ROOT, "; busy %.0f RT/s", y.busyRtPerSec()) : "",
                                    placement, r == 0 ? " (warm-up, not counted)" : "");
                        }
                    }
                }
                first = false;
            }
            sets.closeAll();
            server.ask("QUIT", 60_000);
            client.ask("QUIT", 60_000);
        } catch (BenchFailure | IOException e) {
            notes.add("FAILED: " + e.getMessage() + "; the figures above are what was measured before it");
            System.out.println("  FAILED: " + e.getMessage());
        } finally {
            for (Peer p : new Peer[] {client, server}) {
                if (p == null) continue;
                try {
                    p.in.close();
                    if (!p.process.waitFor(20, TimeUnit.SECONDS)) p.process.destroyForcibly();
                } catch (IOException | InterruptedException e) {
                    p.process.destroyForcibly();
                }
            }
            Files.deleteIfExists(sock);
            Files.deleteIfExists(sockDir);
        }
        long secs = (System.nanoTime() - started) / 1_000_000_000L;
        String report = report(s, results, skipped, notes, loadBefore, loadavg(), secs);
        Files.writeString(dir.resolve("connections.md"), report);
        Files.writeString(dir.resolve("connections.csv"), csv(results));
        return report;
    }

    private static Peer start(String role, List<String> cmd, Path err, List<Process> owned) throws IOException {
        Process p = new ProcessBuilder(cmd).redirectError(ProcessBuilder.Redirect.to(err.toFile())).start();
        owned.add(p);
        Peer peer = new Peer(role, p, new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8)), err);
        String ready = peer.answer("start", 60_000);
        if (!ready.equals("READY")) throw new BenchFailure("the " + role + " JVM did not start: " + ready);
        return peer;
    }

    /** One family at one N in one round: serve, measure idle then busy, stop. */
    private static List<Result> cell(Peer server, Peer client, String fam, int n, int round, Settings s, Map<String, String> skipped) throws IOException {
        List<Result> out = new ArrayList<>();
        String set = fam.startsWith("fable") ? "shm" : "unix";
        long cellTimeout = 120_000 + 2 * Math.max(5000, 10 * s.measMs());
        String serving = server.ask("SERVE " + fam, 300_000);
        try {
            if (serving.startsWith("SKIP ")) {
                String[] f = serving.split(" ", 3);
                skipped.put(fam + " " + n, "only " + f[1] + " of " + n + " threads started: " + f[2]);
                System.out.println("  N=" + n + " " + fam + ": skipped (" + skipped.get(fam + " " + n) + ")");
                return out;
            }
            if (!serving.startsWith("SERVING")) throw new BenchFailure("the server could not serve " + fam + " at N=" + n + ": " + serving);
            int busy = n / 100;
            for (String load : List.of("idle", "busy")) {
                String r = client.ask("MEASURE " + set + " " + (load.equals("idle") ? 0 : busy) + " " + s.warmMs() + " " + s.measMs(), cellTimeout);
                if (!r.startsWith("RESULT ")) throw new BenchFailure("the client could not measure " + fam + " " + load + " at N=" + n + ": " + r);
                String[] f = r.split(" ");
                out.add(new Result(fam, n, load, round, Long.parseLong(f[1]), Long.parseLong(f[2]), Long.parseLong(f[3]), Long.parseLong(f[4]),
                        Long.parseLong(f[5]), Double.parseDouble(f[6]), ""));
            }
        } finally {
            if (fam.equals("fable-thread-per-connection")) {   // its threads end on a stop message each
                int k = serving.startsWith("SERVING") ? n : serving.startsWith("SKIP ") ? Integer.parseInt(serving.split(" ")[1]) : 0;
                if (k > 0) {
                    String r = client.ask("RELEASE " + k, 300_000);
                    if (!r.startsWith("RELEASED")) throw new BenchFailure("the client could not stop the server's threads: " + r);
                }
            }
            if (serving.startsWith("SERVING") || serving.startsWith("SKIP")) {
                String r = server.ask("STOP", 300_000);
                if (!r.startsWith("STOPPED")) throw new BenchFailure("the server could not stop serving " + fam + ": " + r);
            }
        }
        return out;
    }

    /**
     * The open connection sets (shm, unix) of both peers, grown to each N in turn, and what they cost in descriptors:
     * a set is opened only if both peers keep {@link #FD_MARGIN} descriptors free with it, at the cost per connection
     * measured when a set last grew by 50 or more (before that: 3 per shm connection, 1 per socket, per side).
     */
    static final class Sets {
        final Peer server, client;
        final List<String> notes;
        final Map<String, Integer> size = new LinkedHashMap<>(Map.of("shm", 0, "unix", 0));
        final Map<String, double[]> perConn = new LinkedHashMap<>(Map.of("shm", new double[] {3, 3}, "unix", new double[] {1, 1}));   // {server, client}
        final long[] fds = new long[2];   // open descriptors: server, client (as last reported)
        long fdLimit = fdLimit();

        Sets(Peer server, Peer client, List<String> notes) {
            this.server = server;
            this.client = client;
            this.notes = notes;
        }

        static String set(String family) {
            return family.startsWith("fable") ? "shm" : "unix";
        }

        /** Descriptors both peers would hold with {@code shmN} shm and {@code unixN} unix connections open. */
        private boolean fits(int shmN, int unixN) {
            for (int side = 0; side < 2; side++) {
                double need = fds[side] + (shmN - size.get("shm")) * perConn.get("shm")[side] + (unixN - size.get("unix")) * perConn.get("unix")[side];
                if (need + FD_MARGIN > fdLimit) return false;
            }
            return true;
        }

        /**
         * The families at N in groups whose sets are open together: one group if the shm and unix sets fit the
         * descriptor limit together, else the shm families, then the unix one. A family whose set alone does not fit
         * is skipped (noted in {@code skipped}).
         */
        List<List<String>> plan(int n, List<String> families, Map<String, String> skipped) {
            List<String> shmF = families.stream().filter(f -> set(f).equals("shm")).toList();
            List<String> unixF = families.stream().filter(f -> set(f).equals("unix")).toList();
            if (shmF.isEmpty() || unixF.isEmpty() || fits(n, n)) return List.of(families);
            notes.add(String.format(Locale.ROOT, "N=%d: the %d shm and %d unix connections do not fit the limit of %d descriptors together: the fable "
                    + "families ran first, then the connections were closed and the sockets opened (rounds alternate within each group)", n, n, n, fdLimit));
            return List.of(shmF, unixF);
        }

        /** Opens the set of {@code group} at N (closing the other set if the two do not fit together); false if it cannot. */
        boolean open(List<String> group, int n, Map<String, String> skipped) throws IOException {
            List<String> need = group.stream().map(Sets::set).distinct().toList();
            for (String other : List.of("shm", "unix")) {
                if (!need.contains(other) && size.get(other) > 0
                        && !fits(need.contains("shm") ? n : size.get("shm"), need.contains("unix") ? n : size.get("unix"))) {
                    close(other);   // the group's set at N and this one do not fit together
                }
            }
            for (String set : need) {
                if (size.get(set) > n) close(set);   // a smaller N after a larger one: start again
                int shmN = set.equals("shm") ? n : size.get("shm"), unixN = set.equals("unix") ? n : size.get("unix");
                if (!fits(shmN, unixN)) {
                    double[] pc = perConn.get(set);
                    String why = String.format(Locale.ROOT, "%d %s connections need about %.0f descriptors in the server JVM and %.0f in the client JVM "
                            + "(%.2f / %.2f per connection, measured) besides what is open, more than the limit of %d (less %d for the JVM); "
                            + "raise it with 'ulimit -n'", n, set, n * pc[0], n * pc[1], pc[0], pc[1], fdLimit, FD_MARGIN);
                    for (String f : group) skipped.put(f + " " + n, why);
                    System.out.println("  N=" + n + " " + group + ": skipped (" + why + ")");
                    return false;
                }
                grow(set, n);
            }
            return true;
        }

        private void grow(String set, int n) throws IOException {
            int from = size.get(set);
            if (from == n) return;
            System.out.printf(Locale.ROOT, "  N=%d: opening %d more %s connections ...%n", n, n - from, set);
            long[] before = fds.clone();
            long t0 = System.nanoTime();
            String c = client.ask("CONNECT " + set + " " + n, 600_000);
            if (!c.startsWith("CONNECTED")) throw new BenchFailure("the client could not open " + n + " " + set + " connections: " + c);
            String s = server.ask("OPEN " + set + " " + n, 300_000);
            if (!s.startsWith("OPENED")) throw new BenchFailure("the server did not get " + n + " " + set + " connections: " + s);
            fds[0] = value(s, "fds");
            fds[1] = value(c, "fds");
            fdLimit = Math.min(value(s, "fdlimit"), value(c, "fdlimit"));
            if (n - from >= 50 && from + before[0] > 0) {
                perConn.put(set, new double[] {(fds[0] - before[0]) / (double) (n - from), (fds[1] - before[1]) / (double) (n - from)});
            }
            size.put(set, n);
            String line = String.format(Locale.ROOT, "N=%d: %d %s connections open in %.1f s; server %d descriptors, %d mappings; client %d descriptors, %d mappings",
                    n, n, set, (System.nanoTime() - t0) / 1e9, fds[0], value(s, "maps"), fds[1], value(c, "maps"));
            notes.add(line);
            System.out.println("  " + line);
        }

        void close(String set) throws IOException {
            if (size.get(set) == 0) return;
            String c = client.ask("CLOSE " + set, 600_000);
            String s = server.ask("CLOSE " + set, 600_000);
            if (!c.startsWith("CLOSED") || !s.startsWith("CLOSED")) throw new BenchFailure("closing the " + set + " connections: " + c + " / " + s);
            fds[0] = value(s, "fds");
            fds[1] = value(c, "fds");
            size.put(set, 0);
        }

        void closeAll() throws IOException {
            close("shm");
            close("unix");
        }

        /** {@code key=value} in an answer line; 0 if absent. */
        static long value(String line, String key) {
            for (String w : line.split(" ")) if (w.startsWith(key + "=")) return Long.parseLong(w.substring(key.length() + 1));
            return 0;
        }

        /** The descriptors both JVMs hold now (before any set: their own). */
        void measure() throws IOException {
            String s = server.ask("RES", 60_000), c = client.ask("RES", 60_000);
            fds[0] = value(s, "fds");
            fds[1] = value(c, "fds");
            fdLimit = Math.min(value(s, "fdlimit"), value(c, "fdlimit"));
        }
    }

    static String loadavg() {
        try {
            String[] f = Files.readAllLines(Path.of("/proc/loadavg")).getFirst().trim().split(" ");
            return f[0] + " " + f[1] + " " + f[2];
        } catch (IOException | RuntimeException e) {
            return "?";
        }
    }

    static String us(long nanos) {
        return nanos >= 10_000_000 ? String.format(Locale.ROOT, "%.0f ms", nanos / 1e6)
                : nanos >= 10_000 ? String.format(Locale.ROOT, "%.1f µs", nanos / 1e3) : String.format(Locale.ROOT, "%.2f µs", nanos / 1e3);
    }

    private static long median(List<Long> v) {
        long[] a = v.stream().mapToLong(x -> x).sorted().toArray();
        return a.length % 2 == 1 ? a[a.length / 2] : (a[a.length / 2 - 1] + a[a.length / 2]) / 2;
    }

    private static List<Result> of(List<Result> all, String fam, int n, String load) {
        return all.stream().filter(r -> r.family().equals(fam) && r.n() == n && r.load().equals(load)).toList();
    }

    static String report(Settings s, List<Result> results, Map<String, String> skipped, List<String> notes, String loadBefore, String loadAfter, long secs) {
        StringBuilder r = new StringBuilder("## Ping-pong RTT over one of N connections (`--connections`)\n\n");
        r.append("Machine: ").append(Machine.describe()).append("; load average ").append(loadBefore).append(" at the start (other processes), ").append(loadAfter)
                .append(" at the end (it counts this run's own threads: up to N of them with a thread per connection); ").append(secs).append(" s.\n\n");
        r.append(String.format(Locale.ROOT, "Server JVM's serving threads pinned to CPU %d, the client's measuring thread to CPU %d (the Poller's watcher "
                + "threads and the JVMs' other threads unpinned). 16-byte ping-pong on connection 0: claim/commit then poll in a spin (Fable, SPIN side) "
                + "or a non-blocking write then non-blocking reads in a spin (NIO). idle: the other N-1 connections carry nothing; busy: N/100 of "
                + "them (0 at N < 100) do back-to-back ping-pongs, driven by the measuring thread while its own echo is in flight. %d round%s per "
                + "cell, families rotated within each round, %d ms warm-up then %d ms (and ≥ 50 round trips) measured per cell; the first N had an "
                + "extra warm-up round. Figures: median over the rounds of each round's p50 / p99 (and the range of the p50s). Fable connections: "
                + "untrusted, slots 256 B × 4, log 64 KiB, server ADAPTIVE, client SPIN.%n%n",
                s.cpuServer(), s.cpuClient(), s.rounds(), s.rounds() == 1 ? "" : "s", s.warmMs(), s.measMs()));
        r.append("| family | N | idle p50 | idle p99 | busy p50 | busy p99 | busy load (RT/s) | placement |\n|---|---:|---:|---:|---:|---:|---:|---|\n");
        for (String fam : s.families()) {
            for (int n : s.ns()) {
                String why = skipped.get(fam + " " + n);
                if (why != null) {
                    r.append("| ").append(fam).append(" | ").append(n).append(" | skipped: ").append(why).append(" | | | | | |\n");
                    continue;
                }
                List<Result> idle = of(results, fam, n, "idle"), busy = of(results, fam, n, "busy");
                if (idle.isEmpty() && busy.isEmpty()) {
                    r.append("| ").append(fam).append(" | ").append(n).append(" | no result | | | | | |\n");
                    continue;
                }
                r.append("| ").append(fam).append(" | ").append(n).append(" | ").append(p50Cell(idle)).append(" | ").append(p99Cell(idle)).append(" | ")
                        .append(p50Cell(busy)).append(" | ").append(p99Cell(busy)).append(" | ")
                        .append(busy.isEmpty() ? "" : String.format(Locale.ROOT, "%,.0f (%d conn.)", busy.stream().mapToDouble(Result::busyRtPerSec).sorted()
                                .toArray()[busy.size() / 2], n / 100))
                        .append(" | ").append(placements(idle, busy)).append(" |\n");
            }
        }
        r.append('\n').append(verdict(s, results, skipped)).append('\n');
        if (!notes.isEmpty()) {
            r.append("\nNotes:\n");
            for (String n : notes) r.append("- ").append(n).append('\n');
        }
        return r.toString();
    }

    private static String p50Cell(List<Result> v) {
        if (v.isEmpty()) return "-";
        List<Long> p = v.stream().map(Result::p50).toList();
        String range = v.size() > 1 ? " (" + us(p.stream().min(Long::compare).orElseThrow()) + "–" + us(p.stream().max(Long::compare).orElseThrow()) + ")" : "";
        return us(median(p)) + range;
    }

    private static String p99Cell(List<Result> v) {
        return v.isEmpty() ? "-" : us(median(v.stream().map(Result::p99).toList()));
    }

    private static String placements(List<Result> idle, List<Result> busy) {
        Map<String, Integer> c = new LinkedHashMap<>();
        for (Result x : idle) c.merge(x.placement().split(" ")[0], 1, Integer::sum);
        StringBuilder b = new StringBuilder();
        c.forEach((k, v) -> b.append(b.isEmpty() ? "" : ", ").append(k).append(' ').append(v).append('/').append(idle.size()));
        return b.toString();
    }

    /** The target: fable-poller's p50 at the largest N ≤ 1.1× its p50 at the smallest, idle and busy. */
    static String verdict(Settings s, List<Result> results, Map<String, String> skipped) {
        String fam = "fable-poller";
        int lo = s.ns().stream().min(Integer::compare).orElseThrow(), hi = s.ns().stream().max(Integer::compare).orElseThrow();
        StringBuilder v = new StringBuilder();
        for (String load : List.of("idle", "busy")) {
            List<Result> a = of(results, fam, lo, load), b = of(results, fam, hi, load);
            v.append("Verdict (").append(load).append("): ");
            if (lo == hi) {
                v.append("one N only; no ratio\n");
                continue;
            }
            if (a.isEmpty() || b.isEmpty()) {
                String why = skipped.getOrDefault(fam + " " + (b.isEmpty() ? hi : lo), "no result");
                v.append("not measured at N=").append(b.isEmpty() ? hi : lo).append(" (").append(why).append(")\n");
                continue;
            }
            long pa = median(a.stream().map(Result::p50).toList()), pb = median(b.stream().map(Result::p50).toList());
            double ratio = pb / (double) pa;
            v.append(String.format(Locale.ROOT, "fable-poller p50 at N=%d is %s, %.2f× its %s at N=%d%s: target ≤ 1.1× %s%n", hi, us(pb), ratio, us(pa), lo,
                    load.equals("busy") && lo < 100 ? " (no busy connection at N=" + lo + ")" : "", ratio <= 1.1 ? "**met**" : "**missed**"));
        }
        if (lo != 1 || hi != 10000) v.append("(the target compares N=10000 with N=1; this run measured N=").append(lo).append(" … ").append(hi).append(")\n");
        return v.toString();
    }

    static String csv(List<Result> results) {
        StringBuilder c = new StringBuilder("family,n,load,busy_connections,round,round_trips,p50_ns,p90_ns,p99_ns,max_ns,busy_rt_per_s,placement\n");
        for (Result x : results) {
            c.append(String.format(Locale.ROOT, "%s,%d,%s,%d,%d,%d,%d,%d,%d,%d,%.0f,\"%s\"%n", x.family(), x.n(), x.load(), x.load().equals("busy") ? x.n() / 100 : 0,
                    x.round(), x.count(), x.p50(), x.p90(), x.p99(), x.max(), x.busyRtPerSec(), x.placement()));
        }
        return c.toString();
    }
}
