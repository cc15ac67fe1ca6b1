package dev.fable.bench;

/** p50 RTT (ns) between two CPUs (cpuA may equal cpuB). */
public record GridCell(int cpuA, int cpuB, double p50Nanos) {}
