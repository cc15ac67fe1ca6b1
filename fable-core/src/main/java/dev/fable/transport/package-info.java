/**
 * Transports, below the live connection that switches between them. A {@link dev.fable.transport.Transport}
 * turns a control channel into a {@link dev.fable.transport.Leg}: one epoch of one connection over one
 * transport, never handed to an application. Also: endpoint listeners, control channels and their
 * monitor, frame helpers. Sub-packages: {@code shm} (shared memory; layout in {@code ShmLayout},
 * accessors named for their ordering), {@code stream} (unix and tcp sockets), {@code tls}.
 */
package dev.fable.transport;
