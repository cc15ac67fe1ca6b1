package dev.fable.naming.protocol;

/**
 * This host: its stable id, the address its TCP listeners bind to and advertise, its TLS certificate's SHA-256.
 *
 * @param hostId          the host's stable random id, created with its identity on the daemon's first start
 * @param advertiseHost   the address endpoints' TCP listeners bind to and advertise ({@code fable.host.address})
 * @param certFingerprint SHA-256 of the host certificate's DER encoding, lower-case hex
 */
public record HostInfo(String hostId, String advertiseHost, String certFingerprint) {}
