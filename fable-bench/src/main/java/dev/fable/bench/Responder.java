package dev.fable.bench;

import dev.fable.ConnectOptions;
import dev.fable.ConnectionClosedException;
import dev.fable.Endpoint;
import dev.fable.Fable;
import dev.fable.PeerGoneException;
import io.aeron.driver.MediaDriver;

import java.io.FileDescriptor;
import java.io.FileOutputStream;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.StandardProtocolFamily;
import java.net.StandardSocketOptions;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * The passive peer of a row, in its own JVM: echoes or sinks what the driver sends, as the driver's
 * in-band commands say ({@link Loops#serve}). Started by the orchestrator (by the driver for the
 * pipe row, whose data channel is this process's stdin and stdout).
 *
 * <p>Usage: {@code Responder <row> <name> <size,size,...>}. Prints {@code READY [address]} once it
 * accepts, then lives until its stdin closes (pipe row: until the pipe ends). A wrong message ends
 * the process with {@code ERROR ...} on stderr and exit status 3; the driver sees its link die.
 */
public final class Responder {
    /** Set when the orchestrator released us: a failing accept is then the endpoint closing, not an error. */
    private static volatile boolean closing;

    public static void main(String[] a) throws Exception {
        Row row = Row.parse(List.of(a[0])).getFirst();
        String name = a[1];
        try {
            switch (row.family()) {
                case "pipe" -> {   // stdin/stdout are the data channel; the end of the pipe ends us
                    try (PipeLink l = new PipeLink(System.in, new FileOutputStream(FileDescriptor.out), Row.BENCH_MAX_SIZE)) {
                        Loops.serve(l);
                    } catch (Link.Closed end) {
                        // the driver is done
                    }
                    System.exit(0);
                }
                case "fable" -> fable(row, name, sizes(a[2]));
                case "nio" -> nio(row, name, sizes(a[2]));
                case "aeron" -> aeron(name, sizes(a[2]));
                case "raw" -> raw(row, name, sizes(a[2]));
                default -> throw new IllegalArgumentException(row.family());
            }
        } catch (Throwable t) {
            die(t);
        }
    }

    static List<Integer> sizes(String csv) {
        List<Integer> s = new ArrayList<>();
        for (String x : csv.split(",")) s.add(Integer.parseInt(x));
        return s;
    }

    static void die(Throwable t) {
        t.printStackTrace();   // stderr is the row's log file
        String why = t instanceof BenchFailure ? t.getMessage() : t.toString();
        System.err.println("ERROR responder: " + String.valueOf(why).strip().replaceAll("\\s+", " "));
        System.err.flush();
        Runtime.getRuntime().halt(3);
    }

    static void ready(String address) {
        System.out.println("READY" + (address.isEmpty() ? "" : " " + address));
        System.out.flush();
    }

    /** Stays alive until the orchestrator closes our stdin. */
    static void awaitRelease() throws IOException {
        while (System.in.read() >= 0) {
            // discard
        }
    }

    /**
     * One endpoint per message size (each side's pool has slots of the message size), and one for
     * rendezvous with the default pool, each served by its own thread one connection at a time.
     */
    static void fable(Row row, String name, List<Integer> sizes) throws IOException {
        List<Endpoint> eps = new ArrayList<>();
        for (int size : sizes) eps.add(Fable.register(name + "-" + size).listen(FableLink.options(size, row.mode(), row.trusted())));
        eps.add(Fable.register(name + "-rdv").listen((row.trusted() ? ConnectOptions.trusted() : ConnectOptions.untrusted()).waitMode(row.mode()).fixedWaitMode(true)));
        for (Endpoint ep : eps) {
            Thread.ofPlatform().daemon().name("serve-" + ep.name()).start(() -> {
                while (!closing) {
                    FableLink l = null;
                    try {
                        l = new FableLink(ep.accept());
                        Loops.serve(l);
                    } catch (ConnectionClosedException | PeerGoneException end) {
                        // the driver closed this connection (next size, next rendezvous): accept the next
                    } catch (Throwable t) {
                        if (!closing) die(t);   // before the link closes: the driver must not see a clean close first
                    } finally {
                        if (l != null) l.close();
                    }
                }
            });
        }
        ready("");
        awaitRelease();
        closing = true;
        for (Endpoint ep : eps) ep.close();
        System.exit(0);
    }

    static void nio(Row row, String name, List<Integer> sizes) throws IOException {
        boolean unix = row.transport().equals("unix");
        Path sock = Path.of(System.getProperty("java.io.tmpdir"), name + ".sock");
        SocketChannel ch;
        try (ServerSocketChannel ss = unix ? ServerSocketChannel.open(StandardProtocolFamily.UNIX) : ServerSocketChannel.open()) {
            Files.deleteIfExists(sock);
            ss.bind(unix ? UnixDomainSocketAddress.of(sock) : new InetSocketAddress("127.0.0.1", 0));
            ready(unix ? sock.toString() : Integer.toString(((InetSocketAddress) ss.getLocalAddress()).getPort()));
            ch = ss.accept();
        } finally {
            Files.deleteIfExists(sock);
        }
        if (row.transport().equals("tcp-nodelay")) ch.setOption(StandardSocketOptions.TCP_NODELAY, true);
        Thread.ofPlatform().daemon().start(() -> serveUntilClosed(new NioLink(ch, row.id(), max(sizes))));
        awaitRelease();
        System.exit(0);
    }

    static void aeron(String name, List<Integer> sizes) throws IOException {
        String dir = PeerJvm.shmDir().resolve(name + "-aeron").toString();
        MediaDriver driver = AeronLink.launchDriver(dir);
        AeronLink l = new AeronLink(dir, true, driver, max(sizes));
        ready(dir);
        Thread.ofPlatform().daemon().start(() -> {
            l.awaitConnected();
            serveUntilClosed(l);
        });
        awaitRelease();
        l.close();
        System.exit(0);
    }

    /** The yardstick: one {@link RawRingLink} file, its log as large as the row says ({@code 64m}, {@code 2m}). */
    static void raw(Row row, String name, List<Integer> sizes) throws IOException {
        Path file = PeerJvm.shmDir().resolve(name + "-raw");
        long log = Long.parseLong(row.transport().replace("m", "")) << 20;
        RawRingLink l = RawRingLink.create(file, log, max(sizes));
        ready(file.toString());
        Thread.ofPlatform().daemon().start(() -> serveUntilClosed(l));
        awaitRelease();
        l.close();
        System.exit(0);
    }

    /** Serves a single-connection link; its end (the driver quit) is normal, anything else kills the process. */
    static void serveUntilClosed(Link l) {
        try {
            Loops.serve(l);
        } catch (Link.Closed end) {
            // the driver quit
        } catch (Throwable t) {
            die(t);   // before the link closes: the driver must not see a clean close first
        } finally {
            l.close();
        }
    }

    static int max(List<Integer> sizes) {
        return Math.max(Pattern.CONTROL_SIZE, sizes.stream().mapToInt(Integer::intValue).max().orElse(0));
    }
}
