package dev.fable.transport;

/**
 * Whom a connecting transport expects at the other end, as the naming layer resolved it.
 *
 * @param name            the peer's endpoint name (its handshake must name it)
 * @param certFingerprint the SHA-256 of the peer host's TLS certificate, hex (tls only; null otherwise)
 */
public record PeerRef(String name, String certFingerprint) {}
