package dev.fable.naming;

import dev.fable.internal.Libc;
import dev.fable.internal.Settings;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.regex.Pattern;

/**
 * The naming layer's settings: each is a system property, else the environment variable of the same
 * name upper-cased with dots as underscores ({@code fable.host.address} → {@code FABLE_HOST_ADDRESS}),
 * else the default. Documented in {@code docs/naming.md}.
 */
public final class NamingConfig {
    private NamingConfig() {}

    /**
     * The property, else its environment variable, else null. A blank value counts as unset.
     *
     * @param key the setting's name, e.g. {@code fable.host.address}
     * @return the value, trimmed, or {@code null} if neither the property nor the variable is set
     */
    public static String get(String key) {
        return Settings.get(key);
    }

    /**
     * The property, else its environment variable, else {@code dflt}. A blank value counts as unset.
     *
     * @param key  the setting's name
     * @param dflt the value when it is not set
     * @return the value, trimmed, or {@code dflt}
     */
    public static String get(String key, String dflt) {
        return Settings.get(key, dflt);
    }

    /**
     * The property, else its environment variable, as a {@code long}; else {@code dflt}.
     *
     * @param key  the setting's name
     * @param dflt the value when it is not set
     * @return the value, or {@code dflt}
     * @throws IllegalArgumentException if the value set is not a decimal {@code long}
     */
    public static long getLong(String key, long dflt) {
        return Settings.getLong(key, dflt);
    }

    /**
     * {@code fable.runtime.dir}, else {@code FABLE_RUNTIME_DIR}, else {@code $XDG_RUNTIME_DIR/fable},
     * else {@code /tmp/fable-<uid>}: the daemon's socket and the endpoints' sockets live here.
     * {@code $XDG_RUNTIME_DIR} counts only if it is set and is a directory.
     *
     * @return the runtime directory (not created here)
     */
    public static Path runtimeDir() {
        String v = get("fable.runtime.dir");
        if (v != null) return Path.of(v);
        String xdg = Settings.env("XDG_RUNTIME_DIR");
        if (xdg != null && !xdg.isBlank() && Files.isDirectory(Path.of(xdg))) return Path.of(xdg, "fable");
        return Path.of("/tmp", "fable-" + Libc.getuid());
    }

    /**
     * The Unix socket a listening endpoint of this host accepts on: {@code <runtime dir>/ep/<name>.sock}.
     *
     * @param name the endpoint name
     * @return the socket's path under {@link #runtimeDir()}
     * @throws IllegalArgumentException if {@code name} is not a valid endpoint name ({@link #checkName})
     */
    public static Path endpointSocket(String name) {
        return endpointSocket(runtimeDir(), name);
    }

    /**
     * The Unix socket endpoint {@code name} accepts on under {@code runtimeDir}: {@code <runtimeDir>/ep/<name>.sock}, each
     * {@code /} of a hierarchical name as {@code ~} (a character no name has: two names never share a file).
     *
     * @param runtimeDir the runtime directory
     * @param name       the endpoint name
     * @return the socket's path
     * @throws IllegalArgumentException if {@code name} is not a valid endpoint name ({@link #checkName})
     */
    public static Path endpointSocket(Path runtimeDir, String name) {
        return runtimeDir.resolve("ep").resolve(checkName(name).replace('/', '~') + ".sock");
    }

    /** Longest endpoint name, {@code /} included. */
    public static final int MAX_NAME_LENGTH = 64;
    /** Most segments of a hierarchical name ({@code orders.eu/ledger} has two). */
    public static final int MAX_NAME_SEGMENTS = 8;
    private static final String SEGMENT = "[A-Za-z0-9][A-Za-z0-9._-]*";
    private static final Pattern NAME = Pattern.compile(SEGMENT + "(/" + SEGMENT + "){0," + (MAX_NAME_SEGMENTS - 1) + "}");

    /**
     * Checks an endpoint name: 1–64 characters, one or more segments joined by {@code /} ({@code ledger},
     * {@code orders.eu/ledger}; at most {@value #MAX_NAME_SEGMENTS}), each from A-Z a-z 0-9 . _ - starting with a
     * letter or digit (so no empty, {@code .} or {@code ..} segment). Across hosts a hierarchical name is a path in
     * the cluster's tree (docs/cluster.md).
     *
     * @param name the name to check
     * @return {@code name}
     * @throws IllegalArgumentException if {@code name} is null or not such a name
     */
    public static String checkName(String name) {
        if (name == null || name.length() > MAX_NAME_LENGTH || !NAME.matcher(name).matches()) {
            throw new IllegalArgumentException("invalid endpoint name '" + name + "': use 1-" + MAX_NAME_LENGTH
                    + " characters, segments from A-Z a-z 0-9 . _ - each starting with a letter or digit, joined by / (at most "
                    + MAX_NAME_SEGMENTS + ": orders.eu/ledger)");
        }
        return name;
    }

    /**
     * The daemon's Unix socket: {@code <runtime dir>/fabled.sock}.
     *
     * @param runtimeDir the runtime directory
     * @return the daemon's socket path
     */
    public static Path daemonSocket(Path runtimeDir) {
        return runtimeDir.resolve("fabled.sock");
    }

    /**
     * {@code fable.daemon.autostart} (default true; "false" or "0" turns it off).
     *
     * @return {@code false} if the setting is {@code false}, {@code no}, {@code off} (any case) or {@code 0}, else {@code true}
     */
    public static boolean autostart() {
        String v = get("fable.daemon.autostart", "true");
        return !(v.equalsIgnoreCase("false") || v.equals("0") || v.equalsIgnoreCase("no") || v.equalsIgnoreCase("off"));
    }
}
