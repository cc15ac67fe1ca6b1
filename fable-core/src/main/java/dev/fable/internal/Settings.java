package dev.fable.internal;

import java.util.Locale;

/**
 * The one place Fable reads its {@code fable.*} settings: each is a system property, else the
 * environment variable of the same name upper-cased with dots as underscores
 * ({@code fable.host.address} → {@code FABLE_HOST_ADDRESS}), else the caller's default. They are
 * defaults only: {@code Fable.Context} and the daemon's configuration take them from here, and a
 * context's own value wins.
 */
public final class Settings {
    private Settings() {}

    /** The property, else its environment variable, else null (blank counts as unset). */
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

    /** {@code true}/{@code 1}/{@code yes}/{@code on} or {@code false}/{@code 0}/{@code no}/{@code off}, any case; else {@code dflt}. */
    public static boolean getBoolean(String key, boolean dflt) {
        String v = get(key);
        if (v == null) return dflt;
        return switch (v.toLowerCase(Locale.ROOT)) {
            case "true", "1", "yes", "on" -> true;
            case "false", "0", "no", "off" -> false;
            default -> throw new IllegalArgumentException(key + "=" + v + " is not a boolean (true/false)");
        };
    }

    /** An environment variable that is not a Fable setting (XDG directories), or null. */
    public static String env(String name) {
        String v = System.getenv(name);
        return v == null || v.isBlank() ? null : v;
    }
}
