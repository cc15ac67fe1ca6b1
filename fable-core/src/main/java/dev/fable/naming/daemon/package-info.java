/**
 * {@code fabled}, the per-host, per-user name daemon: registry, rendezvous with the transport
 * selection policy ({@link dev.fable.naming.daemon.TransportPolicy}), flow table and lookups through
 * peer daemons on other hosts. Run it with {@code fable daemon}; the library starts one when none
 * answers. See {@code docs/naming.md}.
 */
package dev.fable.naming.daemon;
