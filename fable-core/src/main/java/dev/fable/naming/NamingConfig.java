package dev.fable.naming;

import java.nio.file.Path;
import java.util.Locale;

/**
 * The naming layer's settings: each is a system property, else the environment variable of the same
 * name upper-cased with dots as underscores ({@code fable.daemon.peers} → {@code FABLE_DAEMON_PEERS}),
 * else the default. Documented in {@code docs/naming.md}.
 */
public final class NamingConfig {
    private NamingConfig() {}

    /** The property, else its environment variable, else null. */
    public static String get(String key) {
        String v = System.getProperty(key);
        if (v == null || v.isBlank()) v = System.getenv(key.toUpperCase(Locale.ROOT).replace('.', '_'));
        return v == null || v.isBlank() ? null : v.trim();
    }

    public static String get(String key, String dflt) {
        String v = get(key);
        return v == null ? dflt : v;
    }

    public static long getLong(String key, long dflt) {
        String v = get(key);
        if (v == null) return dflt;
        try {
            return Long.parseLong(v);
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException(key + "=" + v + " is not a number");
        }
    }

    /** {@code fable.runtime.dir}, else {@code FABLE_RUNTIME_DIR}, else {@link UdsRendezvous#defaultDirectory()}. */
    public static Path runtimeDir() {
        String v = get("fable.runtime.dir");
        return v != null ? Path.of(v) : UdsRendezvous.defaultDirectory();
    }

    /** The daemon's Unix socket: {@code <runtime dir>/fabled.sock}. */
    public static Path daemonSocket(Path runtimeDir) {
        return runtimeDir.resolve("fabled.sock");
    }

    /** {@code fable.daemon.autostart} (default true; "false" or "0" turns it off). */
    public static boolean autostart() {
        String v = get("fable.daemon.autostart", "true");
        return !(v.equalsIgnoreCase("false") || v.equals("0") || v.equalsIgnoreCase("no") || v.equalsIgnoreCase("off"));
    }
}
