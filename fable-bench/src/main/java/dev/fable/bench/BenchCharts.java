package dev.fable.bench;

import org.knowm.xchart.AnnotationText;
import org.knowm.xchart.CategoryChart;
import org.knowm.xchart.CategorySeries;
import org.knowm.xchart.CategorySeries.CategorySeriesRenderStyle;
import org.knowm.xchart.HeatMapChart;
import org.knowm.xchart.internal.chartpart.Annotation;
import org.knowm.xchart.internal.chartpart.Chart;
import org.knowm.xchart.style.AxesChartStyler;
import org.knowm.xchart.style.Styler.ChartTheme;
import org.knowm.xchart.style.Styler.LegendLayout;
import org.knowm.xchart.style.Styler.LegendPosition;
import org.knowm.xchart.style.markers.Marker;
import org.knowm.xchart.style.markers.SeriesMarkers;

import javax.imageio.ImageIO;
import java.awt.BasicStroke;
import java.awt.Color;
import java.awt.Font;
import java.awt.FontMetrics;
import java.awt.Graphics2D;
import java.awt.RenderingHints;
import java.awt.geom.Ellipse2D;
import java.awt.geom.Rectangle2D;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.math.BigDecimal;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.function.DoubleFunction;

/**
 * PNG charts of {@code fable bench} results, drawn by XChart into images (no window, so it runs headless):
 * throughput bars per message size, RTT percentile curves per size, and CPU × CPU heatmaps of p50 RTT.
 * Each file is a title and a subtitle above one or more XChart charts.
 * <p>
 * The log axes plot log10 of the values on a linear axis whose tick labels are the values again ("1 GB/s",
 * "10 µs"): XChart's own log axis labels its ticks with a decimal pattern only.
 * <p>
 * A value that cannot sit on a log axis (zero, negative, NaN, infinite) is drawn as "n/a" (a throughput point
 * with no successful repeat, {@code n == 0}, as "failed"); input that leaves nothing to draw or is ambiguous
 * (an empty list, duplicate points, percentile and value arrays of different lengths, a percentile outside
 * 0..100, a size or CPU below 0) throws {@link IllegalArgumentException}.
 */
public final class BenchCharts {
    static {
        if (System.getProperty("java.awt.headless") == null) System.setProperty("java.awt.headless", "true");
    }

    private BenchCharts() {}

    /** The default rows, in the order that fixes their colours; other rows get a colour from a hash of their name. */
    static final List<String> KNOWN_ROWS = List.of("pipe", "nio-unix", "nio-tcp", "nio-tcp-nodelay",
            "fable-shm-spin", "fable-shm-spin-untrusted", "fable-shm-adaptive", "fable-shm-block",
            "fable-unix", "fable-tcp", "fable-tls", "fable-auto", "aeron-ipc");
    private static final int[] PALETTE = {0x7f7f7f, 0x8c564b, 0xbcbd22, 0x17becf, 0xd62728, 0xe377c2, 0xff7f0e,
            0x9467bd, 0x1f77b4, 0x2ca02c, 0x105e2a, 0x000000, 0x393b79,
            0x637939, 0x8c6d31, 0x843c39, 0x7b4173, 0x3182bd, 0xe6550d, 0x31a354};
    private static final int[] PLACEMENT_COLORS = {0x4c72b0, 0xdd8452, 0x55a868, 0xc44e52, 0x8172b3};
    /** Viridis, sampled at 0, 1/4, 1/2, 3/4, 1. */
    private static final int[] RAMP = {0x440154, 0x3b528b, 0x21918c, 0x5ec962, 0xfde725};
    /** Colour classes of the heatmap: odd, so that a value halfway up the log scale gets {@code heatColor(0.5)}. */
    private static final int HEAT_CLASSES = 9;

    private static final Color INK = new Color(0x222222);
    private static final Color MUTED = new Color(0x777777);
    private static final Color GRID = new Color(0xe4e4e4);
    private static final Color MISSING = new Color(0xeeeeee);
    /** Height of the title and subtitle above the charts of a file. */
    private static final int HEADER = 64;

