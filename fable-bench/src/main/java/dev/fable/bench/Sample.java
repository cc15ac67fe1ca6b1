package dev.fable.bench;

import java.util.Map;

/**
 * One measurement: a row in one cell (kind, size, placement) in one repeat, with the machine's
 * state during its round (placement probe, other processes' CPU, the host's steal). {@code values}
 * holds the driver's RESULT fields; {@code error} is set instead when the row failed.
 */
record Sample(String row, String placement, String kind, int size, int rep, int cpuA, int cpuB, double probeBefore, double probeAfter,
              double foreignPct, double stealPct, Map<String, String> values, String error) {
    boolean failed() {
        return error != null;
    }

    /** Other processes used at most 5% of a CPU and the host stole at most 5% during the round. */
    boolean quiet() {
        return !(foreignPct > 5) && !(stealPct > 5);
    }

    String placementLabel() {
        return cpuA == cpuB ? "same" : PlacementProbe.label(probeBefore, probeAfter);
    }

    double value(String key) {
        String v = values.get(key);
        return v == null ? Double.NaN : Double.parseDouble(v);
    }
}
