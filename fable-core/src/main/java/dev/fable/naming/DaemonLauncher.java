package dev.fable.naming;

import dev.fable.FableException;
import dev.fable.naming.daemon.NameDaemon;

import java.io.IOException;
import java.net.URISyntaxException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * Starts {@code fabled} in the background for a library that found none: a detached JVM running
 * {@link NameDaemon} from the same classes as this process, with this process's {@code fable.*}
 * properties, logging to {@code <runtime dir>/fabled.log}. It exits by itself once idle
 * ({@code fable.daemon.idleExitSeconds}, default 60).
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
                || key.startsWith("fable.daemon.") || key.startsWith("fable.policy.");
    }

    /** Spawns the daemon; returns its process (the caller waits for the socket). */
    static Process spawn(Path runtimeDir) {
        Path log = logFile(runtimeDir);
        List<String> cmd = new ArrayList<>();
        if (Files.isExecutable(Path.of("/usr/bin/setsid"))) cmd.add("/usr/bin/setsid");   // own session: no terminal signals
        cmd.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
        cmd.add("--enable-native-access=ALL-UNNAMED");
        cmd.add("-XX:+UseSerialGC");
        cmd.add("-Xmx256m");
        for (String k : System.getProperties().stringPropertyNames()) {
            if (isDaemonSetting(k)) cmd.add("-D" + k + "=" + System.getProperty(k));
        }
        cmd.add("-Dfable.runtime.dir=" + runtimeDir.toAbsolutePath());
        cmd.add("-cp");
        cmd.add(classLocation());
        cmd.add(NameDaemon.class.getName());
        cmd.add("--autostarted");
        try {
            Files.createDirectories(runtimeDir);
            return new ProcessBuilder(cmd).redirectErrorStream(true)
                    .redirectOutput(ProcessBuilder.Redirect.appendTo(log.toFile()))
                    .redirectInput(ProcessBuilder.Redirect.from(Path.of("/dev/null").toFile()))
                    .start();
        } catch (IOException e) {
            throw new FableException("cannot start the name daemon (" + String.join(" ", cmd) + "): " + e
                    + "; start one yourself with 'fable daemon'", e);
        }
    }

    private static String classLocation() {
        try {
            return Path.of(NameDaemon.class.getProtectionDomain().getCodeSource().getLocation().toURI()).toString();
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