    // ---------------------------------------------------------------------------------------------- throughput

    /**
     * Writes {@code dir/throughput.png}: one bar chart per message size, a group of bars per row (one per
     * placement) at the median bytes/s with a whisker of the runs' spread (the larger deviation from the median,
     * both ways: XChart's error bars are symmetric), on a log axis shared by all panels; each panel's title names
     * its fastest row. A row missing at a size/placement shows "n/a", one without a successful repeat "failed".
     */
    public static Path throughputBars(List<TputPoint> points, Path dir) {
        requireNonEmpty(points, "throughput points");
        Map<String, TputPoint> byKey = new HashMap<>();
        LinkedHashSet<String> rowSet = new LinkedHashSet<>();
        LinkedHashSet<String> seenPlacements = new LinkedHashSet<>();
        TreeSet<Integer> sizes = new TreeSet<>();
        TreeSet<Integer> repeats = new TreeSet<>();
        double lo = Double.POSITIVE_INFINITY, hi = 0;
        for (TputPoint p : points) {
            Objects.requireNonNull(p, "null throughput point");
            checkKey(p.row(), p.placement(), p.size());
            Objects.requireNonNull(p.bytesPerSec(), () -> "no bytesPerSec in " + p);
            if (byKey.putIfAbsent(key(p.row(), p.placement(), p.size()), p) != null)
                throw new IllegalArgumentException("duplicate throughput point: " + p.row() + " " + p.placement() + " " + p.size());
            rowSet.add(p.row());
            seenPlacements.add(p.placement());
            sizes.add(p.size());
            Stat s = p.bytesPerSec();
            if (valid(p)) {
                repeats.add(s.n());
                for (double v : new double[] {s.median(), s.min(), s.max()}) {
                    if (positive(v)) {
                        lo = Math.min(lo, v);
                        hi = Math.max(hi, v);
                    }
                }
            }
        }
        List<String> rows = List.copyOf(rowSet);
        List<String> placements = placementOrder(seenPlacements);

        // shared axis, in decades: bars start at the decade below the smallest value; room above the largest for the legend
        if (hi == 0) {
            lo = 1e6;
            hi = 1e10;
        }
        double bottom = Math.floor(Math.log10(lo)), top = Math.log10(hi);
        top = Math.max(bottom + 1, top + Math.max(0.35, (top - bottom) * 0.15));

        int cols = Math.min(3, sizes.size());
        int longest = 0;
        for (String r : rows) longest = Math.max(longest, width(font(Font.PLAIN, 12), r));
        int panelW = Math.max(460, 1000 / cols), panelH = 470 + (int) Math.ceil(longest * Math.sin(Math.PI / 4));
        List<CategoryChart> panels = new ArrayList<>();
        for (int size : sizes) {
            CategoryChart c = new CategoryChart(panelW, panelH);
            AxesChartStyler st = style(c.getStyler());
            c.getStyler().setDefaultSeriesRenderStyle(CategorySeriesRenderStyle.Bar).setAvailableSpaceFill(BAR_FILL);
            st.setYAxisMin(bottom).setYAxisMax(top);
            logAxis(st, ChartFormat::bytesPerSecTick, top - bottom, 380);
            st.setXAxisLabelRotation(45).setPlotGridVerticalLinesVisible(false).setErrorBarsColor(INK);
            st.setLegendPosition(LegendPosition.InsideNW).setLegendLayout(LegendLayout.Horizontal);
            st.setYAxisTitleVisible(panels.size() % cols == 0);
            c.setXAxisTitle("transport");
            c.setYAxisTitle("throughput, bytes/s (log)");

            TputPoint best = null;
            for (int k = 0; k < placements.size(); k++) {
                List<Double> y = new ArrayList<>(), whisker = new ArrayList<>();
                for (int r = 0; r < rows.size(); r++) {
                    TputPoint p = byKey.get(key(rows.get(r), placements.get(k), size));
                    if (p == null || !valid(p)) {
                        // an empty bar at the axis' foot (XChart skips a null, and its error bars would shift past it);
                        // a hair above it, or the values {foot, top} look evenly spaced and XChart ticks only those two
                        y.add(Math.nextUp(bottom));
                        whisker.add(0.0);
                        double x = r + (1 - BAR_FILL) / 2 + (k + 0.5) * BAR_FILL / placements.size();
                        c.addAnnotation(new AnnotationText(p != null && p.bytesPerSec().n() == 0 ? "failed" : "n/a",
                                x, bottom + (top - bottom) * 0.05, false));
                        continue;
                    }
                    Stat s = p.bytesPerSec();
                    y.add(Math.log10(s.median()));
                    whisker.add(positive(s.min()) && positive(s.max()) && s.max() >= s.min()
                            ? Math.max(Math.log10(s.max() / s.median()), Math.log10(s.median() / s.min())) : 0);
                    if (best == null || s.median() > best.bytesPerSec().median()) best = p;
                }
                CategorySeries series = c.addSeries(placementLabel(placements.get(k)), rows, y, whisker);
                series.setFillColor(placementColor(placements.get(k)));
            }
            c.setTitle(ChartFormat.size(size) + (best == null ? ""
                    : "  ★ fastest: " + best.row() + ", " + ChartFormat.bytesPerSec(best.bytesPerSec().median())));
            panels.add(c);
        }
        String runs = repeats.isEmpty() ? "the runs" : repeats.first().equals(repeats.last()) ? repeats.first() + " runs"
                : repeats.first() + "–" + repeats.last() + " runs";
        return write(dir, "throughput.png", "fable bench: one-way throughput by transport and message size",
                "bar = median of " + runs + ", whisker = ± the largest deviation of a run; one log scale for all panels;"
                        + " n/a = no value, failed = no successful run", panels, cols);
    }

