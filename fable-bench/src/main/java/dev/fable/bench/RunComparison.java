package dev.fable.bench;

import org.apache.commons.csv.CSVParser;
import org.apache.commons.csv.CSVRecord;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * {@code fable bench --compare A B}: the throughput medians of two runs side by side (their
 * {@code summary.csv}), cell by cell, flagging cells that differ by more than 10%. Only cells that
 * ran in the same placement in both runs are compared: the host moves our two vCPUs near or far
 * between runs, which moves cross-core figures 3-4× (a cell's placement label says where it ran).
 */
final class RunComparison {
    private RunComparison() {}

    record Cell(String row, String placement, String kind, int size, String label, double median) {}

    static Map<String, Cell> read(Path dir) throws IOException {
        Path csv = Files.isDirectory(dir) ? dir.resolve("summary.csv") : dir;
        if (!Files.exists(csv)) throw new IllegalArgumentException("no summary.csv in " + dir + " (give a results folder of a run)");
        Map<String, Cell> m = new LinkedHashMap<>();
        try (CSVParser p = BenchReport.CSV.builder().setHeader().get().parse(Files.newBufferedReader(csv))) {
            for (CSVRecord r : p) {
                if (r.get("median").isEmpty()) continue;
                Cell c = new Cell(r.get("row"), r.get("placement"), r.get("kind"), Integer.parseInt(r.get("size")), r.get("placement_label"),
                        Double.parseDouble(r.get("median")));
                m.put(c.row() + "/" + c.placement() + "/" + c.kind() + "/" + c.size(), c);
            }
        } catch (IllegalArgumentException | IllegalStateException e) {   // a column missing, a line cut short, a stray quote
            throw new IllegalArgumentException(csv + " is not a summary.csv of fable bench: " + e.getMessage(), e);
        }
        return m;
    }

    /** near/far/mixed/same without the round count ("near 2/3" → "near"). */
    static String placementClass(String label) {
        int sp = label.indexOf(' ');
        return sp < 0 ? label : label.substring(0, sp);
    }

    /** The comparison as text; {@code minSize}: smallest message size compared (the bar is for 4 KiB and 64 KiB). */
    static String compare(Path a, Path b, int minSize, double tolerance) throws IOException {
        Map<String, Cell> ra = read(a), rb = read(b);
        List<List<String>> lines = new ArrayList<>();
        int compared = 0, within = 0, skipped = 0;
        for (Map.Entry<String, Cell> e : ra.entrySet()) {
            Cell x = e.getValue(), y = rb.get(e.getKey());
            if (y == null || !x.kind().equals("tput") || x.size() < minSize) continue;
            if (!placementClass(x.label()).equals(placementClass(y.label()))) {
                skipped++;
                lines.add(List.of(x.row(), x.placement(), IpcBench.human(x.size()), x.label() + " / " + y.label(), "", "", "", "placement differs"));
                continue;
            }
            double ratio = y.median() / x.median();
            boolean ok = Math.abs(ratio - 1) <= tolerance;
            compared++;
            if (ok) within++;
            lines.add(List.of(x.row(), x.placement(), IpcBench.human(x.size()), x.label(), BenchReport.rate(x.median(), x.size()),
                    BenchReport.rate(y.median(), y.size()), String.format(Locale.ROOT, "%+.1f%%", 100 * (ratio - 1)), ok ? "" : "**beyond " + Math.round(tolerance * 100) + "%**"));
        }
        return Tables.text(List.of("row", "placement", "size", "label", "run A", "run B", "B vs A", ""), lines)
                + String.format(Locale.ROOT, "%n%d of %d throughput cells (≥ %s, same placement in both runs) within %.0f%%; %d cells skipped (placement differs)%n",
                within, compared, IpcBench.human(minSize), tolerance * 100, skipped);
    }
}
