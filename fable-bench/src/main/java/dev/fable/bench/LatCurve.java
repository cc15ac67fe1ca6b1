package dev.fable.bench;

/** Ping-pong RTT percentiles (ns) of one row at one size and placement: medians over repeats, same order as the percentiles. */
public record LatCurve(String row, String placement, int size, double[] percentiles, double[] nanos) {}
