package dev.fable;

import java.util.List;

/**
 * The names of Fable's transports, the one list every layer checks against: URIs
 * ({@code xio+<name>://}), {@link Connection#reconfigure}, the daemon's policy and {@code fable reconfigure}.
 */
public final class TransportName {
    private TransportName() {}

    /** Shared memory: zero-copy, same host, same user. */
    public static final String SHM = "shm";
    /** Unix-domain socket: same host. */
    public static final String UNIX = "unix";
    /** Plain TCP: any host, trusted networks only. */
    public static final String TCP = "tcp";
    /** TLS over TCP, both hosts' certificates verified. */
    public static final String TLS = "tls";

    /** Every transport a Fable connection can run over, in the order Fable documents them. */
    public static final List<String> ALL = List.of(SHM, UNIX, TCP, TLS);

    /**
     * True for one of {@link #ALL}.
     *
     * @param name a transport name
     * @return whether {@code name} is one of {@link #ALL} (case-sensitive)
     */
    public static boolean isKnown(String name) {
        return ALL.contains(name);
    }

    /**
     * Returns {@code name} if it is one of {@link #ALL}.
     *
     * @param name  the transport name to check
     * @param where where the name came from, for the exception's message
     * @return {@code name}
     * @throws IllegalArgumentException naming {@code where} the name came from and the names allowed
     */
    public static String check(String name, String where) {
        if (!isKnown(name)) throw new IllegalArgumentException("unknown transport '" + name + "' in " + where + "; use one of " + String.join(", ", ALL));
        return name;
    }
}
