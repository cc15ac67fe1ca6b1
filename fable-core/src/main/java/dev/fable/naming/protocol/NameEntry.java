package dev.fable.naming.protocol;

/**
 * One row of {@code fable names}.
 *
 * @param name       the registered name
 * @param pid        the process that holds it
 * @param hostId     the id of the host whose daemon holds it
 * @param unixPath   the endpoint's Unix socket, or null while it does not listen
 * @param tcpAddress the endpoint's TCP address as {@code host:port}, or null while it listens on no TCP port
 */
public record NameEntry(String name, long pid, String hostId, String unixPath, String tcpAddress) {}
