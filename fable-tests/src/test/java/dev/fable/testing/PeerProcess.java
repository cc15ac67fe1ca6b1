package dev.fable.testing;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;

/**
 * A second, real JVM running {@code main} of a test class with the test class path. Talks line by
 * line: the child prints lines on stdout (read with {@link #expectLine}), the parent may send lines
 * on the child's stdin ({@link #send}). Synchronisation is by these lines, never by sleeping.
 */
public final class PeerProcess implements AutoCloseable {
    private final Process process;
    private final BlockingQueue<String> lines = new LinkedBlockingQueue<>();
    /** Put into {@link #lines} (by identity) when the peer's stdout ends: a waiting test fails at once instead of at its timeout. */
    private static final String END = new String("<end of the peer's output>");
    private final PrintWriter stdin;
    private final StringBuilder stderr = new StringBuilder();
    private final List<String> seen = java.util.Collections.synchronizedList(new ArrayList<>());   // every stdout line, in order

    private PeerProcess(Process p) {
        this.process = p;
        this.stdin = new PrintWriter(p.getOutputStream(), true, StandardCharsets.UTF_8);
        Thread out = new Thread(() -> pump(p.inputReader(StandardCharsets.UTF_8), true), "peer-stdout");
        out.setDaemon(true);
        out.start();
        Thread err = new Thread(() -> pump(p.errorReader(StandardCharsets.UTF_8), false), "peer-stderr");
        err.setDaemon(true);
        err.start();
    }

    /**
     * The test JVM's class path and module path as one class path: the suite runs Fable as named modules
     * (fable-tests' surefire configuration), a child JVM runs it from the class path.
     */
    public static String classPath() {
        String modules = System.getProperty("jdk.module.path");
        String cp = System.getProperty("java.class.path");
        return modules == null || modules.isEmpty() ? cp : cp + java.io.File.pathSeparator + modules;
    }

    /** Starts {@code java <jvmArgs> -cp <test class path> mainClass args...}. */
    public static PeerProcess start(Class<?> mainClass, List<String> jvmArgs, String... args) {
        return startAs(List.of(), classPath(), mainClass, jvmArgs, args);
    }

    /**
     * As {@link #start(Class, List, String...)}, run by {@code launcher} (e.g. {@code ip netns exec NS}:
     * the JVM lives in another network namespace).
     */
    public static PeerProcess startUnder(List<String> launcher, Class<?> mainClass, List<String> jvmArgs, String... args) {
        return startAs(launcher, classPath(), mainClass, jvmArgs, args);
    }

    /**
     * Starts {@code <prefix> java <jvmArgs> -cp <classPath> mainClass args...}: {@code prefix} runs it as
     * another uid ({@code setpriv ...}, see {@link Stranger}) with a class path that uid can read, or in
     * another network namespace ({@code ip netns exec NS}).
     */
    public static PeerProcess startAs(List<String> prefix, String classPath, Class<?> mainClass, List<String> jvmArgs, String... args) {
        List<String> cmd = new ArrayList<>(prefix);
        cmd.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
        cmd.add("--enable-native-access=ALL-UNNAMED");
        cmd.add("-Xmx256m");
        cmd.add("-XX:+UseSerialGC");
        cmd.add("-XX:TieredStopAtLevel=1");
        for (String k : new String[] {"fable.shm.dir", "fable.runtime.dir", "fable.state.dir"}) {
            String v = System.getProperty(k);
            if (v != null) cmd.add("-D" + k + "=" + v);
        }
        cmd.addAll(jvmArgs);
        cmd.add("-cp");
        cmd.add(classPath);
        cmd.add(mainClass.getName());
        cmd.addAll(List.of(args));
        try {
            return new PeerProcess(new ProcessBuilder(cmd).start());
        } catch (IOException e) {
            throw new IllegalStateException("cannot start " + cmd, e);
        }
    }

    public static PeerProcess start(Class<?> mainClass, String... args) {
        return start(mainClass, List.of(), args);
    }

    private void pump(BufferedReader r, boolean isOut) {
        try (r) {
            String l;
            while ((l = r.readLine()) != null) {
                if (isOut) {
                    seen.add(l);
                    lines.add(l);
                } else {
                    synchronized (stderr) {
                        stderr.append(l).append('\n');
                    }
                }
            }
        } catch (IOException ignored) {
            // the process ended
        }
        if (isOut) lines.add(END);
    }

    /** Waits for the next stdout line (up to 60 s) and checks it starts with {@code prefix}; returns the line. */
    public String expectLine(String prefix) throws InterruptedException {
        return expectLine(prefix, Duration.ofSeconds(60));
    }

    /** Waits for the next stdout line (up to {@code timeout}) and checks it starts with {@code prefix}; returns the line. */
    public String expectLine(String prefix, Duration timeout) throws InterruptedException {
        String l = lines.poll(timeout.toNanos(), TimeUnit.NANOSECONDS);
        if (l == END) throw ended(prefix);
        if (l == null) {
            throw new AssertionError("peer printed nothing within " + timeout + " (expected '" + prefix + "'); alive=" + process.isAlive()
                    + "; stderr:\n" + stderr());
        }
        if (!l.startsWith(prefix)) {
            throw new AssertionError("peer printed '" + l + "', expected '" + prefix + "...'; stderr:\n" + stderr());
        }
        return l;
    }

