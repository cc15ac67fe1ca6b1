package dev.fable.bench;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import javax.imageio.ImageIO;
import java.awt.Color;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Renders every chart from made-up but realistic figures and reads the PNGs back. With
 * {@code -Dfable.charts.sampleDir=/some/dir} the charts are also written there, to look at.
 */
class BenchChartsTest {
    static final List<String> ROWS = BenchCharts.KNOWN_ROWS;
    static final int[] SIZES = {64, 4096, 65536};
    /** Rough one-way bytes/s at 64 B across cores, and how much 4 KiB and 64 KiB gain. */
    static final double[] BASE = {60e6, 40e6, 25e6, 10e6, 1.6e9, 1.3e9, 1.5e9, 0.8e9, 0.45e9, 0.3e9, 0.1e9, 1.45e9, 1.2e9};
    static final double[] GAIN_4K = {20, 37, 36, 50, 8.7, 9, 8.5, 10, 9, 8, 10, 8.4, 7.5};
    static final double[] GAIN_64K = {58, 150, 120, 300, 18, 17, 17, 20, 13, 12, 18, 17, 16.7};

    static List<TputPoint> throughput() {
        List<TputPoint> out = new ArrayList<>();
        for (int r = 0; r < ROWS.size(); r++) {
            for (int s : SIZES) {
                for (String placement : List.of("diff", "same")) {
                    String row = ROWS.get(r);
                    if (row.equals("fable-tls") && s == 65536 && placement.equals("same")) continue;   // not measured
                    double v = BASE[r] * (s == 64 ? 1 : s == 4096 ? GAIN_4K[r] : GAIN_64K[r]) * (placement.equals("same") ? 0.45 : 1);
                    boolean failed = row.equals("aeron-ipc") && s == 4096 && placement.equals("diff");
                    Stat bytes = failed ? new Stat(Double.NaN, Double.NaN, Double.NaN, 0) : new Stat(v, v * 0.9, v * 1.07, 3);
                    out.add(new TputPoint(row, placement, s, bytes, new Stat(v / s, v / s * 0.9, v / s * 1.07, 3)));
                }
            }
        }
        return out;
    }

    static final double[] PCT = {50, 90, 99, 99.9};
    static final double[] P50 = {9000, 11000, 18000, 17000, 220, 260, 240, 5200, 4100, 9500, 14000, 250, 300};

    static List<LatCurve> latency() {
        List<LatCurve> out = new ArrayList<>();
        for (int r = 0; r < ROWS.size(); r++) {
            for (int s : SIZES) {
                for (String placement : List.of("diff", "same")) {
                    boolean spins = ROWS.get(r).contains("spin") || ROWS.get(r).contains("adaptive") || ROWS.get(r).contains("aeron");
                    double p50 = P50[r] * (1 + s / 16384.0) * (placement.equals("diff") ? 1 : spins ? 4000 : 2.5);
                    out.add(new LatCurve(ROWS.get(r), placement, s, PCT.clone(), new double[] {p50, p50 * 1.4, p50 * 3, p50 * 12}));
                }
            }
        }
        return out;
    }

    /** Two sockets of 8 CPUs: same core slow (time slicing), same socket fast, across sockets slower; one gap, one zero. */
    static List<GridCell> grid16() {
        List<GridCell> out = new ArrayList<>();
        for (int a = 0; a < 16; a++) {
            for (int b = 0; b < 16; b++) {
                if (a == 3 && b == 12) continue;
                double v = a == b ? 8200 : a / 8 == b / 8 ? 150 + 10 * ((a * 7 + b * 3) % 9) : 560 + 20 * ((a + b) % 5);
                out.add(new GridCell(a, b, a == 12 && b == 3 ? 0 : v));
            }
        }
        return out;
    }

    @Test
    void throughputBars(@TempDir Path dir) throws IOException {
        Path png = BenchCharts.throughputBars(throughput(), dir);
        assertEquals(dir.resolve("throughput.png"), png);
        BufferedImage img = read(png);
        assertTrue(img.getWidth() >= 1200 && img.getWidth() <= 1600 && img.getHeight() >= 600 && img.getHeight() <= 900,
                img.getWidth() + "x" + img.getHeight());
        assertDrawn(img, BenchCharts.placementColor("diff"), BenchCharts.placementColor("same"));
        sample(png);
    }

    @Test
    void manySizesMakeAGrid(@TempDir Path dir) throws IOException {
        List<TputPoint> points = new ArrayList<>();
        for (int s : new int[] {16, 64, 256, 1024, 4096, 65536, 1 << 20})
            for (String row : List.of("pipe", "fable-shm-spin", "fable-tcp"))
                for (String placement : List.of("diff", "same")) {
                    double v = s * (row.equals("pipe") ? 1e6 : row.equals("fable-tcp") ? 3e6 : 2e7) * (placement.equals("same") ? 0.5 : 1);
                    points.add(new TputPoint(row, placement, s, new Stat(v, v * 0.95, v * 1.05, 5), new Stat(v / s, v / s, v / s, 5)));
                }
        Path png = BenchCharts.throughputBars(points, dir);
        BufferedImage img = read(png);
        BufferedImage three = read(BenchCharts.throughputBars(throughput(), dir.resolve("three")));
        assertTrue(img.getHeight() > 2 * three.getHeight() * 0.8, img.getHeight() + " vs " + three.getHeight());
        assertDrawn(img, BenchCharts.placementColor("diff"));
        sample(png, "grid");
    }

