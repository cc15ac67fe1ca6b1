package dev.fable.naming;

import dev.fable.FableException;
import dev.fable.internal.OwnedDirectory;

import java.io.IOException;
import java.net.URISyntaxException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * Starts {@code fabled} in the background for a library that found none: a detached JVM running
 * {@code dev.fable.daemon.NameDaemon} (the {@code fable-daemon} artifact, which must be on this JVM's path) from the same jars as this process, with this process's {@code fable.*}
 * properties, logging to {@code <runtime dir>/fabled.log}. It exits by itself once idle
 * ({@code fable.daemon.idleExitSeconds}, default 60). A process configured for cluster naming
 * ({@code fable.zookeeper...}) gives the daemon those settings through its environment (the ZooKeeper credentials
 * would be readable by every user in a command line; a process's environment only by its own user) and, unless
 * {@code fable.zookeeper.lib} names the ZooKeeper module's directory, its own class path, where an application
 * that embeds Fable has {@code fable-zookeeper} and its libraries.
 */
final class DaemonLauncher {
    private DaemonLauncher() {}

    static Path logFile(Path runtimeDir) {
        return runtimeDir.resolve("fabled.log");
    }

    /**
     * The settings a daemon takes from the process that starts it: its own (docs/naming.md), never a
     * client's private ones (a test's {@code fable.shm.dir}, bench switches): the daemon serves every
     * client of the host, not just the one that happened to start it.
     */
    static boolean isDaemonSetting(String key) {
        return key.equals("fable.state.dir") || key.equals("fable.host.address") || key.equals("fable.trusted.networks")
                || key.startsWith("fable.daemon.") || key.startsWith("fable.policy.") || isClusterSetting(key);
    }

    /** The cluster naming settings (docs/cluster.md): passed in the daemon's environment, never on its command line. */
    static boolean isClusterSetting(String key) {
        return key.equals("fable.zookeeper") || key.startsWith("fable.zookeeper.");
    }

    /** The environment variable a setting is also read from ({@code fable.zookeeper.auth} → {@code FABLE_ZOOKEEPER_AUTH}). */
    private static String envName(String key) {
        return key.toUpperCase(java.util.Locale.ROOT).replace('.', '_');
    }

    /** Spawns the daemon; returns its process (the caller waits for the socket). */
    static Process spawn(Path runtimeDir, Path stateDir) {
        Path log = logFile(runtimeDir);
        List<String> cmd = new ArrayList<>();
        if (Files.isExecutable(Path.of("/usr/bin/setsid"))) cmd.add("/usr/bin/setsid");   // own session: no terminal signals
        cmd.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
        cmd.add("--enable-native-access=ALL-UNNAMED");
        cmd.add("-XX:+UseSerialGC");
        cmd.add("-Xmx256m");
        java.util.Map<String, String> env = new java.util.TreeMap<>();
        for (String k : System.getProperties().stringPropertyNames()) {
            if (isClusterSetting(k)) env.put(envName(k), System.getProperty(k));
            else if (isDaemonSetting(k)) cmd.add("-D" + k + "=" + System.getProperty(k));
        }
        cmd.add("-Dfable.runtime.dir=" + runtimeDir.toAbsolutePath());
        if (stateDir != null) cmd.add("-Dfable.state.dir=" + stateDir.toAbsolutePath());   // after the copied one: it wins
        Class<?> daemon = daemonClass();
        cmd.add("-cp");
        String path = classPath(daemon);
        if (NamingConfig.get("fable.zookeeper") != null && NamingConfig.get("fable.zookeeper.lib") == null) {
            path += java.io.File.pathSeparator + System.getProperty("java.class.path", "");   // the ZooKeeper module, if the application has it
        }
        cmd.add(path);
        cmd.add(DAEMON_CLASS);
        cmd.add("--autostarted");
        try {
            OwnedDirectory.ensure(runtimeDir, "Fable runtime directory", "fable.runtime.dir");   // checked by the caller already; the log goes here
            ProcessBuilder pb = new ProcessBuilder(cmd);
            pb.environment().putAll(env);   // over inherited FABLE_ZOOKEEPER_*: a property wins over the environment, as in this process
            return pb.redirectErrorStream(true)
                    .redirectOutput(ProcessBuilder.Redirect.appendTo(log.toFile()))
                    .redirectInput(ProcessBuilder.Redirect.from(Path.of("/dev/null").toFile()))
                    .start();
        } catch (IOException e) {
            throw new FableException("cannot start the name daemon (" + String.join(" ", cmd) + "): " + e
                    + "; start one yourself with 'fable daemon'", e);
        }
    }

    /**
     * One class of each library the daemon uses besides fable-core (the {@code fable-daemon} artifact's
     * dependencies, BouncyCastle: it signs the host certificate on the first start), looked up by name
     * through the daemon's class loader: this module does not depend on them.
     */
    static final List<String> DAEMON_LIBRARIES = List.of(
            "org.bouncycastle.cert.X509v3CertificateBuilder",   // bcpkix-jdk18on
            "org.bouncycastle.asn1.x500.X500Name",              // bcprov-jdk18on
            "org.bouncycastle.asn1.cms.ContentInfo");           // bcutil-jdk18on

    /**
     * The daemon's class path: its jar, fable-core's and its libraries' ({@link #DAEMON_LIBRARIES}) where
     * this JVM has them (class path or module path). A library this JVM lacks is left out: a daemon whose
     * host identity exists already does not need it, and one that must create it says which artifact is missing.
     */
    static String classPath(Class<?> daemon) {
        java.util.LinkedHashSet<String> path = new java.util.LinkedHashSet<>();
        path.add(location(daemon));
        path.add(location(DaemonLauncher.class));
        for (String name : DAEMON_LIBRARIES) {
            try {
                path.add(location(Class.forName(name, false, daemon.getClassLoader())));
            } catch (ClassNotFoundException | LinkageError e) {
                // not on this JVM's path: see above
            }
        }
        return String.join(java.io.File.pathSeparator, path);
    }

    /** The daemon's main class, in the {@code fable-daemon} artifact; the client jar does not depend on it. */
    static final String DAEMON_CLASS = "dev.fable.daemon.NameDaemon";

    /** The message when the daemon cannot be started because its artifact is missing: one line, what to add. */
    static final String MISSING_DAEMON = "no name daemon runs and this JVM cannot start one: " + DAEMON_CLASS
            + " is not on its path; add the artifact dev.fable:fable-daemon (same version as fable-core), or start one with 'fable daemon'";

    private static Class<?> daemonClass() {
        try {
            return Class.forName(DAEMON_CLASS, false, DaemonLauncher.class.getClassLoader());
        } catch (ClassNotFoundException e) {
            throw new FableException(MISSING_DAEMON, e);
        }
    }

    private static String location(Class<?> c) {
        try {
            return Path.of(c.getProtectionDomain().getCodeSource().getLocation().toURI()).toString();
        } catch (URISyntaxException | NullPointerException | SecurityException e) {
            throw new FableException("cannot find the Fable classes to start the name daemon from (" + e
                    + "); start one yourself with 'fable daemon'", e);
        }
    }

    /** The last lines of the daemon's log, for error messages. */
    static String tail(Path runtimeDir) {
        try {
            List<String> lines = Files.readAllLines(logFile(runtimeDir));
            return String.join("\n", lines.subList(Math.max(0, lines.size() - 5), lines.size()));
        } catch (IOException e) {
            return "(no log: " + e.getMessage() + ")";
        }
    }
}
