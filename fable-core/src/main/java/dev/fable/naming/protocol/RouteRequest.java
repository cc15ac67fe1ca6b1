package dev.fable.naming.protocol;

/**
 * What the connecting side asks for: its trust in the peer and an optional forced transport (from {@code xio+<t>://}).
 *
 * @param trusted         whether the connecting side trusts the peer ({@link dev.fable.ConnectOptions#isTrusted()})
 * @param forcedTransport the transport the URI forces, or null for the daemon's choice ({@code xio://})
 */
public record RouteRequest(boolean trusted, String forcedTransport) {}