    @Test
    void latencyCurves(@TempDir Path dir) throws IOException {
        List<Path> pngs = BenchCharts.latencyCurves(latency(), dir);
        assertEquals(List.of(dir.resolve("latency-64B.png"), dir.resolve("latency-4KiB.png"), dir.resolve("latency-64KiB.png")), pngs);
        for (Path png : pngs) {
            BufferedImage img = read(png);
            assertEquals(1200, img.getWidth());
            assertEquals(700, img.getHeight());
            assertDrawn(img, BenchCharts.rowColor(ROWS.getFirst()), BenchCharts.rowColor("fable-shm-spin"));
            sample(png);
        }
    }

    @Test
    void heatmaps(@TempDir Path dir) throws IOException {
        Path small = BenchCharts.heatmap("fable-shm-spin", List.of(new GridCell(0, 0, 9000), new GridCell(0, 1, 220),
                new GridCell(1, 0, 480), new GridCell(1, 1, 8800)), dir);
        Path big = BenchCharts.heatmap("fable-shm-adaptive", grid16(), dir);
        assertEquals(dir.resolve("grid-fable-shm-spin.png"), small);
        assertEquals(dir.resolve("grid-fable-shm-adaptive.png"), big);
        for (Path png : List.of(small, big)) {
            BufferedImage img = read(png);
            assertTrue(img.getWidth() >= 800 && img.getHeight() >= 700, img.getWidth() + "x" + img.getHeight());
            assertDrawn(img, BenchCharts.heatColor(0), BenchCharts.heatColor(1));   // the fastest and slowest cells
            sample(png);
        }
        Path huge = BenchCharts.heatmap("cpu/64", wideGrid(64), dir);   // no in-cell labels, thinned ticks
        assertEquals(dir.resolve("grid-cpu_64.png"), huge);
        assertDrawn(read(huge), BenchCharts.heatColor(0), BenchCharts.heatColor(1));
        sample(huge);
    }

    @Test
    void valuesALogAxisCannotShowAreDrawnAsNa(@TempDir Path dir) throws IOException {
        List<TputPoint> tput = List.of(new TputPoint("pipe", "diff", 64, new Stat(0, 0, 0, 3), new Stat(0, 0, 0, 3)),
                new TputPoint("pipe", "same", 64, new Stat(-1, Double.NaN, Double.POSITIVE_INFINITY, 3), new Stat(0, 0, 0, 3)));
        Path bars = BenchCharts.throughputBars(tput, dir);
        assertDrawn(read(bars));
        List<LatCurve> lat = List.of(new LatCurve("pipe", "diff", 64, new double[] {50, 99, 100}, new double[] {0, Double.NaN, -5}),
                new LatCurve("x", "same", 64, new double[] {99.99}, new double[] {Double.POSITIVE_INFINITY}));
        Path curves = BenchCharts.latencyCurves(lat, dir).getFirst();
        assertDrawn(read(curves));
        Path grid = BenchCharts.heatmap("pipe", List.of(new GridCell(0, 1, 0), new GridCell(1, 0, Double.NaN)), dir);
        assertDrawn(read(grid));
        // some n/a among good values, and p100 drawn as "max"
        List<LatCurve> mixed = List.of(new LatCurve("fable-unix", "diff", 1 << 20, new double[] {50, 99, 99.99, 100}, new double[] {4000, 0, 90000, 2e6}),
                new LatCurve("fable-tcp", "same", 1 << 20, new double[] {50, 90, 99, 100}, new double[] {9000, 12000, Double.NaN, 4e6}));
        Path mixedPng = BenchCharts.latencyCurves(mixed, dir).getFirst();
        assertEquals(dir.resolve("latency-1MiB.png"), mixedPng);
        assertDrawn(read(mixedPng), BenchCharts.rowColor("fable-unix"));
        for (Path p : List.of(bars, curves, grid, mixedPng)) sample(p, "na");
        // one good value among them still gets its colour
        Path one = BenchCharts.heatmap("one", List.of(new GridCell(2, 2, 300), new GridCell(2, 5, -1)), dir);
        assertDrawn(read(one), BenchCharts.heatColor(0.5));
    }

