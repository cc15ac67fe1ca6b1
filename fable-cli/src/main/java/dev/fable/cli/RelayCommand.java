package dev.fable.cli;

import dev.fable.ConnectOptions;
import dev.fable.Connection;
import dev.fable.Endpoint;
import dev.fable.ExternalListener;
import dev.fable.Fable;
import dev.fable.FableException;
import dev.fable.Relay;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

@Command(name = "relay", mixinStandardHelpOptions = true, versionProvider = FableCli.Version.class,
        description = {"Listen at <from> and splice every connection that arrives there to a new connection to <to>, both ways, "
                + "until either side ends (as 'socat ... fork' does). Zero copy where both sides are shared memory on this host, "
                + "one copy otherwise.",
                "<from>: a name (or xio://name) to register and listen as, for Fable peers; or tcp://host:port to listen on for "
                        + "plain TCP peers (anyone who can reach that address can connect: prefer 127.0.0.1).",
                "<to>: any target 'fable send' takes: a name, xio://name, xio+shm|unix|tcp|tls://name, or tcp://host:port.",
                "Stops on SIGTERM or when stdin is closed (stdin on /dev/null is not watched), then prints its counters; "
                        + "'fable flows' shows each relayed connection's counters meanwhile. Exit code 0 when every relayed "
                        + "connection ended cleanly, 3 when one failed or <to> could not be reached for one, 2 when <from> "
                        + "cannot be listened on."})
final class RelayCommand implements java.util.concurrent.Callable<Integer> {
    @Parameters(index = "0", paramLabel = "<from>", description = "name or xio://name to listen as, or tcp://host:port to listen on")
    String from;

    @Parameters(index = "1", paramLabel = "<to>", description = "endpoint name, xio:// URI or tcp://host:port to connect each arrival to")
    String to;

    @Option(names = "--wait", defaultValue = "10s", description = "how long each connection to <to> may take to be made (e.g. 0s, 10s); default ${DEFAULT-VALUE}")
    String wait;

    @Option(names = {"-v", "--verbose"}, description = "one line on stderr per connection as it is relayed and as it ends, with its counters")
    boolean verbose;

    private volatile boolean stopping;
    private final Set<Relay> active = ConcurrentHashMap.newKeySet();
    private final AtomicLong connections = new AtomicLong();
    private final AtomicLong failed = new AtomicLong();
    private final AtomicLong bytesIn = new AtomicLong();    // from the peers at <from> to <to>
    private final AtomicLong bytesOut = new AtomicLong();   // back
    private final AtomicLong inPlace = new AtomicLong();
    private final AtomicLong copied = new AtomicLong();
    private final AtomicLong handlers = new AtomicLong();

    /** What accepts at {@code <from>}: an endpoint or an external listener. */
    private interface Door extends AutoCloseable {
        Connection accept(Duration timeout);

        @Override
        void close();
    }

