/**
 * The endpoint implementation, one {@link dev.fable.endpoint.FableRuntime} per set-up
 * ({@code Fable.Context}): endpoints and their sessions ({@code LocalEndpoint}), the transports of the
 * set-up by name ({@code TransportRegistry}), its live connections as the daemon's flow table sees them
 * ({@code FlowTable}), plain TCP listeners ({@code ExternalTcpListener}) and pollers
 * ({@code EventPoller} and its watchers). Only {@code dev.fable.Fable} uses this package.
 */
package dev.fable.endpoint;
