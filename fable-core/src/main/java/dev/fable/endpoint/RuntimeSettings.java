package dev.fable.endpoint;

import dev.fable.buffer.LeakDetector;

import java.nio.file.Path;

/**
 * What one {@link FableRuntime} needs beyond its naming client, resolved once from
 * {@code dev.fable.Fable.Context} (whose defaults are the only place system properties and the
 * environment are read for these).
 *
 * @param runtimeDir where its endpoints bind their Unix sockets ({@code <runtimeDir>/ep}); the daemon's socket is there too
 * @param stateDir   where this host's identity (TLS key) is; null: {@code fable.state.dir} or its default
 * @param shmDir     where its shared-memory pools and rings go
 * @param drainNanos how long read buffers of a switched-away transport may be held before they are copied off it
 * @param leakLevel  how much its leak detector does
 * @param peerTimeoutMillis how soon its TCP sockets notice a silent peer (0: the kernel's defaults)
 * @param peerLimits what a peer's handshake may make its legs map or allocate
 */
public record RuntimeSettings(Path runtimeDir, Path stateDir, Path shmDir, long drainNanos, LeakDetector.Level leakLevel,
                              long peerTimeoutMillis, dev.fable.transport.PeerLimits peerLimits) {
    public RuntimeSettings {
        if (peerLimits == null) throw new IllegalArgumentException("peerLimits is required");
        if (runtimeDir == null) throw new IllegalArgumentException("runtimeDir is required");
        if (shmDir == null) throw new IllegalArgumentException("shmDir is required");
        if (leakLevel == null) throw new IllegalArgumentException("leakLevel is required");
        if (drainNanos < 0) throw new IllegalArgumentException("drain timeout must be >= 0, not " + drainNanos + " ns");
        dev.fable.transport.Liveness.ofMillis(peerTimeoutMillis);   // checks the range
    }
}