    @Test
    void inputThatLeavesNothingToDrawIsRejected(@TempDir Path dir) {
        Stat ok = new Stat(1e9, 1e9, 1e9, 3);
        assertThrows(IllegalArgumentException.class, () -> BenchCharts.throughputBars(List.of(), dir));
        assertThrows(IllegalArgumentException.class, () -> BenchCharts.throughputBars(null, dir));
        assertThrows(IllegalArgumentException.class, () -> BenchCharts.throughputBars(List.of(
                new TputPoint("pipe", "diff", 64, ok, ok), new TputPoint("pipe", "diff", 64, ok, ok)), dir));
        assertThrows(IllegalArgumentException.class, () -> BenchCharts.throughputBars(List.of(new TputPoint("pipe", "diff", 0, ok, ok)), dir));
        assertThrows(IllegalArgumentException.class, () -> BenchCharts.throughputBars(List.of(new TputPoint(" ", "diff", 64, ok, ok)), dir));

        assertThrows(IllegalArgumentException.class, () -> BenchCharts.latencyCurves(List.of(), dir));
        assertThrows(IllegalArgumentException.class, () -> BenchCharts.latencyCurves(List.of(
                new LatCurve("pipe", "diff", 64, new double[] {50, 99}, new double[] {1000})), dir));
        assertThrows(IllegalArgumentException.class, () -> BenchCharts.latencyCurves(List.of(
                new LatCurve("pipe", "diff", 64, new double[] {}, new double[] {})), dir));
        assertThrows(IllegalArgumentException.class, () -> BenchCharts.latencyCurves(List.of(
                new LatCurve("pipe", "diff", 64, new double[] {101}, new double[] {1000})), dir));
        assertThrows(IllegalArgumentException.class, () -> BenchCharts.latencyCurves(List.of(
                new LatCurve("pipe", "diff", 64, new double[] {Double.NaN}, new double[] {1000})), dir));

        assertThrows(IllegalArgumentException.class, () -> BenchCharts.heatmap("pipe", List.of(), dir));
        assertThrows(IllegalArgumentException.class, () -> BenchCharts.heatmap("", List.of(new GridCell(0, 0, 1)), dir));
        assertThrows(IllegalArgumentException.class, () -> BenchCharts.heatmap("pipe", List.of(new GridCell(-1, 0, 1)), dir));
        assertThrows(IllegalArgumentException.class, () -> BenchCharts.heatmap("pipe",
                List.of(new GridCell(0, 1, 1), new GridCell(0, 1, 2)), dir));
    }

    @Test
    void formats() {
        assertEquals("220 ns", ChartFormat.nanos(220));
        assertEquals("5.2 µs", ChartFormat.nanos(5200));
        assertEquals("8.0 ms", ChartFormat.nanos(8e6));
        assertEquals("1.0 µs", ChartFormat.nanos(999.7));
        assertEquals("n/a", ChartFormat.nanos(0));
        assertEquals("28.7 GB/s", ChartFormat.bytesPerSec(28.7e9));
        assertEquals("540 MB/s", ChartFormat.bytesPerSec(540e6));
        assertEquals("1 GB/s", ChartFormat.bytesPerSecTick(1e9));
        assertEquals("2.5 µs", ChartFormat.nanosTick(2500));
        assertEquals("64 B", ChartFormat.size(64));
        assertEquals("4 KiB", ChartFormat.size(4096));
        assertEquals("2 MiB", ChartFormat.size(2 << 20));
        assertEquals("1500 B", ChartFormat.size(1500));
        assertEquals("64KiB", ChartFormat.sizeSlug(65536));
        assertEquals(BenchCharts.rowColor("my-new-row"), BenchCharts.rowColor("my-new-row"));
    }

    static List<GridCell> wideGrid(int n) {
        List<GridCell> out = new ArrayList<>();
        for (int a = 0; a < n; a++)
            for (int b = 0; b < n; b++) out.add(new GridCell(a, b, a == b ? 9000 : 140 + 3 * Math.abs(a - b) + (a / 32 != b / 32 ? 400 : 0)));
        return out;
    }

    static BufferedImage read(Path png) throws IOException {
        assertTrue(Files.size(png) > 0, png + " is empty");
        BufferedImage img = ImageIO.read(png.toFile());
        assertTrue(img != null, png + " is no image");
        return img;
    }

    /** Not blank: many distinct colours (antialiased text and lines), and each of {@code expected} somewhere. */
    static void assertDrawn(BufferedImage img, Color... expected) {
        Set<Integer> colors = new HashSet<>();
        for (int y = 0; y < img.getHeight(); y++)
            for (int x = 0; x < img.getWidth(); x++) colors.add(img.getRGB(x, y) & 0xffffff);
        assertTrue(colors.size() >= 10, "only " + colors.size() + " colours");
        for (Color c : expected) assertTrue(colors.contains(c.getRGB() & 0xffffff), "no pixel of " + Integer.toHexString(c.getRGB() & 0xffffff));
    }

    static void sample(Path png) throws IOException {
        sample(png, "");
    }

    static void sample(Path png, String sub) throws IOException {
        String dir = System.getProperty("fable.charts.sampleDir");
        if (dir == null) return;
        Path to = Path.of(dir).resolve(sub);
        Files.createDirectories(to);
        Files.copy(png, to.resolve(png.getFileName()), java.nio.file.StandardCopyOption.REPLACE_EXISTING);
    }
}
