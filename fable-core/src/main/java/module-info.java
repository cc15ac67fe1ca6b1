/**
 * Fable core: reconfigurable, zero-copy I/O channels.
 *
 * <ul>
 *   <li>{@code dev.fable}: the API (Fable, Endpoint, Connection, Buffer, Poller).</li>
 *   <li>{@code dev.fable.naming}: how endpoints find each other: the name daemon's client, its protocol
 *       ({@code .protocol}) and the daemon itself ({@code .daemon}).</li>
 *   <li>{@code dev.fable.transport}: the transport SPI, listeners and control channels; {@code .shm}: shared
 *       memory; {@code .stream}: unix and tcp sockets; {@code .tls}: TLS over tcp.</li>
 *   <li>{@code dev.fable.flow}: buffers, ownership, leak detection, and the live connection that switches transports (LiveConnection).</li>
 *   <li>{@code dev.fable.sync}: tripwires (futex, spin-then-park, asymmetric fences).</li>
 * </ul>
 * Needs {@code --enable-native-access=dev.fable} (or ALL-UNNAMED on the class path).
 */
module dev.fable {
    requires jdk.net;
    exports dev.fable;
    exports dev.fable.sync;
    exports dev.fable.naming;
}