    /** The share of a category's width that its bars fill. */
    private static final double BAR_FILL = 0.8;

    private static boolean valid(TputPoint p) {
        return p.bytesPerSec().n() > 0 && positive(p.bytesPerSec().median());
    }

    private static List<String> placementOrder(LinkedHashSet<String> seen) {
        List<String> out = new ArrayList<>();
        for (String p : List.of("diff", "same")) if (seen.contains(p)) out.add(p);
        for (String p : seen) if (!out.contains(p)) out.add(p);
        return out;
    }

    static String placementLabel(String placement) {
        return switch (placement) {
            case "diff" -> "different cores";
            case "same" -> "same core";
            default -> placement;
        };
    }

    /** The bar colour of a placement: fixed for "diff" and "same", from a hash of the name for others. */
    static Color placementColor(String placement) {
        int i = switch (placement) {
            case "diff" -> 0;
            case "same" -> 1;
            default -> 2 + Math.floorMod(placement.hashCode(), PLACEMENT_COLORS.length - 2);
        };
        return new Color(PLACEMENT_COLORS[i]);
    }

    // ---------------------------------------------------------------------------------------------- latency

    /**
     * Writes one {@code dir/latency-<size>.png} per message size (e.g. latency-64B.png): RTT against percentile,
     * one step per percentile (p50, p90, p99, p99.9, ...; p100 is drawn as "max"), log RTT, one line per row in
     * the row's colour, solid with filled dots for different cores and dashed with hollow dots for the same core.
     * Returns the files in ascending size order.
     */
    public static List<Path> latencyCurves(List<LatCurve> curves, Path dir) {
        requireNonEmpty(curves, "latency curves");
        TreeMap<Integer, List<LatCurve>> bySize = new TreeMap<>();
        Map<String, LatCurve> byKey = new HashMap<>();
        for (LatCurve c : curves) {
            Objects.requireNonNull(c, "null latency curve");
            checkKey(c.row(), c.placement(), c.size());
            if (c.percentiles() == null || c.nanos() == null || c.percentiles().length != c.nanos().length || c.nanos().length == 0)
                throw new IllegalArgumentException("latency curve " + c.row() + " " + c.placement() + " " + c.size()
                        + ": needs as many RTTs as percentiles, at least one");
            for (double p : c.percentiles())
                if (!(p >= 0 && p <= 100)) throw new IllegalArgumentException("percentile " + p + " of " + c.row() + " is outside 0..100");
            if (byKey.putIfAbsent(key(c.row(), c.placement(), c.size()), c) != null)
                throw new IllegalArgumentException("duplicate latency curve: " + c.row() + " " + c.placement() + " " + c.size());
            bySize.computeIfAbsent(c.size(), s -> new ArrayList<>()).add(c);
        }
        List<Path> out = new ArrayList<>();
        for (var e : bySize.entrySet()) out.add(latencyChart(e.getKey(), e.getValue(), dir));
        return out;
    }

