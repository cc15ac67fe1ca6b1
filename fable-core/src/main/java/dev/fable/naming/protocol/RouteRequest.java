package dev.fable.naming.protocol;

/** What the connecting side asks for: its trust in the peer and an optional forced transport (from {@code xio+<t>://}). */
public record RouteRequest(boolean trusted, String forcedTransport) {}
