package dev.fable.naming.protocol;

/** One row of {@code fable names}. */
public record NameEntry(String name, long pid, String hostId, String unixPath, String tcpAddress) {}