    private static Path latencyChart(int size, List<LatCurve> curves, Path dir) {
        LinkedHashSet<String> rows = new LinkedHashSet<>(), seenPlacements = new LinkedHashSet<>();
        TreeSet<Double> percentileSet = new TreeSet<>();
        double lo = Double.POSITIVE_INFINITY, hi = 0;
        for (LatCurve c : curves) {
            rows.add(c.row());
            seenPlacements.add(c.placement());
            for (int k = 0; k < c.nanos().length; k++) {
                percentileSet.add(c.percentiles()[k]);
                if (positive(c.nanos()[k])) {
                    lo = Math.min(lo, c.nanos()[k]);
                    hi = Math.max(hi, c.nanos()[k]);
                }
            }
        }
        List<String> placements = placementOrder(seenPlacements);
        if (hi == 0) {
            lo = 100;
            hi = 1e6;
        }
        double bottom = Math.floor(Math.log10(lo)), top = Math.max(bottom + 1, Math.ceil(Math.log10(hi)));
        List<Double> percentiles = List.copyOf(percentileSet);
        List<String> labels = percentiles.stream().map(BenchCharts::percentileLabel).toList();

        int legendRows = rows.size() + placements.size();
        CategoryChart c = new CategoryChart(1200, Math.max(700, HEADER + 80 + 24 * legendRows) - HEADER);
        AxesChartStyler st = style(c.getStyler());
        c.getStyler().setDefaultSeriesRenderStyle(CategorySeriesRenderStyle.Line).setOverlapped(true);
        st.setYAxisMin(bottom).setYAxisMax(top);
        logAxis(st, ChartFormat::nanosTick, top - bottom, c.getHeight() - 80);
        st.setLegendPosition(LegendPosition.OutsideE).setLegendSeriesLineLength(28).setMarkerSize(8);
        c.setXAxisTitle("percentile (evenly spaced: a nines scale for p90, p99, p99.9)");
        c.setYAxisTitle("round-trip time (log)");

        Map<Double, Integer> naAt = new HashMap<>();
        LinkedHashSet<String> inLegend = new LinkedHashSet<>();
        for (String placement : placements) {
            for (String row : rows) {
                LatCurve curve = curves.stream().filter(k -> k.row().equals(row) && k.placement().equals(placement)).findFirst().orElse(null);
                if (curve == null) continue;
                List<Double> y = new ArrayList<>(Collections.nCopies(percentiles.size(), (Double) null));
                for (int k = 0; k < curve.nanos().length; k++) {
                    double p = curve.percentiles()[k], v = curve.nanos()[k];
                    int at = percentiles.indexOf(p);
                    if (positive(v)) {
                        y.set(at, Math.log10(v));
                    } else {   // a gap in the line, and "n/a" at the axis' foot (stacked when several rows lack it)
                        int stack = naAt.merge(p, 1, Integer::sum);
                        c.addAnnotation(new AnnotationText("n/a " + row, at + 0.5, bottom + (top - bottom) * (0.03 + 0.04 * (stack - 1)), false));
                    }
                }
                CategorySeries s = c.addSeries(row + " / " + placement, labels, y);
                lineStyle(s, rowColor(row), dashed(placement));
                s.setLabel(row);
                s.setShowInLegend(inLegend.add(row));   // one legend entry per row, in its colour
            }
        }
        for (String placement : placements) {   // entries for the line styles, with no points
            CategorySeries s = c.addSeries(placementLabel(placement), labels, Collections.nCopies(labels.size(), (Double) null));
            lineStyle(s, INK, dashed(placement));
        }
        return write(dir, "latency-" + ChartFormat.sizeSlug(size) + ".png", "ping-pong RTT, " + ChartFormat.size(size),
                "round-trip time at each percentile, median over the runs; solid = different cores, dashed = same core",
                List.of(c), 1);
    }

