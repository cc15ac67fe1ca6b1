package dev.fable.bench;

import org.apache.commons.csv.CSVFormat;
import org.apache.commons.csv.CSVParser;
import org.apache.commons.csv.CSVRecord;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** samples.csv and summary.csv, read back with Commons CSV: their columns, their figures, an error text with a comma, quotes and a newline. */
class BenchReportCsvTest {
    static final String ERROR = "peer said \"no\", then exited\nwith status 1";

    static BenchReport report() {
        IpcBench.Plan plan = new IpcBench.Plan(List.of(Row.ALL.get("pipe"), Row.ALL.get("fable-tcp")), List.of(4096), List.of("diff"),
                List.of("lat", "tput"), 0, 1, 3, new long[] {50, 150}, new long[] {50, 150}, 100, false, false, false);
        List<Sample> samples = new ArrayList<>();
        String[] rates = {"1000000000", "1100000000", "900000000"};   // as a driver reports them
        for (int rep = 0; rep < 3; rep++) {
            samples.add(new Sample("pipe", "diff", "lat", 4096, rep, 0, 1, 70, 72, 1, 0,
                    Map.of("transport", "pipe", "rts", "1000", "p50", "40000", "p90", "50000", "p99", "90000", "p999", "120000", "max", "400000"), null));
            samples.add(new Sample("pipe", "diff", "tput", 4096, rep, 0, 1, 70, 72, 1, 0,
                    Map.of("transport", "pipe", "msgs", "30000", "msgPerSec", "244140.625", "bytesPerSec", rates[rep]), null));
            for (String kind : List.of("lat", "tput")) samples.add(new Sample("fable-tcp", "diff", kind, 4096, rep, 0, 1, 70, 72, 1, 0, Map.of(), ERROR));
        }
        return new BenchReport(plan, samples, Map.of(), null, false);
    }

    static List<CSVRecord> read(Path file, String[] columns) throws IOException {
        try (CSVParser p = CSVFormat.DEFAULT.builder().setHeader().get().parse(Files.newBufferedReader(file))) {
            assertEquals(List.of(columns), p.getHeaderNames(), file + ": columns");
            return p.getRecords();
        }
    }

    @Test
    void samplesAndSummaryReadBack(@TempDir Path dir) throws IOException {
        BenchReport report = report();
        report.writeSamples(dir.resolve("samples.csv"));
        report.writeSummary(dir.resolve("summary.csv"));

        List<CSVRecord> samples = read(dir.resolve("samples.csv"), BenchReport.SAMPLE_COLUMNS);
        assertEquals(12, samples.size());
        CSVRecord tput = samples.get(1);
        assertEquals(List.of("pipe", "diff", "tput", "4096", "0", "near", "30000", "1000000000", ""),
                List.of(tput.get("row"), tput.get("placement"), tput.get("kind"), tput.get("size"), tput.get("round"), tput.get("placement_label"),
                        tput.get("count"), tput.get("bytes_per_s"), tput.get("error")));
        assertEquals("40000", samples.get(0).get("p50_ns"));
        assertEquals(ERROR, samples.get(2).get("error"), "the error text comes back whole");
        assertTrue(Files.readString(dir.resolve("samples.csv")).lines().noneMatch(l -> l.endsWith("\r")), "\\n line ends");

        List<CSVRecord> summary = read(dir.resolve("summary.csv"), BenchReport.SUMMARY_COLUMNS);
        assertEquals(4, summary.size(), "one line per row, kind and size");
        CSVRecord pipeTput = summary.stream().filter(r -> r.get("row").equals("pipe") && r.get("kind").equals("tput")).findFirst().orElseThrow();
        assertEquals(List.of("near", "3", "1000000000", "900000000", "1100000000", "bytes/s"), List.of(pipeTput.get("placement_label"),
                pipeTput.get("rounds"), pipeTput.get("median"), pipeTput.get("min"), pipeTput.get("max"), pipeTput.get("unit")));
        CSVRecord pipeLat = summary.stream().filter(r -> r.get("row").equals("pipe") && r.get("kind").equals("lat")).findFirst().orElseThrow();
        assertEquals(List.of("40000", "ns", "50000", "90000", "120000"),
                List.of(pipeLat.get("median"), pipeLat.get("unit"), pipeLat.get("p90_ns"), pipeLat.get("p99_ns"), pipeLat.get("p999_ns")));
        for (CSVRecord r : summary) {
            if (!r.get("row").equals("fable-tcp")) continue;
            assertEquals(List.of("0", "", ERROR), List.of(r.get("rounds"), r.get("median"), r.get("error")));
        }

        // --compare reads the same file back: the failed row has no median and is left out
        Map<String, RunComparison.Cell> cells = RunComparison.read(dir);
        assertEquals(List.of("pipe/diff/lat/4096", "pipe/diff/tput/4096"), List.copyOf(cells.keySet()));
        assertEquals(1e9, cells.get("pipe/diff/tput/4096").median());
        String text = RunComparison.compare(dir, dir, 4096, 0.10);
        assertTrue(text.contains("1 of 1 throughput cells"), text);
    }

