package dev.fable.bench;

import javax.imageio.ImageIO;
import java.awt.BasicStroke;
import java.awt.Color;
import java.awt.Font;
import java.awt.FontMetrics;
import java.awt.Graphics2D;
import java.awt.RenderingHints;
import java.awt.Stroke;
import java.awt.geom.Ellipse2D;
import java.awt.geom.Line2D;
import java.awt.geom.Path2D;
import java.awt.geom.Rectangle2D;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.math.BigDecimal;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.function.DoubleFunction;

/**
 * PNG charts of {@code fable bench} results, drawn with Java2D into images (no window, so it runs headless):
 * throughput bars per message size, RTT percentile curves per size, and CPU × CPU heatmaps of p50 RTT.
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

    private static final Color INK = new Color(0x222222);
    private static final Color MUTED = new Color(0x777777);
    private static final Color GRID = new Color(0xe4e4e4);
    private static final Color MISSING = new Color(0xeeeeee);

    // ---------------------------------------------------------------------------------------------- throughput

    /**
     * Writes {@code dir/throughput.png}: one panel per message size, a group of bars per row (one per placement)
     * at the median bytes/s with a min–max whisker, on a log axis shared by all panels; the best bar of each
     * panel is starred and its row label bold. A row missing at a size/placement shows "n/a", one without a
     * successful repeat "failed".
     */
    public static Path throughputBars(List<TputPoint> points, Path dir) {
        requireNonEmpty(points, "throughput points");
        Map<String, TputPoint> byKey = new HashMap<>();
        LinkedHashSet<String> rows = new LinkedHashSet<>();
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
            rows.add(p.row());
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
        List<String> placements = placementOrder(seenPlacements);

        int cols = Math.min(3, sizes.size()), gridRows = (sizes.size() + cols - 1) / cols;
        int left = 36, panelW = Math.max(460, (1000 - left) / cols), plotOffset = 74, plotW = panelW - plotOffset - 12;
        int header = 104, panelTitleH = 30, plotH = 380;
        Font label = font(Font.PLAIN, 12), bold = font(Font.BOLD, 12);
        int longest = 0;
        for (String r : rows) longest = Math.max(longest, width(bold, r));
        int labelsH = (int) Math.ceil(longest * Math.sin(Math.PI / 4)) + 44;
        int cellH = panelTitleH + plotH + labelsH;
        BufferedImage img = new BufferedImage(left + cols * panelW + 8, header + gridRows * cellH + 10, BufferedImage.TYPE_INT_RGB);
        Graphics2D g = canvas(img);

        String runs = repeats.isEmpty() ? "" : repeats.first().equals(repeats.last()) ? repeats.first() + " runs" : repeats.first() + "–" + repeats.last() + " runs";
        g.setFont(font(Font.BOLD, 18));
        g.setColor(INK);
        g.drawString("fable bench: one-way throughput by transport and message size", left, 30);
        g.setFont(font(Font.PLAIN, 13));
        g.drawString("bar = median of " + (runs.isEmpty() ? "the runs" : runs) + ", whiskers = min–max; one log scale for all panels,"
                + " one panel per message size", left, 52);
        drawBarLegend(g, placements, left, 82);

        // shared axis: bars start at the decade below the smallest value; room above the largest for the star
        if (hi == 0) {
            lo = 1e6;
            hi = 1e10;
        }
        double base = Math.pow(10, Math.floor(Math.log10(lo)));
        double decades = Math.log10(hi / base);
        double top = hi * Math.pow(10, decades * 34.0 / (plotH - 34));
        if (top / base < 10) top = base * 10;

        int i = 0;
        for (int size : sizes) {
            int px = left + (i % cols) * panelW + plotOffset, py = header + (i / cols) * cellH + panelTitleH;
            LogScale y = new LogScale(base, top, py + plotH, py);
            g.setFont(font(Font.BOLD, 15));
            g.setColor(INK);
            drawCentered(g, ChartFormat.size(size), px + plotW / 2.0, py - 10);
            drawYAxis(g, y, px, plotW, ChartFormat::bytesPerSecTick);
            if (i % cols == 0) drawRotated(g, font(Font.PLAIN, 13), "throughput, bytes/s (log)", left - 22, py + plotH / 2.0);

            double groupW = (double) plotW / rows.size();
            double barW = Math.min(14, groupW * 0.8 / placements.size());
            TputPoint best = null;
            double bestX = 0;
            List<double[]> tops = new ArrayList<>();   // {x, highest pixel} of every bar, to put the star label above them
            int r = 0;
            for (String row : rows) {
                double gx = px + groupW * (r + 0.5);
                for (int k = 0; k < placements.size(); k++) {
                    double bx = gx + (k - placements.size() / 2.0) * barW;
                    TputPoint p = byKey.get(key(row, placements.get(k), size));
                    if (p == null || !valid(p)) {
                        drawNa(g, p != null && p.bytesPerSec().n() == 0 ? "failed" : "n/a", bx + barW / 2, py + plotH - 4);
                        continue;
                    }
                    Stat s = p.bytesPerSec();
                    double yTop = y.at(s.median());
                    g.setColor(placementColor(placements.get(k)));
                    g.fill(new Rectangle2D.Double(bx + 0.5, yTop, barW - 1, py + plotH - yTop));
                    drawWhisker(g, y, bx + barW / 2, barW * 0.5, s);
                    tops.add(new double[] {bx + barW / 2, positive(s.max()) ? Math.min(yTop, y.at(Math.min(s.max(), y.hi()))) : yTop});
                    if (best == null || s.median() > best.bytesPerSec().median()) {
                        best = p;
                        bestX = bx + barW / 2;
                    }
                }
                r++;
            }
            g.setColor(INK);
            g.setStroke(new BasicStroke(1.2f));
            g.draw(new Line2D.Double(px, py + plotH, px + plotW, py + plotH));
            r = 0;
            for (String row : rows) {
                boolean isBest = best != null && best.row().equals(row);
                double gx = px + groupW * (r++ + 0.5);
                g.draw(new Line2D.Double(gx, py + plotH, gx, py + plotH + 4));
                g.setColor(isBest ? Color.BLACK : INK);
                drawSlanted(g, isBest ? bold : label, row, gx, py + plotH + 8);
            }
            if (best != null) {
                String v = ChartFormat.bytesPerSec(best.bytesPerSec().median());
                g.setFont(font(Font.BOLD, 12));
                int w = width(g.getFont(), v) + 16;
                double tx = Math.max(px + 2, Math.min(px + plotW - w - 2, bestX - w / 2.0));
                double baseline = py + plotH;
                for (double[] t : tops) if (t[0] > tx - barW && t[0] < tx + w + barW) baseline = Math.min(baseline, t[1] - 6);
                baseline = Math.max(py + 16, baseline);
                drawStar(g, tx + 6, baseline - 5, 6);
                g.setColor(INK);
                g.drawString(v, (float) (tx + 15), (float) baseline);
            }
            if (i % cols == cols - 1 || i == sizes.size() - 1) {
                g.setFont(font(Font.PLAIN, 13));
                g.setColor(INK);
                int rowLeft = left + plotOffset, rowRight = left + (i % cols) * panelW + plotOffset + plotW;
                drawCentered(g, "transport", (rowLeft + rowRight) / 2.0, py + plotH + labelsH - 8);
            }
            i++;
        }
        g.dispose();
        return write(img, dir, "throughput.png");
    }

    private static boolean valid(TputPoint p) {
        return p.bytesPerSec().n() > 0 && positive(p.bytesPerSec().median());
    }

    private static void drawBarLegend(Graphics2D g, List<String> placements, int x, int y) {
        g.setFont(font(Font.PLAIN, 13));
        for (String p : placements) {
            g.setColor(placementColor(p));
            g.fillRect(x, y - 11, 14, 14);
            g.setColor(INK);
            g.drawString(placementLabel(p), x + 20, y);
            x += 20 + width(g.getFont(), placementLabel(p)) + 26;
        }
        g.setStroke(new BasicStroke(1.2f));
        g.draw(new Line2D.Double(x + 7, y - 12, x + 7, y + 3));
        g.draw(new Line2D.Double(x + 3, y - 12, x + 11, y - 12));
        g.draw(new Line2D.Double(x + 3, y + 3, x + 11, y + 3));
        g.drawString("min–max of the runs", x + 20, y);
        x += 20 + width(g.getFont(), "min–max of the runs") + 26;
        drawStar(g, x + 7, y - 4, 7);
        g.setColor(INK);
        g.drawString("fastest of the panel", x + 20, y);
        x += 20 + width(g.getFont(), "fastest of the panel") + 26;
        g.setColor(MUTED);
        g.drawString("n/a = no value, failed = no successful run", x, y);
    }

    private static void drawWhisker(Graphics2D g, LogScale y, double x, double cap, Stat s) {
        if (!positive(s.min()) || !positive(s.max()) || s.max() < s.min()) return;
        double a = y.at(Math.max(s.min(), y.lo())), b = y.at(Math.min(s.max(), y.hi()));
        g.setColor(INK);
        g.setStroke(new BasicStroke(1.2f));
        g.draw(new Line2D.Double(x, a, x, b));
        g.draw(new Line2D.Double(x - cap / 2, a, x + cap / 2, a));
        g.draw(new Line2D.Double(x - cap / 2, b, x + cap / 2, b));
    }

    private static void drawNa(Graphics2D g, String text, double x, double bottom) {
        Graphics2D t = (Graphics2D) g.create();
        t.setFont(font(Font.PLAIN, 10));
        t.setColor(MUTED);
        t.translate(x, bottom);
        t.rotate(-Math.PI / 2);
        t.drawString(text, 0f, t.getFontMetrics().getAscent() / 2f - 1);
        t.dispose();
    }

    /** Text at 45°, ending just below-left of (x, y) so that it hangs under its tick. */
    private static void drawSlanted(Graphics2D g, Font f, String text, double x, double y) {
        Graphics2D t = (Graphics2D) g.create();
        t.setFont(f);
        t.translate(x, y);
        t.rotate(-Math.PI / 4);
        FontMetrics fm = t.getFontMetrics();
        t.drawString(text, -fm.stringWidth(text) - 2f, fm.getAscent() / 2f);
        t.dispose();
    }

    private static void drawStar(Graphics2D g, double cx, double cy, double r) {
        Path2D star = new Path2D.Double();
        for (int k = 0; k < 10; k++) {
            double a = -Math.PI / 2 + k * Math.PI / 5, rr = k % 2 == 0 ? r : r * 0.42;
            if (k == 0) star.moveTo(cx + rr * Math.cos(a), cy + rr * Math.sin(a));
            else star.lineTo(cx + rr * Math.cos(a), cy + rr * Math.sin(a));
        }
        star.closePath();
        g.setColor(new Color(0xe6a700));
        g.fill(star);
        g.setColor(new Color(0x8a6400));
        g.setStroke(new BasicStroke(0.8f));
        g.draw(star);
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
     * Writes one {@code dir/latency-<size>.png} per message size (e.g. latency-64B.png): RTT against percentile
     * on a "nines" axis (p50, p90, p99, p99.9, ...; p100 is drawn as "max" one step right of the rest), log RTT,
     * one line per row in the row's colour, solid for different cores and dashed for the same core.
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
        TreeSet<Double> percentiles = new TreeSet<>();
        double lo = Double.POSITIVE_INFINITY, hi = 0, maxNines = 0;
        for (LatCurve c : curves) {
            rows.add(c.row());
            seenPlacements.add(c.placement());
            for (int k = 0; k < c.nanos().length; k++) {
                percentiles.add(c.percentiles()[k]);
                if (c.percentiles()[k] < 100) maxNines = Math.max(maxNines, nines(c.percentiles()[k], 0));
                if (positive(c.nanos()[k])) {
                    lo = Math.min(lo, c.nanos()[k]);
                    hi = Math.max(hi, c.nanos()[k]);
                }
            }
        }
        double maxPos = Math.floor(maxNines + 0.5) + 1;   // where "max" (p100) goes: at least half a nine beyond the rest
        List<String> placements = placementOrder(seenPlacements);
        if (hi == 0) {
            lo = 100;
            hi = 1e6;
        }
        lo = Math.pow(10, Math.floor(Math.log10(lo)));
        hi = Math.pow(10, Math.ceil(Math.log10(hi)));
        if (hi <= lo) hi = lo * 10;

        Font legendFont = font(Font.PLAIN, 13);
        int legendW = 60;
        for (String r : rows) legendW = Math.max(legendW, width(legendFont, r));
        for (String p : placements) legendW = Math.max(legendW, width(legendFont, placementLabel(p)));
        legendW += 46;
        int legendH = 24 + 20 * rows.size() + 16 + 24 + 20 * placements.size();
        int left = 96, top = 84, bottom = 66, w = 1200, h = Math.max(700, top + legendH + 20);
        int plotW = w - left - legendW - 40, plotH = h - top - bottom;
        BufferedImage img = new BufferedImage(w, h, BufferedImage.TYPE_INT_RGB);
        Graphics2D g = canvas(img);

        g.setColor(INK);
        g.setFont(font(Font.BOLD, 18));
        g.drawString("ping-pong RTT, " + ChartFormat.size(size), left, 30);
        g.setFont(font(Font.PLAIN, 13));
        g.drawString("round-trip time at each percentile, median over the runs; solid = different cores, dashed = same core", left, 52);

        double x0 = percentiles.first() >= 100 ? maxPos : nines(percentiles.first(), maxPos);
        double x1 = nines(percentiles.last(), maxPos);
        double pad = x1 > x0 ? (x1 - x0) * 0.06 : 0.5;
        double ax0 = x0 - pad, ax1 = x1 + pad;
        DoubleFunction<Double> xAt = pos -> left + (pos - ax0) / (ax1 - ax0) * plotW;
        LogScale y = new LogScale(lo, hi, top + plotH, top);

        drawYAxis(g, y, left, plotW, ChartFormat::nanosTick);
        drawRotated(g, font(Font.PLAIN, 13), "round-trip time (log)", 20, top + plotH / 2.0);
        // x axis: a tick and grid line per percentile present, labels skipped where they would overlap
        g.setFont(font(Font.PLAIN, 12));
        double lastRight = Double.NEGATIVE_INFINITY;
        for (double p : percentiles) {
            double x = xAt.apply(nines(p, maxPos));
            g.setColor(GRID);
            g.setStroke(new BasicStroke(1f));
            g.draw(new Line2D.Double(x, top, x, top + plotH));
            g.setColor(INK);
            g.draw(new Line2D.Double(x, top + plotH, x, top + plotH + 5));
            String t = percentileLabel(p);
            int tw = width(g.getFont(), t);
            if (x - tw / 2.0 > lastRight + 6) {
                drawCentered(g, t, x, top + plotH + 20);
                lastRight = x + tw / 2.0;
            }
        }
        g.setColor(INK);
        g.setStroke(new BasicStroke(1.2f));
        g.draw(new Line2D.Double(left, top + plotH, left + plotW, top + plotH));
        g.setFont(font(Font.PLAIN, 13));
        drawCentered(g, "percentile (nines scale: p90, p99, p99.9 evenly spaced)", left + plotW / 2.0, top + plotH + 48);

        Map<Double, Integer> naAt = new HashMap<>();
        for (String placement : placements) {
            for (String row : rows) {
                LatCurve c = curves.stream().filter(k -> k.row().equals(row) && k.placement().equals(placement)).findFirst().orElse(null);
                if (c == null) continue;
                Integer[] order = new Integer[c.nanos().length];
                for (int k = 0; k < order.length; k++) order[k] = k;
                Arrays.sort(order, (a, b) -> Double.compare(c.percentiles()[a], c.percentiles()[b]));
                Color color = rowColor(row);
                boolean dashed = dashed(placement);
                Path2D line = new Path2D.Double();
                boolean pen = false;
                List<double[]> marks = new ArrayList<>();
                for (int k : order) {
                    double p = c.percentiles()[k], v = c.nanos()[k], x = xAt.apply(nines(p, maxPos));
                    if (!positive(v)) {
                        pen = false;
                        int stack = naAt.merge(p, 1, Integer::sum);
                        g.setFont(font(Font.BOLD, 10));
                        g.setColor(color);
                        drawCentered(g, "n/a", x, top + plotH - 6 - 12 * (stack - 1));
                        continue;
                    }
                    double yy = y.at(v);
                    if (pen) line.lineTo(x, yy);
                    else line.moveTo(x, yy);
                    pen = true;
                    marks.add(new double[] {x, yy});
                }
                g.setColor(color);
                g.setStroke(lineStroke(dashed));
                g.draw(line);
                for (double[] m : marks) drawMarker(g, color, m[0], m[1], dashed);
            }
        }

        // legend, right of the plot
        int lx = left + plotW + 30, ly = top + 4;
        g.setFont(font(Font.BOLD, 13));
        g.setColor(INK);
        g.drawString("transport", lx, ly + 10);
        g.setFont(legendFont);
        ly += 30;
        for (String row : rows) {
            g.setColor(rowColor(row));
            g.setStroke(lineStroke(false));
            g.draw(new Line2D.Double(lx, ly - 4, lx + 28, ly - 4));
            g.setColor(INK);
            g.drawString(row, lx + 36, ly + 1);
            ly += 20;
        }
        ly += 16;
        g.setFont(font(Font.BOLD, 13));
        g.drawString("placement", lx, ly);
        g.setFont(legendFont);
        ly += 20;
        for (String p : placements) {
            boolean dashed = dashed(p);
            g.setColor(INK);
            g.setStroke(lineStroke(dashed));
            g.draw(new Line2D.Double(lx, ly - 4, lx + 28, ly - 4));
            drawMarker(g, INK, lx + 14, ly - 4, dashed);
            g.setColor(INK);
            g.drawString(placementLabel(p), lx + 36, ly + 1);
            ly += 20;
        }
        g.dispose();
        return write(img, dir, "latency-" + ChartFormat.sizeSlug(size) + ".png");
    }

    /** The "nines" position of a percentile: p90 → 1, p99 → 2, p99.9 → 3; p100 (the maximum) at {@code maxPos}. */
    private static double nines(double p, double maxPos) {
        return p >= 100 ? maxPos : -Math.log10(1 - p / 100);
    }

    private static String percentileLabel(double p) {
        return p >= 100 ? "max" : "p" + BigDecimal.valueOf(p).stripTrailingZeros().toPlainString();
    }

    /** Solid for different cores, dashed for the same core (and any other placement). */
    private static boolean dashed(String placement) {
        return !placement.equals("diff");
    }

    private static Stroke lineStroke(boolean dashed) {
        return dashed ? new BasicStroke(2f, BasicStroke.CAP_BUTT, BasicStroke.JOIN_ROUND, 10f, new float[] {7f, 5f}, 0f)
                : new BasicStroke(2f, BasicStroke.CAP_ROUND, BasicStroke.JOIN_ROUND);
    }

    private static void drawMarker(Graphics2D g, Color c, double x, double y, boolean hollow) {
        Ellipse2D dot = new Ellipse2D.Double(x - 3.5, y - 3.5, 7, 7);
        g.setColor(hollow ? Color.WHITE : c);
        g.fill(dot);
        g.setColor(c);
        g.setStroke(new BasicStroke(1.5f));
        g.draw(dot);
    }

    /** A row's line colour, the same in every chart: the default rows have fixed colours, others one from a hash of the name. */
    static Color rowColor(String row) {
        int i = KNOWN_ROWS.indexOf(row);
        int spare = PALETTE.length - KNOWN_ROWS.size();
        return new Color(PALETTE[i >= 0 ? i : KNOWN_ROWS.size() + Math.floorMod(row.hashCode(), spare)]);
    }

    // ---------------------------------------------------------------------------------------------- heatmap

    /**
     * Writes {@code dir/grid-<row>.png} (characters other than letters, digits, '.', '_' and '-' in the row
     * become '_'): the CPU × CPU matrix of p50 RTT, pinger CPU down, echo CPU across, coloured on a log
     * scale (viridis, dark = fast) with a legend bar, each cell labelled while the cells are large enough.
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
        } else if (hi <= lo) {   // one value: put it mid-ramp
            lo /= Math.sqrt(10);
            hi *= Math.sqrt(10);
        }
        LogScale t = new LogScale(lo, hi, 0, 1);

        int cell = Math.max(8, 640 / n), plot = cell * n, left = 104, top = 86, right = 170, bottom = 72;
        BufferedImage img = new BufferedImage(Math.max(left + plot + right, 820), top + plot + bottom, BufferedImage.TYPE_INT_RGB);
        Graphics2D g = canvas(img);
        g.setColor(INK);
        g.setFont(font(Font.BOLD, 18));
        g.drawString("p50 ping-pong RTT between CPU pairs: " + row, left, 30);
        g.setFont(font(Font.PLAIN, 13));
        g.drawString("colour on a log scale, dark = fast; the diagonal has both processes on one core", left, 52);

        // in-cell labels at the largest font (≤ 15 pt) that fits every label, none below 8 pt
        Font cellFont = null;
        for (float size = 15; size >= 8 && cellFont == null; size -= 0.5f) {
            Font f = font(Font.PLAIN, size);
            int widest = 0;
            for (int a = 0; a < n; a++)
                for (int b = 0; b < n; b++) widest = Math.max(widest, width(f, ChartFormat.nanos(v[a][b])));
            if (widest <= cell - 6 && size * 1.3 <= cell - 4) cellFont = f;
        }
        for (int a = 0; a < n; a++) {
            for (int b = 0; b < n; b++) {
                int x = left + b * cell, yy = top + a * cell;
                boolean ok = seen[a][b] && positive(v[a][b]);
                Color c = ok ? heatColor(t.at(v[a][b])) : MISSING;
                g.setColor(c);
                g.fillRect(x, yy, cell - (cell >= 12 ? 1 : 0), cell - (cell >= 12 ? 1 : 0));
                if (cellFont != null) {
                    g.setFont(cellFont);
                    g.setColor(!ok ? MUTED : luminance(c) < 0.5 ? Color.WHITE : Color.BLACK);
                    drawCentered(g, ok ? ChartFormat.nanos(v[a][b]) : "n/a", x + cell / 2.0, yy + cell / 2.0 + cellFont.getSize2D() * 0.36);
                }
            }
        }

        // CPU ticks: every k-th, k chosen so the labels do not touch
        g.setFont(font(Font.PLAIN, 12));
        g.setColor(INK);
        int widestCpu = width(g.getFont(), Integer.toString(cpus.getLast()));
        int k = 1;
        while (k * cell < Math.max(18, widestCpu + 8)) k = k == 1 ? 2 : k == 2 ? 4 : k == 4 ? 8 : k * 2;
        for (int i = 0; i < n; i += k) {
            String s = Integer.toString(cpus.get(i));
            double mid = i * cell + cell / 2.0;
            drawCentered(g, s, left + mid, top + plot + 18);
            g.drawString(s, left - 8 - width(g.getFont(), s), (float) (top + mid + 4));
        }
        g.setFont(font(Font.PLAIN, 13));
        drawCentered(g, "CPU of the echo", left + plot / 2.0, top + plot + 48);
        drawRotated(g, g.getFont(), "CPU of the pinger", left - 58, top + plot / 2.0);

        // legend bar
        int bx = left + plot + 28, bh = Math.min(plot, 420), by = top + (plot - bh) / 2, bw = 18;
        for (int yy = 0; yy < bh; yy++) {
            g.setColor(heatColor(1 - yy / (double) (bh - 1)));
            g.fillRect(bx, by + yy, bw, 1);
        }
        g.setColor(INK);
        g.setStroke(new BasicStroke(1f));
        g.drawRect(bx, by, bw, bh);
        g.setFont(font(Font.BOLD, 12));
        g.drawString("p50 RTT (log)", bx - 4, by - 12);
        g.setFont(font(Font.PLAIN, 12));
        List<double[]> marks = new ArrayList<>();   // {y, value}
        marks.add(new double[] {by + bh, lo});
        marks.add(new double[] {by, hi});
        for (double d = Math.pow(10, Math.ceil(Math.log10(lo))); d < hi; d *= 10) {
            double yy = by + bh - t.at(d) * bh;
            if (yy < by + bh - 16 && yy > by + 16) marks.add(new double[] {yy, d});
        }
        for (double[] m : marks) {
            g.draw(new Line2D.Double(bx + bw, m[0], bx + bw + 5, m[0]));
            g.drawString(ChartFormat.nanos(m[1]), bx + bw + 9, (float) m[0] + 4);
        }
        g.dispose();
        return write(img, dir, "grid-" + row.replaceAll("[^A-Za-z0-9._-]", "_") + ".png");
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

    /** Maps {@code lo..hi} logarithmically onto {@code p0..p1} (pixels, or 0..1). */
    private record LogScale(double lo, double hi, double p0, double p1) {
        double at(double v) {
            return p0 + Math.log10(v / lo) / Math.log10(hi / lo) * (p1 - p0);
        }

        /** Decades, and 2× and 5× between them when the axis spans less than about 2.5 decades. */
        List<Double> ticks() {
            List<Double> out = new ArrayList<>();
            boolean fine = Math.log10(hi / lo) < 2.5;
            for (double d = Math.pow(10, Math.floor(Math.log10(lo))); d <= hi; d *= 10)
                for (int m : fine ? new int[] {1, 2, 5} : new int[] {1}) {
                    double v = d * m;
                    if (v >= lo * (1 - 1e-9) && v <= hi * (1 + 1e-9)) out.add(v);
                }
            return out;
        }
    }

    /** Grid lines, tick marks and labels of a vertical log axis at the left of a plot. */
    private static void drawYAxis(Graphics2D g, LogScale y, double x, double plotW, DoubleFunction<String> label) {
        g.setFont(font(Font.PLAIN, 12));
        for (double d = Math.pow(10, Math.floor(Math.log10(y.lo()))); d <= y.hi(); d *= 10)
            for (int m = 2; m <= 9; m++)   // unlabelled minor ticks show the axis is logarithmic
                if (d * m > y.lo() && d * m < y.hi()) {
                    g.setColor(MUTED);
                    g.draw(new Line2D.Double(x - 3, y.at(d * m), x, y.at(d * m)));
                }
        for (double v : y.ticks()) {
            double yy = y.at(v);
            g.setColor(GRID);
            g.setStroke(new BasicStroke(1f));
            g.draw(new Line2D.Double(x + 1, yy, x + plotW, yy));
            g.setColor(INK);
            g.draw(new Line2D.Double(x - 6, yy, x, yy));
            String s = label.apply(v);
            g.drawString(s, (float) (x - 9 - width(g.getFont(), s)), (float) yy + 4);
        }
        g.setColor(INK);
        g.setStroke(new BasicStroke(1.2f));
        g.draw(new Line2D.Double(x, y.p0(), x, y.p1()));
    }

    private static void drawCentered(Graphics2D g, String s, double cx, double baseline) {
        g.drawString(s, (float) (cx - width(g.getFont(), s) / 2.0), (float) baseline);
    }

    /** Text rotated to read bottom-up, centred on (x, cy). */
    private static void drawRotated(Graphics2D g, Font f, String s, double x, double cy) {
        Graphics2D t = (Graphics2D) g.create();
        t.setFont(f);
        t.setColor(INK);
        t.translate(x, cy);
        t.rotate(-Math.PI / 2);
        t.drawString(s, -width(f, s) / 2f, 0f);
        t.dispose();
    }

    private static Font font(int style, float size) {
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

    private static Graphics2D canvas(BufferedImage img) {
        Graphics2D g = img.createGraphics();
        g.setRenderingHint(RenderingHints.KEY_ANTIALIASING, RenderingHints.VALUE_ANTIALIAS_ON);
        g.setRenderingHint(RenderingHints.KEY_TEXT_ANTIALIASING, RenderingHints.VALUE_TEXT_ANTIALIAS_ON);
        g.setRenderingHint(RenderingHints.KEY_FRACTIONALMETRICS, RenderingHints.VALUE_FRACTIONALMETRICS_ON);
        g.setRenderingHint(RenderingHints.KEY_STROKE_CONTROL, RenderingHints.VALUE_STROKE_PURE);
        g.setColor(Color.WHITE);
        g.fillRect(0, 0, img.getWidth(), img.getHeight());
        return g;
    }

    private static Path write(BufferedImage img, Path dir, String name) {
        Path file = dir.resolve(name);
        try {
            Files.createDirectories(dir);
            if (!ImageIO.write(img, "png", file.toFile())) throw new IllegalStateException("no PNG writer");
        } catch (IOException e) {
            throw new UncheckedIOException("writing " + file, e);
        }
        return file;
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