    private static String percentileLabel(double p) {
        return p >= 100 ? "max" : "p" + BigDecimal.valueOf(p).stripTrailingZeros().toPlainString();
    }

    /** Solid for different cores, dashed for the same core (and any other placement). */
    private static boolean dashed(String placement) {
        return !placement.equals("diff");
    }

    private static void lineStyle(CategorySeries s, Color color, boolean dashed) {
        s.setLineColor(color);
        s.setMarkerColor(color);
        s.setLineStyle(dashed ? new BasicStroke(2f, BasicStroke.CAP_BUTT, BasicStroke.JOIN_ROUND, 10f, new float[] {7f, 5f}, 0f)
                : new BasicStroke(2f, BasicStroke.CAP_ROUND, BasicStroke.JOIN_ROUND));
        s.setMarker(dashed ? HOLLOW_CIRCLE : SeriesMarkers.CIRCLE);
    }

    /** A circle outlined in the series' colour, white inside: the same-core marker. */
    private static final Marker HOLLOW_CIRCLE = new Marker() {
        @Override
        public void paint(Graphics2D g, double x, double y, int size) {
            Ellipse2D dot = new Ellipse2D.Double(x - size / 2.0, y - size / 2.0, size, size);
            Color c = g.getColor();
            g.setColor(Color.WHITE);
            g.fill(dot);
            g.setColor(c);
            g.setStroke(new BasicStroke(1.5f));
            g.draw(dot);
        }
    };

    /** A row's line colour, the same in every chart: the default rows have fixed colours, others one from a hash of the name. */
    static Color rowColor(String row) {
        int i = KNOWN_ROWS.indexOf(row);
        int spare = PALETTE.length - KNOWN_ROWS.size();
        return new Color(PALETTE[i >= 0 ? i : KNOWN_ROWS.size() + Math.floorMod(row.hashCode(), spare)]);
    }

    // ---------------------------------------------------------------------------------------------- heatmap

