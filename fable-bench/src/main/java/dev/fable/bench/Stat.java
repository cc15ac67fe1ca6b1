package dev.fable.bench;

/** A figure over repeats: median and the spread (min, max); n = repeats that produced it. */
public record Stat(double median, double min, double max, int n) {}
