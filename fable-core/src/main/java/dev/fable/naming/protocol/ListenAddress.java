package dev.fable.naming.protocol;

/**
 * Where a listening endpoint accepts: its Unix socket (same host) and TCP port (other hosts); null/0 when absent.
 *
 * @param unixPath the path of its Unix socket, or null
 * @param tcpHost  the address its TCP port is bound to, or null
 * @param tcpPort  its TCP port, or 0
 */
public record ListenAddress(String unixPath, String tcpHost, int tcpPort) {}