    /**
     * Writes {@code dir/grid-<row>.png} (characters other than letters, digits, '.', '_' and '-' in the row
     * become '_'): the CPU × CPU matrix of p50 RTT, pinger CPU down, echo CPU across, coloured in classes of a
     * log scale (viridis, dark = fast) with a legend of the classes' ranges, each cell labelled while the cells
     * are large enough.
     */
    public static Path heatmap(String row, List<GridCell> cells, Path dir) {
        if (row == null || row.isBlank()) throw new IllegalArgumentException("heatmap needs a row name");
        requireNonEmpty(cells, "grid cells");
        TreeSet<Integer> cpuSet = new TreeSet<>();
        for (GridCell c : cells) {
            Objects.requireNonNull(c, "null grid cell");
            if (c.cpuA() < 0 || c.cpuB() < 0) throw new IllegalArgumentException("negative CPU in " + c);
            cpuSet.add(c.cpuA());
            cpuSet.add(c.cpuB());
        }
        List<Integer> cpus = new ArrayList<>(cpuSet);
        int n = cpus.size();
        double[][] v = new double[n][n];
        boolean[][] seen = new boolean[n][n];
        double lo = Double.POSITIVE_INFINITY, hi = 0;
        for (GridCell c : cells) {
            int a = cpus.indexOf(c.cpuA()), b = cpus.indexOf(c.cpuB());
            if (seen[a][b]) throw new IllegalArgumentException("duplicate grid cell: CPU " + c.cpuA() + " × CPU " + c.cpuB());
            seen[a][b] = true;
            v[a][b] = c.p50Nanos();
            if (positive(c.p50Nanos())) {
                lo = Math.min(lo, c.p50Nanos());
                hi = Math.max(hi, c.p50Nanos());
            }
        }
        if (hi == 0) {
            lo = 100;
            hi = 1000;
        } else if (hi <= lo) {   // one value: put it mid-scale
            lo /= Math.sqrt(10);
            hi *= Math.sqrt(10);
        }
        double logLo = Math.log10(lo), logSpan = Math.log10(hi) - logLo;

        // XChart's heat value is the cell's position on the log scale, 0..1 (its cells show values linearly)
        List<Number[]> heat = new ArrayList<>();
        String[][] text = new String[n][n];
        Color[][] fill = new Color[n][n];
        for (int a = 0; a < n; a++) {
            for (int b = 0; b < n; b++) {
                boolean ok = seen[a][b] && positive(v[a][b]);
                text[a][b] = ok ? ChartFormat.nanos(v[a][b]) : "n/a";
                if (!ok) continue;
                double t = Math.clamp(Math.rint((Math.log10(v[a][b]) - logLo) / logSpan * 1e9) / 1e9, 0, 1);
                heat.add(new Number[] {b, n - 1 - a, t});
                fill[a][b] = heatColor(Math.min(HEAT_CLASSES - 1, (int) (t * HEAT_CLASSES)) / (HEAT_CLASSES - 1.0));
            }
        }
        // CPU labels: every k-th, k chosen so that the labels do not touch
        int cell = Math.max(8, 640 / n), widestCpu = width(font(Font.PLAIN, 12), Integer.toString(cpus.getLast()));
        int k = 1;
        while (k * cell < Math.max(18, widestCpu + 8)) k = k == 1 ? 2 : k == 2 ? 4 : k == 4 ? 8 : k * 2;
        List<String> across = new ArrayList<>(), down = new ArrayList<>();
        for (int i = 0; i < n; i++) across.add(i % k == 0 ? Integer.toString(cpus.get(i)) : " ");
        for (int i = n - 1; i >= 0; i--) down.add(i % k == 0 ? Integer.toString(cpus.get(i)) : " ");

        HeatMapChart c = new HeatMapChart(940, 730, ChartTheme.XChart);   // this constructor sets the styler's defaults, (w, h) does not
        var st = c.getStyler();
        style(st);
        Color[] classes = new Color[HEAT_CLASSES];
        for (int i = 0; i < HEAT_CLASSES; i++) classes[i] = heatColor(i / (HEAT_CLASSES - 1.0));
        st.setRangeColors(classes).setPiecewise(true).setSplitNumber(HEAT_CLASSES).setPiecewiseRanged(true).setMin(0).setMax(1);
        st.setHeatMapDecimalValueFormatter(t -> ChartFormat.nanos(Math.pow(10, logLo + t * logSpan)));
        st.setLegendPosition(LegendPosition.OutsideE);
        st.setPlotContentSize(1.0).setPlotBackgroundColor(MISSING);
        st.setPlotGridLinesVisible(false).setAxisTicksMarksVisible(false);
        c.setXAxisTitle("CPU of the echo");
        c.setYAxisTitle("CPU of the pinger");
        if (heat.isEmpty()) heat.add(null);   // no cell to colour; XChart takes no empty heat data but skips a null
        c.addSeries("p50 RTT", across, down, heat);
        c.addAnnotation(new CellLabels(text, fill));
        return write(dir, "grid-" + row.replaceAll("[^A-Za-z0-9._-]", "_") + ".png", "p50 ping-pong RTT between CPU pairs: " + row,
                "colour in classes of a log scale (legend: their ranges), dark = fast; the diagonal has both processes on one core",
                List.of(c), 1);
    }

