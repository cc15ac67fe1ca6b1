package dev.fable.naming.protocol;

/** This host: its stable id, the address its TCP listeners bind to and advertise, its TLS certificate's SHA-256. */
public record HostInfo(String hostId, String advertiseHost, String certFingerprint) {}
