package dev.fable.bench;

import org.knowm.xchart.AnnotationText;
import org.knowm.xchart.CategoryChart;
import org.knowm.xchart.CategorySeries;
import org.knowm.xchart.CategorySeries.CategorySeriesRenderStyle;
import org.knowm.xchart.style.CategoryStyler;
import org.knowm.xchart.style.Styler.LegendPosition;
import org.knowm.xchart.style.markers.SeriesMarkers;

import java.awt.BasicStroke;
import java.awt.Color;
import java.awt.Font;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.TreeSet;

/**
 * {@code fanout.png}: aggregate delivered throughput against the number of consumers, one panel per
 * message size, one line per family (median of the rounds; "failed"/"n/a" at the axis' foot where a
 * family has no figure), on one log scale for all panels, in the style of {@link BenchCharts}.
 */
final class FanoutChart {
    static {
        if (System.getProperty("java.awt.headless") == null) System.setProperty("java.awt.headless", "true");
    }

    private FanoutChart() {}

    /** One family's aggregate bytes/s with N consumers at one size ({@code n == 0}: no successful round). */
    record Point(String family, int consumers, int size, Stat bytesPerSec) {}

    private static final Color INK = new Color(0x222222), MUTED = new Color(0x777777), GRID = new Color(0xe4e4e4);

    static Color color(String family) {
        return switch (family) {
            case FanoutBench.FANOUT -> new Color(0xd62728);
            case FanoutBench.AERON -> new Color(0x393b79);
            case FanoutBench.ONE_TO_ONE -> new Color(0xff7f0e);
            default -> new Color(0x7f7f7f);
        };
    }

    static Path throughputVsConsumers(List<Point> points, int producerCpu, List<Integer> consumerCpus, Path dir) {
        if (points.isEmpty()) throw new IllegalArgumentException("no fan-out points to chart");
        TreeSet<Integer> sizes = new TreeSet<>(), ns = new TreeSet<>();
        List<String> families = new ArrayList<>();
        double lo = Double.POSITIVE_INFINITY, hi = 0;
        for (Point p : points) {
            sizes.add(p.size());
            ns.add(p.consumers());
            if (!families.contains(p.family())) families.add(p.family());
            if (valid(p)) {
                lo = Math.min(lo, p.bytesPerSec().median());
                hi = Math.max(hi, p.bytesPerSec().median());
            }
        }
        if (hi == 0) {
            lo = 1e8;
            hi = 1e10;
        }
        double bottom = Math.floor(Math.log10(lo)), top = Math.log10(hi);
        top = Math.max(bottom + 1, top + Math.max(0.35, (top - bottom) * 0.2));
        List<String> xs = ns.stream().map(String::valueOf).toList();
        int cols = Math.min(3, sizes.size());
        List<CategoryChart> panels = new ArrayList<>();
        for (int size : sizes) {
            CategoryChart c = new CategoryChart(Math.max(460, 1200 / cols), 520);
            CategoryStyler st = c.getStyler();
            st.setDefaultSeriesRenderStyle(CategorySeriesRenderStyle.Line);
            st.setOverlapped(true);   // every family's point at its N, not side by side as bars
            st.setChartBackgroundColor(Color.WHITE).setPlotBackgroundColor(Color.WHITE).setPlotBorderVisible(false)
                    .setChartFontColor(INK).setChartTitleFont(BenchCharts.font(Font.BOLD, 15)).setChartTitleBoxVisible(false)
                    .setLegendFont(BenchCharts.font(Font.PLAIN, 13)).setLegendBorderColor(Color.WHITE).setLegendBackgroundColor(Color.WHITE)
                    .setToolTipsEnabled(false).setAntiAlias(true).setChartPadding(10);
            st.setPlotGridLinesColor(GRID).setPlotGridLinesStroke(new BasicStroke(1f)).setPlotGridVerticalLinesVisible(false)
                    .setAxisTickLabelsFont(BenchCharts.font(Font.PLAIN, 12)).setAxisTickLabelsColor(INK).setAxisTickMarksColor(INK)
                    .setAxisTitleFont(BenchCharts.font(Font.PLAIN, 13)).setAnnotationTextFont(BenchCharts.font(Font.PLAIN, 11)).setAnnotationTextFontColor(MUTED);
            st.setYAxisMin(bottom).setYAxisMax(top).setMarkerSize(9).setLegendPosition(LegendPosition.InsideNW);
            st.setyAxisTickLabelsFormattingFunction(log -> ChartFormat.bytesPerSecTick(Math.pow(10, log)));
            if (top - bottom >= 2.5) st.setYAxisTickMarkSpacingHint((int) Math.round(420 / (top - bottom)));
            st.setYAxisTitleVisible(panels.size() % cols == 0);
            c.setTitle(ChartFormat.size(size));
            c.setXAxisTitle("consumers (N)");
            c.setYAxisTitle("delivered bytes/s, all consumers (log)");
            int naRow = 0;
            for (String f : families) {
                List<Double> y = new ArrayList<>();
                for (int n : ns) {
                    Point p = points.stream().filter(q -> q.family().equals(f) && q.size() == size && q.consumers() == n).findFirst().orElse(null);
                    if (p != null && valid(p)) {
                        y.add(Math.log10(p.bytesPerSec().median()));
                    } else {
                        y.add(null);
                        c.addAnnotation(new AnnotationText((p != null && p.bytesPerSec().n() == 0 ? "failed " : "n/a ") + f, xs.indexOf(Integer.toString(n)) + 0.5,
                                bottom + (top - bottom) * (0.03 + 0.04 * naRow++), false));
                    }
                }
                CategorySeries series = c.addSeries(f, xs, y);
                series.setLineColor(color(f));
                series.setMarkerColor(color(f));
                series.setMarker(SeriesMarkers.CIRCLE);
                series.setLineStyle(new BasicStroke(2.2f, BasicStroke.CAP_ROUND, BasicStroke.JOIN_ROUND));
            }
            panels.add(c);
        }
        String placement = "producer on CPU " + producerCpu + ", consumers on " + (consumerCpus.stream().distinct().count() == 1
                ? "CPU " + consumerCpus.getFirst() + " (all share it)" : "CPUs " + consumerCpus.stream().distinct().toList());
        return BenchCharts.write(dir, "fanout.png", "fable bench --fanout: aggregate delivered throughput, one producer to N consumer processes",
                "median of the rounds, one log scale; fable-fanout's figure counts delivered messages only (it drops for full queues, "
                        + "the others wait); " + placement, panels, cols);
    }

    private static boolean valid(Point p) {
        double m = p.bytesPerSec().median();
        return p.bytesPerSec().n() > 0 && m > 0 && m < Double.POSITIVE_INFINITY;
    }
}
