package dev.fable.naming;

import dev.fable.daemon.NameDaemon;
import dev.fable.testing.PeerProcess;

import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/** A real {@code fabled} in a child JVM with its own runtime directory; killed on close. */
final class TestDaemon implements AutoCloseable {
    final Path runtimeDir;
    final PeerProcess process;
    final String readyLine;

    private TestDaemon(Path runtimeDir, PeerProcess process, String readyLine) {
        this.runtimeDir = runtimeDir;
        this.process = process;
        this.readyLine = readyLine;
    }

    /** A fresh, short runtime directory under target/ (Unix socket paths are limited to 107 bytes). */
    static Path freshDir(String tag) throws IOException {
        Path d = Path.of("target", "nd", tag + Long.toString(System.nanoTime() % 1_000_000_000L, 36)).toAbsolutePath();
        Files.createDirectories(d);
        return d;
    }

    /** Starts a daemon on {@code runtimeDir} with extra {@code -D} settings; waits for its ready line. */
    static TestDaemon start(Path runtimeDir, String... props) throws InterruptedException {
        List<String> args = new ArrayList<>();
        for (String p : props) args.add("-D" + p);
        return startJvm(runtimeDir, args);
    }

    /** Starts a daemon on {@code runtimeDir} with extra JVM arguments (such as {@code -Xlog:gc:stderr}); waits for its ready line. */
    static TestDaemon startJvm(Path runtimeDir, List<String> jvmArgs) throws InterruptedException {
        List<String> args = new ArrayList<>();
        args.add("-Dfable.runtime.dir=" + runtimeDir);
        args.addAll(jvmArgs);
        PeerProcess p = PeerProcess.start(NameDaemon.class, args);
        try {
            String line = p.expectLine("fabled ready");
            return new TestDaemon(runtimeDir, p, line);
        } catch (AssertionError | InterruptedException e) {
            p.close();
            throw e;
        }
    }

    DaemonNameService client() {
        return DaemonNameService.open(runtimeDir, false);
    }

    long pid() {
        return process.pid();
    }

    String log() {
        return process.stderr();
    }

    void kill9() throws InterruptedException {
        process.kill9();
    }

    /** Points {@code link} at {@code target}, atomically (rename over the old link): a moving process's runtime directory. */
    static void repoint(Path link, Path target) throws java.io.IOException {
        Path tmp = link.resolveSibling(link.getFileName() + ".new");
        java.nio.file.Files.deleteIfExists(tmp);
        java.nio.file.Files.createSymbolicLink(tmp, target);
        java.nio.file.Files.move(tmp, link, java.nio.file.StandardCopyOption.ATOMIC_MOVE, java.nio.file.StandardCopyOption.REPLACE_EXISTING);
    }

    /** A TCP port free on {@code host} right now. */
    static int freePort(String host) throws IOException {
        try (ServerSocket s = new ServerSocket()) {
            s.bind(new InetSocketAddress(InetAddress.getByName(host), 0));
            return s.getLocalPort();
        }
    }

    @Override
    public void close() {
        process.close();
    }
}
