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
import java.util.List;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.*;

/**
 * Runs the real matrix (every default row between two real JVMs, quick windows) through the
 * orchestrator: every row of every cell produces a figure and the run writes its files; a wrong
 * message (a skipped sequence number, a corrupted byte under --verify) turns the cell into a
 * reported failure instead of a figure. Asserts no performance: that is the bench's job, not a test's.
 */
class IpcBenchSmokeTest {
    @TempDir
    Path out;

    @AfterEach
    void clearFaults() {
        System.clearProperty("fable.bench.skipAt");
        System.clearProperty("fable.bench.corruptAt");
    }

    static Path runDir(Path out) throws IOException {
        try (Stream<Path> s = Files.list(out)) {
            return s.filter(Files::isDirectory).findFirst().orElseThrow(() -> new AssertionError("no results folder in " + out));
        }
    }

    /** summary.csv as rows of fields, read by Commons CSV (the header line is not a row). */
    static List<String[]> summary(Path dir) throws IOException {
        List<String[]> rows = new ArrayList<>();
        try (CSVParser p = CSVFormat.DEFAULT.builder().setHeader().get().parse(Files.newBufferedReader(dir.resolve("summary.csv")))) {
            assertEquals(List.of(BenchReport.SUMMARY_COLUMNS), p.getHeaderNames());
            for (CSVRecord r : p) rows.add(r.values());
        }
        return rows;
    }

    @Test
    void everyDefaultRowGivesAFigureWithEveryByteChecked() throws Exception {
        int rc = new CommandLine(new IpcBench()).execute("--quick", "--verify", "--placements", "diff", "--sizes", "64,4k", "--out", out.toString());
        Path dir = runDir(out);
        List<String[]> rows = summary(dir);
        assertEquals(Row.DEFAULT.size() * 2 * 2, rows.size(), "one summary line per row, kind and size");
        for (String[] r : rows) {
            assertEquals("", r[14], "row " + r[0] + " " + r[2] + " " + r[3] + " failed: " + r[14]);
            assertTrue(Double.parseDouble(r[6]) > 0, "no figure for " + String.join(",", r));
        }
        assertEquals(0, rc);
        for (String f : new String[] {"samples.csv", "summary.md"}) assertTrue(Files.size(dir.resolve(f)) > 0, f);
        String md = Files.readString(dir.resolve("summary.md"));
        assertTrue(md.contains("auto picked shm"), "the verdict says what auto picked:\n" + md);
    }

    /** The switch bench: three phases between two real JVMs, 5 switches, every sequence number checked by the sink. */
    @Test
    void reconfigureMeasuresThePhasesAndThePauses() throws Exception {
        int rc = new CommandLine(new IpcBench()).execute("--reconfigure", "--quick", "--out", out.toString());
        String md = Files.readString(runDir(out).resolve("reconfigure.md"));
        assertEquals(0, rc, md);
        assertFalse(md.contains("FAILED"), md);
        assertTrue(md.contains("| steady shm |") && md.contains("| steady tcp |") && md.contains("| switching shm<->tcp every 100 ms |"), md);
        long runs = 3 - md.lines().filter(l -> l.startsWith("Skipped:")).count();   // the spare-CPU run needs taskset
        assertEquals(runs, java.util.regex.Pattern.compile("(?m)^Pause at a switch[^\n]*: n=[1-9]").matcher(md).results().count(),
                "every run measured at least one switch (on the pause line itself):\n" + md);
    }

    @Test
    void sameCorePlacementRuns() throws Exception {
        int rc = new CommandLine(new IpcBench()).execute("--quick", "--placements", "same", "--sizes", "64", "--transports",
                "fable-shm-adaptive,nio-unix,pipe", "--out", out.toString());
        assertEquals(0, rc);
        for (String[] r : summary(runDir(out))) {
            assertEquals("same", r[1]);
            assertTrue(Double.parseDouble(r[6]) > 0, "no figure for " + String.join(",", r));
        }
    }

    @Test
    void aLostMessageIsReportedInsteadOfAFigure() throws Exception {
        System.setProperty("fable.bench.skipAt", "3");
        int rc = new CommandLine(new IpcBench()).execute("--quick", "--placements", "diff", "--sizes", "64", "--kinds", "tput",
                "--transports", "fable-shm-spin,nio-unix,raw-ring-2m", "--out", out.toString());
        assertEquals(3, rc, "a failed cell makes the run fail");
        for (String[] r : summary(runDir(out))) {
            assertEquals("0", r[5], "no figure for " + r[0]);
            assertTrue(r[14].contains("expected message 3, got message 4 (messages 3..3 lost)"), r[0] + ": " + r[14]);
        }
    }

    @Test
    void verifyCatchesACorruptedByteThatTheSequenceCheckMisses() throws Exception {
        System.setProperty("fable.bench.corruptAt", "3");
        String[] base = {"--quick", "--placements", "diff", "--sizes", "4k", "--kinds", "lat", "--transports", "fable-shm-spin,aeron-ipc,pipe,raw-ring"};
        Path plain = out.resolve("plain"), verified = out.resolve("verified");
        assertEquals(0, new CommandLine(new IpcBench()).execute(concat(base, "--out", plain.toString())));
        assertEquals(3, new CommandLine(new IpcBench()).execute(concat(base, "--verify", "--out", verified.toString())));
        for (String[] r : summary(runDir(verified))) assertTrue(r[14].contains("message 3 has wrong bytes"), r[0] + ": " + r[14]);
    }

    static String[] concat(String[] a, String... b) {
        String[] r = new String[a.length + b.length];
        System.arraycopy(a, 0, r, 0, a.length);
        System.arraycopy(b, 0, r, a.length, b.length);
        return r;
    }
}
