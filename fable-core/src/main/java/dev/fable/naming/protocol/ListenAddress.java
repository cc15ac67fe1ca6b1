package dev.fable.naming.protocol;

/** Where a listening endpoint accepts: its Unix socket (same host) and TCP port (other hosts); null/0 when absent. */
public record ListenAddress(String unixPath, String tcpHost, int tcpPort) {}
