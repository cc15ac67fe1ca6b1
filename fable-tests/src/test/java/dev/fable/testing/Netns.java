package dev.fable.testing;

import java.io.File;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * Two "hosts": network namespaces {@code a} and {@code b} joined by a veth pair, each end with its own address
 * (a /24), loopback up; removed on close. Needs root and iproute2's {@code ip}: {@link #create} skips the test
 * with the reason otherwise. Processes started in a namespace ({@link #start}) share the file system, so Unix
 * sockets cross namespaces; TCP does not, but through the veth pair. Each host has a /dev/shm of its own, as a real
 * host would (a directory per namespace bind-mounted over /dev/shm in the mount namespace {@code ip netns exec}
 * gives each process), unless {@link #sharingDevShm()} was called.
 */
public final class Netns implements AutoCloseable {
    public final String ip;
    public final String a;
    public final String b;
    public final String linkA;
    public final String linkB;
    /** Unique to this run: in the namespaces' and links' names (and usable in endpoint names). */
    public final String tag;
    private final String addressA;
    private final String addressB;
    private boolean madeA;
    private boolean madeB;
    private boolean sharedShm;
    private final java.util.Map<String, Path> shmOf = new java.util.HashMap<>();

    private Netns(String ip, String tag, String addressA, String addressB) {
        this.ip = ip;
        this.tag = tag;
        this.a = "fable-" + tag + "-a";
        this.b = "fable-" + tag + "-b";
        this.linkA = ("fv" + tag).substring(0, Math.min(13, 2 + tag.length())) + "a";   // interface names: 15 bytes at most
        this.linkB = linkA.substring(0, linkA.length() - 1) + "b";
        this.addressA = addressA;
        this.addressB = addressB;
    }

    /**
     * Makes the two namespaces, {@code addressA} in {@code a} and {@code addressB} in {@code b}; skips the calling
     * test (named {@code what} in the reason) without root or {@code ip}.
     */
    public static Netns create(String what, String addressA, String addressB) throws Exception {
        String ip = onPath("ip");
        assumeTrue(ip != null, what + " needs iproute2's 'ip' on the PATH (apt-get install iproute2)");
        assumeTrue(dev.fable.internal.Libc.getuid() == 0,
                what + " makes network namespaces: it runs as root only (uid " + dev.fable.internal.Libc.getuid() + ")");
        String tag = Long.toString(ProcessHandle.current().pid(), 36) + Long.toString(System.nanoTime() % 46_656, 36);
        Netns n = new Netns(ip, tag, addressA, addressB);
        try {
            String refused = n.tryIp("netns", "add", n.a);
            assumeTrue(refused == null || !(refused.contains("not permitted") || refused.contains("Permission denied")),
                    "root here may not make network namespaces (no CAP_SYS_ADMIN/CAP_NET_ADMIN, e.g. an unprivileged container): " + refused);
            if (refused != null) throw new AssertionError(refused);
            n.madeA = true;
            n.ip("netns", "add", n.b);
            n.madeB = true;
            n.ip("link", "add", n.linkA, "netns", n.a, "type", "veth", "peer", "name", n.linkB, "netns", n.b);
            n.ip("-n", n.a, "addr", "add", addressA + "/24", "dev", n.linkA);
            n.ip("-n", n.b, "addr", "add", addressB + "/24", "dev", n.linkB);
            for (String[] ns : new String[][] {{n.a, n.linkA}, {n.b, n.linkB}}) {
                n.ip("-n", ns[0], "link", "set", "lo", "up");
                n.ip("-n", ns[0], "link", "set", ns[1], "up");
            }
            return n;
        } catch (Exception | AssertionError e) {
            n.close();
            throw e;
        }
    }

    private static String onPath(String program) {
        for (String dir : (System.getenv("PATH") + File.pathSeparator + "/usr/sbin:/sbin").split(File.pathSeparator)) {
            if (dir.isEmpty()) continue;
            Path p = Path.of(dir, program);
            if (Files.isRegularFile(p) && Files.isExecutable(p)) return p.toString();
        }
        return null;
    }

    /** Runs {@code ip args...} and fails with its output unless it succeeds. */
    public void ip(String... args) throws IOException, InterruptedException {
        String failed = tryIp(args);
        if (failed != null) throw new AssertionError(failed);
    }

    /** Runs {@code ip args...}; null if it succeeded, else the command, its status and output. */
    public String tryIp(String... args) throws IOException, InterruptedException {
        List<String> cmd = new ArrayList<>(List.of(ip));
        cmd.addAll(List.of(args));
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        if (!p.waitFor(30, TimeUnit.SECONDS)) {
            p.destroyForcibly();
            throw new AssertionError(String.join(" ", cmd) + " did not finish in 30 s");
        }
        return p.exitValue() == 0 ? null : String.join(" ", cmd) + " failed (" + p.exitValue() + "): " + out.strip();
    }

    /** From now on processes of both hosts see the machine's one /dev/shm (a process that moves between hosts needs it). */
    public Netns sharingDevShm() {
        sharedShm = true;
        return this;
    }

    /** The directory that is /dev/shm for the processes of host {@code ns}. */
    public Path devShmOf(String ns) {
        return shmOf.computeIfAbsent(ns, n -> {
            try {
                Path d = Files.createDirectories(Path.of("target", "netns-shm", n).toAbsolutePath());
                Process chmod = new ProcessBuilder("chmod", "1777", d.toString()).redirectErrorStream(true).start();   // as /dev/shm
                if (!chmod.waitFor(30, TimeUnit.SECONDS) || chmod.exitValue() != 0) throw new IOException("chmod 1777 " + d + " failed");
                return d;
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IllegalStateException(e);
            } catch (IOException e) {
                throw new java.io.UncheckedIOException(e);
            }
        });
    }

    /**
     * What {@code /dev/shm} is for process {@code pid}: the root (within its file system) of the last mount on
     * {@code /dev/shm} in {@code /proc/PID/mountinfo}, as the kernel has it; null if none is listed.
     */
    public static String devShmRootOf(long pid) throws IOException {
        String root = null;
        for (String line : Files.readAllLines(Path.of("/proc/" + pid + "/mountinfo"))) {
            String[] f = line.split(" ");   // id parent major:minor root mount-point ...
            if (f.length > 4 && f[4].equals("/dev/shm")) root = f[3];
        }
        return root;
    }

    /** A JVM running {@code main} in namespace {@code ns}, remembered in {@code all} so that the test ends it. */
    public PeerProcess start(List<PeerProcess> all, String ns, Class<?> main, List<String> jvmArgs, String... args) {
        List<String> launcher = new ArrayList<>(List.of(ip, "netns", "exec", ns));
        if (!sharedShm) {   // ip netns exec gives the process a mount namespace of its own: the bind mount stays there
            launcher.addAll(List.of("sh", "-c", "mount --bind '" + devShmOf(ns) + "' /dev/shm && exec \"$0\" \"$@\""));
        }
        PeerProcess p = PeerProcess.startUnder(launcher, main, jvmArgs, args);
        all.add(p);
        return p;
    }

    /** Deletes the namespaces (the veth pair goes with them); the processes in them must have ended. */
    @Override
    public void close() {
        for (String ns : new String[] {madeA ? a : null, madeB ? b : null}) {
            if (ns == null) continue;
            try {
                ip("netns", "del", ns);
            } catch (Exception | AssertionError e) {
                System.err.println("Netns: could not remove network namespace " + ns + ": " + e.getMessage());
            }
        }
    }
}
