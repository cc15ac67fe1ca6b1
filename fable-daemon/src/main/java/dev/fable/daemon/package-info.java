/**
 * {@code fabled}, the per-host, per-user name daemon: registry, rendezvous with the transport
 * selection policy ({@link dev.fable.daemon.TransportPolicy}), flow table, lookups through
 * peer daemons on other hosts, and the policies that switch live connections: trust (an operator's
 * {@code fable trust}), migration (an endpoint listens on another host now: {@code PEER_LISTENING})
 * and contention ({@link dev.fable.daemon.ContentionPolicy}: both ends of a spinning shm
 * connection on one CPU). Run it with {@code fable daemon}; the library starts one when none
 * answers. See {@code docs/naming.md} and {@code docs/reconfiguration.md}.
 */
package dev.fable.daemon;
