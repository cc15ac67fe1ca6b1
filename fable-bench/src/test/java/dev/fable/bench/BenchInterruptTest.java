package dev.fable.bench;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.*;

/**
 * Ctrl-C in the middle of a run (a real SIGINT to a real {@code fable bench} JVM) leaves no child
 * process (peers, and the pipe row's grandchild) and no file in shared memory (Fable's pools and
 * rings, Aeron's directory).
 */
class BenchInterruptTest {
    @Test
    void ctrlCLeavesNoProcessAndNoSharedMemoryFile(@TempDir Path out) throws Exception {
        Path shm = Path.of("/dev/shm", "fable-bench-test-" + ProcessHandle.current().pid() + "-" + System.nanoTime());
        Files.createDirectories(shm);
        try {
            List<String> cmd = new ArrayList<>(List.of(ProcessHandle.current().info().command().orElseThrow(), "--enable-native-access=ALL-UNNAMED",
                    "-Dfable.shm.dir=" + shm, "-Dfable.bench.shmDir=" + shm));
            for (String k : PeerJvm.PASSED_ON) {
                String v = System.getProperty(k);
                if (v != null && !k.contains("shm")) cmd.add("-D" + k + "=" + v);
            }
            cmd.addAll(List.of("-cp", System.getProperty("java.class.path"), IpcBench.class.getName(), "--transports",
                    "fable-shm-spin,aeron-ipc,pipe,nio-tcp", "--sizes", "64", "--placements", "diff", "--repeat", "100", "--out", out.toString()));
            Process bench = new ProcessBuilder(cmd).redirectOutput(ProcessBuilder.Redirect.DISCARD).start();
            BufferedReader err = new BufferedReader(new InputStreamReader(bench.getErrorStream(), StandardCharsets.UTF_8));
            String line;
            while ((line = err.readLine()) != null && !line.contains("round 1/100")) {
                // until the first round has been measured: every row's peers are up and have mapped their memory
            }
            assertNotNull(line, "the bench ended before its first round");
            List<ProcessHandle> kids = bench.descendants().toList();
            assertTrue(kids.size() >= 8, "4 rows of 2 peers and the pipe's child should be running: " + kids.size());
            assertTrue(hasFiles(shm), "the peers have shared memory in " + shm);

            // Ctrl-C is SIGINT. A program started from a shell's background job inherits SIGINT ignored (POSIX), and
            // so does this test JVM and the bench it starts: the JVM then leaves SIGINT alone, as any program would.
            // There, SIGTERM takes the same way out (the JVM's shutdown hooks), so the test still checks the clean-up.
            String signal = sigintIgnored() ? "-TERM" : "-INT";
            new ProcessBuilder("kill", signal, Long.toString(bench.pid())).inheritIO().start().waitFor();
            StringBuilder rest = new StringBuilder();
            while ((line = err.readLine()) != null) rest.append(line).append('\n');
            assertTrue(bench.waitFor(30, TimeUnit.SECONDS), "the bench did not exit after Ctrl-C");
            assertTrue(rest.toString().contains("interrupted"), "it says it was interrupted:\n" + rest);
            for (ProcessHandle k : kids) {
                if (k.info().commandLine().orElse("").contains("NameDaemon")) {
                    // The host's name daemon, auto-started by this run, serves every Fable process on the host;
                    // it is not the bench's to kill. With its clients gone it exits by itself (idle exit: 2 s in tests, 60 s by default).
                    k.onExit().get(30, TimeUnit.SECONDS);
                } else {
                    assertFalse(k.isAlive(), "left running after Ctrl-C: " + k.pid() + " " + k.info().commandLine().orElse(""));
                }
            }
            try (Stream<Path> s = Files.walk(shm)) {
                assertEquals(List.of(), s.filter(Files::isRegularFile).toList(), "files left in shared memory after Ctrl-C");
            }
        } finally {
            try (Stream<Path> s = Files.walk(shm)) {
                for (Path p : s.sorted(Comparator.reverseOrder()).toList()) Files.deleteIfExists(p);
            }
        }
    }

    /** True when this process inherited SIGINT ignored (bit 1 of SigIgn in /proc/self/status). */
    static boolean sigintIgnored() throws IOException {
        for (String l : Files.readAllLines(Path.of("/proc/self/status"))) {
            if (l.startsWith("SigIgn:")) return (Long.parseUnsignedLong(l.substring(7).trim(), 16) & 0x2) != 0;
        }
        return false;
    }

    static boolean hasFiles(Path dir) throws IOException {
        try (Stream<Path> s = Files.walk(dir)) {
            return s.anyMatch(Files::isRegularFile);
        }
    }
}