    /**
     * The value of each heatmap cell, written in it at the largest font (≤ 15 pt) that fits every label, none when
     * that is below 8 pt: XChart's own cell labels would print the plotted number, a position on the log scale.
     */
    private static final class CellLabels extends Annotation {
        private final String[][] text;
        private final Color[][] fill;   // null: no value (the plot's background shows)

        CellLabels(String[][] text, Color[][] fill) {
            super(true);
            this.text = text;
            this.fill = fill;
        }

        @Override
        public void paint(Graphics2D g) {
            double x0 = getXAxisScreenValueForMin(), y0 = getYAxisScreenValueForMin();
            int n = text.length;
            double cw = (getXAxisScreenValueForMax() - x0) / n, ch = (getYAxisScreenValueForMax() - y0) / n;
            bounds = new Rectangle2D.Double(x0, y0, cw * n, ch * n);
            Font f = null;
            for (float size = 15; size >= 8 && f == null; size -= 0.5f) {
                Font t = font(Font.PLAIN, size);
                int widest = 0;
                for (String[] r : text) for (String s : r) widest = Math.max(widest, width(t, s));
                if (widest <= cw - 6 && size * 1.3 <= ch - 4) f = t;
            }
            if (f == null) return;
            g.setFont(f);
            g.setRenderingHint(RenderingHints.KEY_TEXT_ANTIALIASING, RenderingHints.VALUE_TEXT_ANTIALIAS_ON);
            FontMetrics fm = g.getFontMetrics();
            for (int a = 0; a < n; a++) {
                for (int b = 0; b < n; b++) {
                    g.setColor(fill[a][b] == null ? MUTED : luminance(fill[a][b]) < 0.5 ? Color.WHITE : Color.BLACK);
                    g.drawString(text[a][b], (float) (x0 + cw * (b + 0.5) - fm.stringWidth(text[a][b]) / 2.0),
                            (float) (y0 + ch * (a + 0.5) + f.getSize2D() * 0.36));
                }
            }
        }
    }

    /** The heatmap colour at {@code t} in 0..1 (clamped), interpolated between the viridis stops. */
    static Color heatColor(double t) {
        double x = Math.max(0, Math.min(1, t)) * (RAMP.length - 1);
        int i = Math.min(RAMP.length - 2, (int) x);
        double f = x - i;
        int a = RAMP[i], b = RAMP[i + 1];
        return new Color(mix(a >> 16, b >> 16, f), mix(a >> 8, b >> 8, f), mix(a, b, f));
    }

    private static int mix(int a, int b, double f) {
        return (int) Math.round((a & 0xff) + ((b & 0xff) - (a & 0xff)) * f);
    }

    private static double luminance(Color c) {
        return (0.2126 * c.getRed() + 0.7152 * c.getGreen() + 0.0722 * c.getBlue()) / 255;
    }

    // ---------------------------------------------------------------------------------------------- shared

    /** The look of every chart: white, light horizontal grid lines, no border, the fonts of the header. */
    private static AxesChartStyler style(AxesChartStyler s) {
        s.setChartBackgroundColor(Color.WHITE).setPlotBackgroundColor(Color.WHITE).setPlotBorderVisible(false)
                .setChartFontColor(INK).setChartTitleFont(font(Font.BOLD, 15)).setChartTitleBoxVisible(false)
                .setLegendFont(font(Font.PLAIN, 13)).setLegendBorderColor(Color.WHITE).setLegendBackgroundColor(Color.WHITE)
                .setToolTipsEnabled(false).setAntiAlias(true).setChartPadding(10);
        s.setPlotGridLinesColor(GRID).setPlotGridLinesStroke(new BasicStroke(1f)).setPlotGridVerticalLinesVisible(false)
                .setAxisTickLabelsFont(font(Font.PLAIN, 12)).setAxisTickLabelsColor(INK).setAxisTickMarksColor(INK)
                .setAxisTitleFont(font(Font.PLAIN, 13)).setAnnotationTextFont(font(Font.PLAIN, 11)).setAnnotationTextFontColor(MUTED);
        return s;
    }

