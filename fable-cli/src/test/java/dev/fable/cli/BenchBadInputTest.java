package dev.fable.cli;

import org.junit.jupiter.api.Test;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.*;

/**
 * Bad input to {@code fable bench}, as a real process: one line on stderr naming the problem, a
 * non-zero exit, no stack trace, and nothing started.
 */
class BenchBadInputTest {
    private static void rejects(String expected, List<String> jvmProps, String... args) throws Exception {
        String[] full = new String[args.length + 1];
        full[0] = "bench";
        System.arraycopy(args, 0, full, 1, args.length);
        ProcessBuilder pb = SendRecvTest.fable(full);
        for (String p : jvmProps) pb.command().add(pb.command().indexOf("-cp"), p);
        Process p = pb.start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        String err = new String(p.getErrorStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(p.waitFor(60, TimeUnit.SECONDS));
        String args0 = String.join(" ", args);
        assertNotEquals(0, p.exitValue(), args0 + " was accepted");
        assertEquals("", out, args0 + ": nothing on stdout");
        List<String> lines = err.lines().filter(l -> !l.isBlank()).toList();
        assertEquals(1, lines.size(), args0 + ": one line on stderr, got:\n" + err);
        assertTrue(lines.getFirst().startsWith("fable bench: "), err);
        assertTrue(lines.getFirst().contains(expected), args0 + ": expected '" + expected + "' in: " + err);
        assertFalse(err.contains("Exception") || err.contains("\tat "), "no stack trace: " + err);
    }

    @Test
    void badInputGivesOneLineAndANonZeroExit() throws Exception {
        rejects("unknown transport 'sockets' (known: pipe, nio-unix", List.of(), "--transports", "fable-shm-spin,sockets");
        rejects("size 0 is too small", List.of(), "--sizes", "64,0");
        rejects("'lots' is not a size", List.of(), "--sizes", "lots");
        rejects("size 9m is above aeron-ipc's limit of 8 MiB", List.of(), "--sizes", "9m", "--transports", "aeron-ipc");
        rejects("size 1024m is above the bench's limit of 16 MiB", List.of(), "--sizes", "1024m");
        rejects("CPU 4096 does not exist here", List.of(), "--cpus", "0,4096");
        rejects("--repeat must be at least 1", List.of(), "--repeat", "0");
        rejects("unknown placement 'numa'", List.of(), "--placements", "numa");
        rejects("Unknown option: '--fast'", List.of(), "--fast");
    }

    @Test
    void aMissingDaemonIsOneLineSayingHowToStartIt() throws Exception {
        Path empty = Files.createTempDirectory(Path.of("target"), "no-daemon").toAbsolutePath();
        rejects("need the name daemon", List.of("-Dfable.runtime.dir=" + empty, "-Dfable.daemon.autostart=false"),
                "--transports", "fable-shm-spin,nio-unix", "--sizes", "64");
    }
}
