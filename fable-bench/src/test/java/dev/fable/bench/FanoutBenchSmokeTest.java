package dev.fable.bench;

import org.apache.commons.csv.CSVFormat;
import org.apache.commons.csv.CSVParser;
import org.apache.commons.csv.CSVRecord;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.*;

/**
 * Runs {@code --fanout} for real (one producer JVM and N consumer JVMs per family, quick windows):
 * every family gives a figure at every N and size and the run writes its files; a lost or a
 * corrupted message fails the cell of every family instead of giving a figure. Asserts no
 * performance: that is the bench's job, not a test's.
 */
class FanoutBenchSmokeTest {
    @TempDir
    Path out;

    @AfterEach
    void clearFaults() {
        System.clearProperty("fable.bench.skipAt");
        System.clearProperty("fable.bench.corruptAt");
    }

    /** fanout-summary.csv as maps by column, read by Commons CSV. */
    static List<Map<String, String>> summary(Path dir) throws IOException {
        List<Map<String, String>> rows = new ArrayList<>();
        try (CSVParser p = CSVFormat.DEFAULT.builder().setHeader().get().parse(Files.newBufferedReader(dir.resolve("fanout-summary.csv")))) {
            assertEquals(List.of(FanoutReport.SUMMARY_COLUMNS), p.getHeaderNames());
            for (CSVRecord r : p) rows.add(r.toMap());
        }
        return rows;
    }

    @Test
    void everyFamilyGivesAFigureAtEveryNAndSize() throws Exception {
        int rc = new CommandLine(new IpcBench()).execute("--fanout", "--quick", "--sizes", "64,64k", "--out", out.toString());
        Path dir = IpcBenchSmokeTest.runDir(out);
        List<Map<String, String>> rows = summary(dir);
        assertEquals(3 * 2 * 2 * 2, rows.size(), "a line per family, N (1, 2 with --quick), size and kind");
        Set<String> measured = new HashSet<>();
        for (Map<String, String> r : rows) {
            assertEquals("", r.get("error"), "failed: " + r);
            if (!r.get("median").isEmpty()) assertEquals("1", r.get("rounds"), "one round with --quick: " + r);
            // a figure above zero in at least one cell per family and kind: a loaded 2-CPU machine can starve a consumer through
            // a whole 100 ms window (a throughput of 0, no latency sample), which is a measurement, not a failure
            if (!r.get("median").isEmpty() && Double.parseDouble(r.get("median")) > 0) measured.add(r.get("family") + " " + r.get("kind"));
            if (r.get("family").equals(FanoutBench.FANOUT) && r.get("kind").equals("tput")) {
                assertFalse(r.get("dropped_pct").isEmpty(), "the fan-out's drops are reported: " + r);
            }
        }
        assertEquals(3 * 2, measured.size(), "every family measured something flat out and paced: " + measured);
        long consumerLines = Files.readAllLines(dir.resolve("fanout-samples.csv")).size() - 1;
        assertEquals(3L * 2 * 2 * (1 + 2), consumerLines, "a sample line per consumer of every cell");
        String md = Files.readString(dir.resolve("fanout.md"));
        assertTrue(md.contains("## Aggregate delivered throughput") && md.contains("fanout ÷ aeron") && md.contains("## Per-consumer one-way latency"), md);
        assertTrue(md.contains("pinned to CPU"), "the report states the placement:\n" + md);
        assertTrue(Files.size(dir.resolve("fanout.png")) > 0);
        assertEquals(0, rc, md);
    }

    @Test
    void aLostMessageFailsTheCellOfEveryFamily() throws Exception {
        System.setProperty("fable.bench.skipAt", "3");
        int rc = new CommandLine(new IpcBench()).execute("--fanout", "1", "--quick", "--sizes", "64", "--out", out.toString());
        assertEquals(3, rc, "a failed cell makes the run fail");
        List<Map<String, String>> rows = summary(IpcBenchSmokeTest.runDir(out));
        assertEquals(3 * 2, rows.size());
        for (Map<String, String> r : rows) {
            assertEquals("0", r.get("rounds"), "no figure: " + r);
            assertTrue(r.get("error").contains("expected message 3, got message 4 (messages 3..3 lost"), r.toString());
            if (r.get("family").equals(FanoutBench.FANOUT)) {
                assertTrue(r.get("error").contains("without a DROPPED notice"), "the fan-out may drop, but never silently: " + r);
            }
        }
    }

    @Test
    void aCorruptedByteFailsTheCellOfEveryFamilyWithoutVerify() throws Exception {
        System.setProperty("fable.bench.corruptAt", "3");
        int rc = new CommandLine(new IpcBench()).execute("--fanout", "1", "--quick", "--sizes", "4k", "--out", out.toString());
        assertEquals(3, rc);
        for (Map<String, String> r : summary(IpcBenchSmokeTest.runDir(out))) {
            assertTrue(r.get("error").contains("message 3 has wrong bytes"), "the last byte is checked always: " + r);
        }
    }

    @Test
    void badOptionsAreRefusedBeforeAnythingStarts() {
        assertEquals(2, new CommandLine(new IpcBench()).setExecutionExceptionHandler((e, cmd, parsed) -> 2)
                .execute("--fanout", "0", "--out", out.toString()));
        assertEquals(2, new CommandLine(new IpcBench()).setExecutionExceptionHandler((e, cmd, parsed) -> 2)
                .execute("--fanout", "--sizes", "16", "--out", out.toString()));
    }
}