    /**
     * A y axis of log10 values labelled with the values themselves, e.g. "10 µs"; a tick per decade when it spans
     * 2.5 decades or more ({@code plotPx}: about the height of the plot), else XChart's finer steps.
     */
    private static void logAxis(AxesChartStyler s, DoubleFunction<String> label, double decades, int plotPx) {
        s.setyAxisTickLabelsFormattingFunction(log -> label.apply(Math.pow(10, log)));
        // XChart steps by 1, 2 or 5 × 10^k; the step is one decade when spacingHint × decades / plot height is about 1
        if (decades >= 2.5) s.setYAxisTickMarkSpacingHint((int) Math.round(plotPx / decades));
    }

    /** The charts, {@code cols} to a row, under a title and a subtitle, as one PNG (also the fan-out bench's). */
    static Path write(Path dir, String name, String title, String subtitle, List<? extends Chart<?, ?>> charts, int cols) {
        int w = charts.getFirst().getWidth(), h = charts.getFirst().getHeight(), rows = (charts.size() + cols - 1) / cols;
        BufferedImage img = new BufferedImage(cols * w, HEADER + rows * h, BufferedImage.TYPE_INT_RGB);
        Graphics2D g = img.createGraphics();
        g.setColor(Color.WHITE);
        g.fillRect(0, 0, img.getWidth(), img.getHeight());
        g.setRenderingHint(RenderingHints.KEY_TEXT_ANTIALIASING, RenderingHints.VALUE_TEXT_ANTIALIAS_ON);
        g.setColor(INK);
        g.setFont(font(Font.BOLD, 18));
        g.drawString(title, 24, 30);
        g.setFont(font(Font.PLAIN, 13));
        g.drawString(subtitle, 24, 52);
        for (int i = 0; i < charts.size(); i++) {
            Graphics2D p = (Graphics2D) g.create((i % cols) * w, HEADER + (i / cols) * h, w, h);
            charts.get(i).paint(p, w, h);
            p.dispose();
        }
        g.dispose();
        Path file = dir.resolve(name);
        try {
            Files.createDirectories(dir);
            if (!ImageIO.write(img, "png", file.toFile())) throw new IllegalStateException("no PNG writer");
        } catch (IOException e) {
            throw new UncheckedIOException("writing " + file, e);
        }
        return file;
    }

    static Font font(int style, float size) {
        return new Font(Font.SANS_SERIF, style, 12).deriveFont(size);
    }

    private static final BufferedImage PROBE = new BufferedImage(1, 1, BufferedImage.TYPE_INT_RGB);

    private static int width(Font f, String s) {
        Graphics2D g = PROBE.createGraphics();
        g.setRenderingHint(RenderingHints.KEY_FRACTIONALMETRICS, RenderingHints.VALUE_FRACTIONALMETRICS_ON);
        try {
            return (int) Math.ceil(f.getStringBounds(s, g.getFontRenderContext()).getWidth());
        } finally {
            g.dispose();
        }
    }

    private static void requireNonEmpty(List<?> list, String what) {
        if (list == null || list.isEmpty()) throw new IllegalArgumentException("no " + what + " to chart");
    }

    private static void checkKey(String row, String placement, int size) {
        if (row == null || row.isBlank()) throw new IllegalArgumentException("a point without a row name");
        if (placement == null || placement.isBlank()) throw new IllegalArgumentException("row " + row + ": no placement");
        if (size <= 0) throw new IllegalArgumentException("row " + row + ": message size " + size + " is not positive");
    }

    private static String key(String row, String placement, int size) {
        return row + '\u0000' + placement + '\u0000' + size;
    }

    private static boolean positive(double v) {
        return v > 0 && v < Double.POSITIVE_INFINITY;
    }
}