    /** For failure messages: the next stdout line if one comes within 5 s, else null. */
    public String expectLineOrNull() {
        try {
            String l = lines.poll(5, TimeUnit.SECONDS);
            return l == END ? null : l;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return null;
        }
    }

    /**
     * Waits up to {@code timeout} for a line starting with {@code prefix}, skipping other lines (kept for
     * the failure message); a line starting with "FAILED" fails at once.
     */
    public String awaitLine(String prefix, Duration timeout) throws InterruptedException {
        long end = System.nanoTime() + timeout.toNanos();
        java.util.List<String> skipped = new java.util.ArrayList<>();
        while (true) {
            String l = lines.poll(Math.max(0, end - System.nanoTime()), TimeUnit.NANOSECONDS);
            if (l == null) {
                throw new AssertionError("peer printed no line '" + prefix + "...' within " + timeout + " (alive=" + process.isAlive()
                        + "); other lines: " + skipped + "; stderr:\n" + stderr());
            }
            if (l == END) throw ended(prefix);
            if (l.startsWith(prefix)) return l;
            if (l.startsWith("FAILED")) throw new AssertionError("peer: " + l + "; stderr:\n" + stderr());
            skipped.add(l);
        }
    }

    /**
     * Peer side: echoes every message of {@code c} back until the peer closes it, running {@code eachTurn}
     * (commands, events) at least every 100 ms.
     */
    public static void echoUntilClosed(dev.fable.Connection c, Runnable eachTurn) {
        while (true) {
            eachTurn.run();
            byte[] m;
            try {
                m = c.receiveMessage(Duration.ofMillis(100));
            } catch (RuntimeException ended) {
                return;
            }
            if (m != null) c.send(m);
        }
    }

    /**
     * Peer side: registers {@code name} with the default options, prints "LISTENING", accepts one
     * connection and echoes it until the peer closes, then prints "DONE".
     */
    /**
     * Listens as {@code name} (trusted), prints "LISTENING", then "ACCEPTED transport" for every connection, each echoed on
     * a thread of its own until it ends; returns when no connection came within {@code acceptWithin}.
     */
    public static void listenAndEchoEveryConnection(String name, Duration acceptWithin) {
        try (dev.fable.Endpoint ep = dev.fable.Fable.register(name).listen(dev.fable.ConnectOptions.trusted())) {
            System.out.println("LISTENING");
            while (true) {
                dev.fable.Connection c = ep.accept(acceptWithin);
                if (c == null) return;
                System.out.println("ACCEPTED " + c.transport());
                Thread.ofPlatform().daemon().start(() -> echoUntilClosed(c, () -> { }));
            }
        }
    }

    public static void listenAndEcho(String name, Duration acceptWithin) {
        try (dev.fable.Endpoint ep = dev.fable.Fable.register(name).listen()) {
            System.out.println("LISTENING");
            try (dev.fable.Connection c = ep.accept(acceptWithin)) {
                echoUntilClosed(c, () -> { });
            }
        }
        System.out.println("DONE");
    }

    /** The peer's stdout ended before the line a test waits for: it exited (or closed its stdout). */
    private AssertionError ended(String prefix) throws InterruptedException {
        lines.add(END);   // for the next wait too
        boolean exited = process.waitFor(5, TimeUnit.SECONDS);
        return new AssertionError("peer " + (exited ? "exited with status " + process.exitValue() : "closed its output")
                + " before printing '" + prefix + "...'; stderr:\n" + stderr());
    }

    public void send(String line) {
        stdin.println(line);
    }

    public long pid() {
        return process.pid();
    }

    /** True if the peer printed a line starting with {@code prefix} so far (without taking it from {@link #expectLine}'s queue). */
    public boolean stdoutSeen(String prefix) {
        return seenLine(prefix) != null;
    }

    /** The first line the peer printed so far that starts with {@code prefix}, or null. */
    public String seenLine(String prefix) {
        synchronized (seen) {
            for (String l : seen) if (l.startsWith(prefix)) return l;
        }
        return null;
    }

    public Process process() {
        return process;
    }

    /** SIGTERM (a normal exit: the JVM runs its shutdown hooks); returns at once. */
    public void terminate() {
        process.destroy();
    }

    /** SIGKILL, and waits until the process is gone. */
    public void kill9() throws InterruptedException {
        process.destroyForcibly();
        process.waitFor();
    }

    public int waitFor(long seconds) throws InterruptedException {
        if (!process.waitFor(seconds, TimeUnit.SECONDS)) {
            throw new AssertionError("peer did not exit within " + seconds + " s; stderr:\n" + stderr());
        }
        return process.exitValue();
    }

    public String stderr() {
        synchronized (stderr) {
            return stderr.toString();
        }
    }

    @Override
    public void close() {
        process.destroyForcibly();
        try {
            process.waitFor(10, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