    /** The hand-written CSV of earlier runs quoted every error text (and turned its quotes into '). */
    @Test
    void compareReadsTheSummaryOfAnEarlierRun(@TempDir Path dir) throws IOException {
        Files.writeString(dir.resolve("summary.csv"), String.join(",", BenchReport.SUMMARY_COLUMNS) + "\n"
                + "pipe,diff,tput,4096,near 2/3,2,1000000000,900000000,1100000000,bytes/s,,,,244140.625,\n"
                + "fable-tcp,diff,tput,4096,near 2/3,0,,,,bytes/s,,,,,\"peer said 'no', then exited\"\n");
        Map<String, RunComparison.Cell> cells = RunComparison.read(dir);
        assertEquals(List.of("pipe/diff/tput/4096"), List.copyOf(cells.keySet()));
        assertEquals(new RunComparison.Cell("pipe", "diff", "tput", 4096, "near 2/3", 1e9), cells.get("pipe/diff/tput/4096"));
    }

    @Test
    void compareRefusesAFileThatIsNoSummary(@TempDir Path dir) throws IOException {
        Path csv = Files.writeString(dir.resolve("summary.csv"), "a,b\n1,2\n");
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> RunComparison.read(csv));
        assertTrue(e.getMessage().contains("is not a summary.csv"), e.getMessage());
    }

    /** The yardstick is shown (table, verdict) but never "best in column": the verdict is about rows a program would pick. */
    @Test
    void aYardstickIsNeverTheBestRow() {
        IpcBench.Plan plan = new IpcBench.Plan(List.of(Row.ALL.get("pipe"), Row.ALL.get("raw-ring")), List.of(64), List.of("diff"),
                List.of("lat", "tput"), 0, 1, 1, new long[] {50, 150}, new long[] {50, 150}, 100, false, false, false);
        List<Sample> samples = new ArrayList<>();
        for (String row : List.of("pipe", "raw-ring")) {
            boolean raw = row.equals("raw-ring");
            samples.add(new Sample(row, "diff", "lat", 64, 0, 0, 1, 70, 72, 1, 0,
                    Map.of("transport", row, "rts", "1000", "p50", raw ? "200" : "40000", "p90", "50000", "p99", "90000", "p999", "120000", "max", "400000"), null));
            samples.add(new Sample(row, "diff", "tput", 64, 0, 0, 1, 70, 72, 1, 0,
                    Map.of("transport", row, "msgs", "30000", "msgPerSec", raw ? "50000000" : "500000", "bytesPerSec", raw ? "3200000000" : "32000000"), null));
        }
        BenchReport report = new BenchReport(plan, samples, Map.of(), null, false);
        assertEquals("pipe", report.best("diff", "lat", 64));
        assertEquals("pipe", report.best("diff", "tput", 64));
        String verdict = report.verdicts();
        assertTrue(verdict.contains("lowest RTT pipe") && verdict.contains("yardstick raw-ring 200 ns"), verdict);
        assertTrue(report.table("diff", false).contains("*40.0 µs") || report.table("diff", false).contains("*40 µs"), report.table("diff", false));
    }
}
