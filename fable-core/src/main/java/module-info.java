/**
 * Fable core: reconfigurable, zero-copy I/O channels. Layers, bottom to top (each package imports
 * only packages below it; {@code LayerRulesTest} in fable-tests checks it):
 *
 * <ol>
 *   <li>{@code dev.fable.internal}: libc downcalls, small helpers.</li>
 *   <li>{@code dev.fable}: the API types: {@link dev.fable.Connection}, {@link dev.fable.Buffer},
 *       {@link dev.fable.Endpoint}, options, events, states, exceptions (interfaces and values only),
 *       and {@link dev.fable.Fable}, the entry point, which alone sits on top of everything.</li>
 *   <li>{@code dev.fable.io}: the API's byte-stream views ({@link java.io.InputStream}, {@link java.io.OutputStream},
 *       {@link java.nio.channels.ByteChannel}) over a connection, and {@code FableSocket}; on the API alone.</li>
 *   <li>{@code dev.fable.sync}: tripwires (futex, spin-then-park, asymmetric fences).</li>
 *   <li>{@code dev.fable.buffer}: the buffer implementation, leak detection, message assembly.</li>
 *   <li>{@code dev.fable.transport}: legs of one transport each, behind {@code Leg}; {@code .shm},
 *       {@code .stream} (unix, tcp), {@code .tls}.</li>
 *   <li>{@code dev.fable.flow}: the live connection over a chain of legs, and its switch.</li>
 *   <li>{@code dev.fable.naming.protocol} and {@code dev.fable.naming}: the name daemon's wire protocol and client.</li>
 *   <li>{@code dev.fable.endpoint}: endpoints, the transport registry, the flow table, pollers.</li>
 * </ol>
 * The daemon is the separate module {@code dev.fable.daemon} (artifact {@code fable-daemon}).
 * Needs {@code --enable-native-access=dev.fable} (or ALL-UNNAMED on the class path).
 */
module dev.fable {
    requires jdk.net;
    exports dev.fable;
    exports dev.fable.io;
    exports dev.fable.naming;
    exports dev.fable.naming.protocol;
    // below: not API; for Fable's own modules only
    exports dev.fable.sync to dev.fable.daemon, dev.fable.cli, dev.fable.bench;
    exports dev.fable.internal to dev.fable.daemon, dev.fable.cli, dev.fable.bench;
    exports dev.fable.transport.tls to dev.fable.daemon, dev.fable.bench, dev.fable.tls.boringssl;
    // a faster TLS engine, when the optional fable-tls-native module is on the path (TlsEngineFactory)
    uses dev.fable.transport.tls.TlsEngineFactory;
    exports dev.fable.transport.shm to dev.fable.daemon, dev.fable.bench, dev.fable.jmh;
    exports dev.fable.buffer to dev.fable.jmh;
}
