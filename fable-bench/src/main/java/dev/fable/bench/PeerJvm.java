package dev.fable.bench;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/** The command line of a bench peer JVM: the same java and class path as this one, the same flags for every row. */
final class PeerJvm {
    private PeerJvm() {}

    /** Settings of this JVM that peer JVMs get too (a test's private runtime and state dirs, say). */
    static final List<String> PASSED_ON = List.of("fable.runtime.dir", "fable.state.dir", "fable.shm.dir", "fable.daemon.idleExitSeconds", "fable.peerTimeoutMillis",
            "fable.daemon.autostart", "fable.bench.shmDir", "fable.bench.poolMiB", "fable.bench.logMiB", "fable.shm.maxPeerPoolBytes", "fable.bench.corruptAt", "fable.bench.skipAt",
            "fable.tls.engine");

    static List<String> command(Class<?> main, List<String> args) {
        return command(main, List.of(), args);
    }

    /** As {@link #command(Class, List)}, with {@code jvmFlags} after the common ones (a larger heap, say: the last -Xmx wins). */
    static List<String> command(Class<?> main, List<String> jvmFlags, List<String> args) {
        List<String> cmd = new ArrayList<>();
        cmd.add(java());
        cmd.addAll(List.of("--enable-native-access=ALL-UNNAMED", "-XX:+UseParallelGC", "-Xms256m", "-Xmx256m", "-XX:+AlwaysPreTouch",
                "--sun-misc-unsafe-memory-access=allow", "--add-opens=java.base/jdk.internal.misc=ALL-UNNAMED",
                "--add-opens=java.base/java.nio=ALL-UNNAMED", "--add-opens=java.base/sun.nio.ch=ALL-UNNAMED",
                "-Daeron.print.configuration=false", "-Dagrona.disable.bounds.checks=true", "-Dfable.leakDetection=simple"));
        String extra = System.getenv("FABLE_PEER_JAVA_OPTS");   // e.g. a profiler agent; see docs/BENCHMARKS.md
        if (extra != null && !extra.isBlank()) cmd.addAll(List.of(extra.trim().split("\\s+")));
        for (String k : PASSED_ON) {
            String v = System.getProperty(k);
            if (v != null) cmd.add("-D" + k + "=" + v);
        }
        // Every row's peer maps what the other's options declare: the 64 MiB log of FableLink.BENCH_LOG_MIB with its pool.
        if (System.getProperty("fable.shm.maxPeerPoolBytes") == null) cmd.add("-Dfable.shm.maxPeerPoolBytes=" + (256L << 20));
        cmd.addAll(jvmFlags);
        cmd.addAll(List.of("-cp", classPath(), main.getName()));
        cmd.addAll(args);
        return cmd;
    }

    /** This JVM's java launcher: the peers run the same. */
    static String java() {
        return ProcessHandle.current().info().command().orElse(Path.of(System.getProperty("java.home"), "bin", "java").toString());
    }

    /**
     * The peers' class path: this JVM's, or, when this JVM runs on the module path (as {@code ./fable} does), the
     * same jars as a class path: the peers stay in the unnamed module, where Aeron's agents get their --add-opens.
     */
    static String classPath() {
        String cp = System.getProperty("java.class.path", "");
        String mp = System.getProperty("jdk.module.path", "");
        if (mp.isEmpty()) return cp;
        StringBuilder all = new StringBuilder(cp);
        for (String entry : mp.split(java.io.File.pathSeparator)) {
            java.io.File f = new java.io.File(entry);
            java.io.File[] jars = f.isDirectory() ? f.listFiles((d, n) -> n.endsWith(".jar")) : null;
            if (jars == null || jars.length == 0) {
                if (!all.isEmpty()) all.append(java.io.File.pathSeparator);
                all.append(entry);   // a jar, or a directory of classes
            } else {
                for (java.io.File j : jars) {
                    if (!all.isEmpty()) all.append(java.io.File.pathSeparator);
                    all.append(j.getPath());
                }
            }
        }
        return all.toString();
    }

    /** Where the bench's own shared-memory files go (Aeron's directory): {@code -Dfable.bench.shmDir}, default /dev/shm. */
    static Path shmDir() {
        return Path.of(System.getProperty("fable.bench.shmDir", "/dev/shm"));
    }
}