    @Override
    public Integer call() {
        Duration timeout;
        try {
            timeout = Duration.parse("PT" + wait.toUpperCase());
        } catch (RuntimeException e) {
            System.err.println("fable relay: --wait takes a duration like 10s or 2m, not '" + wait + "'");
            return FableCli.USAGE;
        }
        int scheme = from.indexOf("://");
        if (scheme >= 0 && !from.startsWith("xio://") && !from.startsWith("tcp://")) {
            System.err.println("fable relay: cannot listen at '" + from + "': give a name, xio://name or tcp://host:port");
            return FableCli.USAGE;
        }
        String toUri = to.contains("://") ? to : "xio://" + to;
        Door door;
        String where;
        try {
            if (from.startsWith("tcp://")) {
                ExternalListener l = Fable.listenExternal(from, ConnectOptions.trusted());
                door = new Door() {
                    public Connection accept(Duration t) {
                        return l.accept(t);
                    }

                    public void close() {
                        l.close();
                    }
                };
                where = from + " (port " + l.port() + ")";
            } else {
                String name = scheme < 0 ? from : from.substring(scheme + 3);
                Endpoint ep = Fable.register(name).listen(ConnectOptions.trusted());
                door = new Door() {
                    public Connection accept(Duration t) {
                        return ep.accept(t);
                    }

                    public void close() {
                        ep.close();
                    }
                };
                where = "'" + name + "'";
            }
        } catch (FableException e) {
            System.err.println("fable relay: " + e.getMessage());
            return FableCli.SETUP;
        } catch (IllegalArgumentException e) {
            System.err.println("fable relay: " + e.getMessage());
            return FableCli.USAGE;
        }
        CountDownLatch done = new CountDownLatch(1);
        Thread hook = Thread.ofPlatform().unstarted(() -> {   // SIGTERM: stop accepting, end the relays, print the counters
            stopping = true;
            try {
                done.await(5, TimeUnit.SECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        });
        Runtime.getRuntime().addShutdownHook(hook);
        watchStdin();
        System.err.println("fable relay: listening at " + where + ", relaying to " + toUri);
        try {
            while (!stopping) {
                Connection in;
                try {
                    in = door.accept(Duration.ofMillis(250));
                } catch (FableException e) {
                    if (stopping) break;
                    System.err.println("fable relay: accepting at " + where + " failed: " + e.getMessage() + "; still listening");
                    continue;
                }
                if (in == null) continue;
                long n = connections.incrementAndGet();
                handlers.incrementAndGet();
                Thread.ofPlatform().daemon().name("fable-relay-connect-" + n).start(() -> serve(n, in, toUri, timeout));
            }
        } finally {
            door.close();
            for (Relay r : active) r.close();
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
            synchronized (handlers) {   // the handlers add the closed relays' counters to the totals
                while (handlers.get() > 0) {
                    long left = deadline - System.nanoTime();
                    if (left <= 0) break;
                    try {
                        TimeUnit.NANOSECONDS.timedWait(handlers, left);
                    } catch (InterruptedException e) {
                        break;
                    }
                }
            }
            System.err.println("fable relay: stopped after " + connections.get() + " connection(s), " + failed.get() + " failed; "
                    + bytesIn.get() + " B in, " + bytesOut.get() + " B out; " + inPlace.get() + " buffers forwarded in place (zero copy), "
                    + copied.get() + " copied");
            done.countDown();
            try {
                Runtime.getRuntime().removeShutdownHook(hook);
            } catch (IllegalStateException exiting) {
                // SIGTERM: the hook is what runs now
            }
        }
        return failed.get() > 0 ? FableCli.INCOMPLETE : FableCli.OK;
    }

    /** One arrival: connect to {@code <to>}, relay, wait for the end, count. */
    private void serve(long n, Connection in, String toUri, Duration timeout) {
        try {
            Connection out;
            try {
                out = Fable.connect(toUri, ConnectOptions.trusted().connectTimeout(timeout));
            } catch (RuntimeException e) {
                failed.incrementAndGet();
                System.err.println("fable relay: #" + n + " from " + in.peerName() + ": cannot connect to " + toUri + ": " + e.getMessage()
                        + "; closed the incoming connection");
                in.close();
                return;
            }
            Relay r;
            try {
                r = Fable.relay(in, out);
            } catch (RuntimeException e) {   // the arrival ended already
                failed.incrementAndGet();
                System.err.println("fable relay: #" + n + " from " + in.peerName() + ": " + e.getMessage());
                in.close();
                out.close();
                return;
            }
            active.add(r);
            if (stopping) r.close();
            if (verbose) {
                System.err.println("fable relay: #" + n + " " + in.peerName() + " (" + in.transport() + ") <-> " + out.peerName()
                        + " (" + out.transport() + ")");
            }
            try {
                r.awaitEnd(Duration.ofSeconds(-1));
            } catch (InterruptedException e) {
                r.close();
            }
            active.remove(r);
            bytesIn.addAndGet(r.bytes(Relay.Direction.A_TO_B));
            bytesOut.addAndGet(r.bytes(Relay.Direction.B_TO_A));
            inPlace.addAndGet(r.zeroCopyForwards());
            copied.addAndGet(r.copiedForwards());
            if (r.failure() != null) failed.incrementAndGet();
            if (verbose || r.failure() != null) {
                System.err.println("fable relay: #" + n + " ended" + (r.failure() != null ? " (" + r.failure().getMessage() + ")" : "") + ": "
                        + r.bytes(Relay.Direction.A_TO_B) + " B in, " + r.bytes(Relay.Direction.B_TO_A) + " B out, "
                        + r.zeroCopyForwards() + " in place, " + r.copiedForwards() + " copied");
            }
        } finally {
            synchronized (handlers) {
                handlers.decrementAndGet();
                handlers.notifyAll();
            }
        }
    }

    /** Stdin closed (its writer ended) stops the relay; stdin on /dev/null (a background job) is not watched. */
    private void watchStdin() {
        try {
            if (Files.readSymbolicLink(Path.of("/proc/self/fd/0")).toString().equals("/dev/null")) return;
        } catch (IOException | UnsupportedOperationException e) {
            // no /proc: watch it
        }
        Thread.ofPlatform().daemon().name("fable-relay-stdin").start(() -> {
            byte[] sink = new byte[4096];
            try (InputStream in = System.in) {
                while (in.read(sink) >= 0) {
                    // what is typed is ignored; only the end counts
                }
            } catch (IOException e) {
                // unreadable: treat as closed
            }
            stopping = true;
        });
    }
}
