package dev.fable.endpoint;

import java.nio.file.Path;

/**
 * What one {@link FableRuntime} needs beyond its naming client, resolved once from
 * {@code dev.fable.Fable.Context} (whose defaults are the only place system properties and the
 * environment are read for these).
 *
 * @param runtimeDir where its endpoints bind their Unix sockets ({@code <runtimeDir>/ep}); the daemon's socket is there too
 * @param drainNanos how long read buffers of a switched-away transport may be held before they are copied off it
 */
public record RuntimeSettings(Path runtimeDir, long drainNanos) {
    public RuntimeSettings {
        if (runtimeDir == null) throw new IllegalArgumentException("runtimeDir is required");
        if (drainNanos < 0) throw new IllegalArgumentException("drain timeout must be >= 0, not " + drainNanos + " ns");
    }
}
