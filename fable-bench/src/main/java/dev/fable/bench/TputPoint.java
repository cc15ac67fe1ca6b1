package dev.fable.bench;

/** One-way throughput of one row at one size and placement. */
public record TputPoint(String row, String placement, int size, Stat bytesPerSec, Stat msgsPerSec) {}
