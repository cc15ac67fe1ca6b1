package dev.fable.bench;

import java.nio.file.Path;
import java.util.List;

/** TEMPORARY stub until the charts branch lands. */
final class BenchCharts {
    static Path throughputBars(List<TputPoint> points, Path dir) {
        return dir.resolve("throughput.png");
    }

    static List<Path> latencyCurves(List<LatCurve> curves, Path dir) {
        return List.of();
    }

    static Path heatmap(String row, List<GridCell> cells, Path dir) {
        return dir.resolve("grid-" + row + ".png");
    }
}
