package dev.fable.daemon.cluster;

import java.io.IOException;
import java.util.function.Consumer;
import java.util.function.UnaryOperator;

/**
 * Where a daemon publishes the names that listen on its host and finds those of other hosts: a coordination
 * service every host's daemon reaches (ZooKeeper, with the optional {@code fable-zookeeper} module). A daemon
 * started with {@code fable.zookeeper} (or {@code fable daemon --zookeeper}) loads a {@link Provider}
 * ({@link ClusterProviders#find}); it is the only way names travel between hosts.
 *
 * <p>Contract for implementations:
 * <ul>
 *   <li>A host holds its names and its host entry; no other host may overwrite or remove them ({@link #publish}
 *       refuses a name another live host holds). Entries vanish when their host's session with the service
 *       ends (a dead host's names are gone within the service's session timeout).</li>
 *   <li>Everything read from the service was written by another host, which this host does not trust: it is
 *       bounds-checked and validated before it becomes an {@link Entry}.</li>
 *   <li>{@link #lookup} may block (it is called on a virtual thread) and fails with an {@link IOException}
 *       naming the service when it cannot be reached; {@link #knownHost} must not block (the daemon's loop
 *       thread asks it).</li>
 *   <li>After the service was unreachable, or the session expired, the implementation publishes again what
 *       it holds, by itself.</li>
 * </ul>
 */
public interface ClusterDirectory extends AutoCloseable {
    /**
     * This host.
     *
     * @param hostId      its id
     * @param address     the address other hosts reach its endpoints at
     * @param fingerprint its certificate's SHA-256, lower-case hex
     */
    record Host(String hostId, String address, String fingerprint) {}

    /**
     * A name that listens on a host.
     *
     * @param name        the endpoint name
     * @param hostId      the host that holds it
     * @param tcpHost     the address its TCP listener is reached at (null: none)
     * @param tcpPort     its TCP port (0: none)
     * @param pid         the endpoint's process on that host
     * @param fingerprint that host's certificate SHA-256
     */
    record Entry(String name, String hostId, String tcpHost, int tcpPort, long pid, String fingerprint) {}

    /**
     * Publishes that {@code e.name()} listens on this host (again, if it moved here).
     *
     * @param e the name and where it listens
     * @throws IOException if the service is unreachable, or another live host holds the name (the message says which)
     */
    void publish(Entry e) throws IOException;

    /**
     * The name no longer listens here: removed if this host holds it. Best effort (the session's end removes it anyway).
     *
     * @param name the endpoint name
     */
    void withdraw(String name);

    /**
     * The entry of {@code name} if another host holds it, null if none does.
     *
     * @param name the endpoint name
     * @return the other host's entry, or null
     * @throws IOException if the service cannot be reached (the message names it and says what to check)
     */
    Entry lookup(String name) throws IOException;

    /**
     * Whether a certificate belongs to a host in the cluster now. Never blocks.
     *
     * @param fingerprint a certificate's SHA-256, lower-case hex
     * @return true if a live host has it
     */
    boolean knownHost(String fingerprint);

    /**
     * Listens for names other hosts publish (or move to them), on a thread of the implementation.
     *
     * @param listener told of each such entry
     */
    void onPublished(Consumer<Entry> listener);

    /**
     * What to show in the daemon's log and in messages.
     *
     * @return the service, such as {@code ZooKeeper at zk1:2181}
     */
    String describe();

    @Override
    void close();

    /**
     * A live host as the directory lists it (for {@code fable hosts}, {@code fable names --cluster}).
     *
     * @param hostId      its id
     * @param address     its address
     * @param fingerprint its certificate's SHA-256
     * @param load        its 1-minute load average as its daemon last published it (every few seconds), or null if unknown
     * @param names       the names it holds
     */
    record HostEntry(String hostId, String address, String fingerprint, String load, java.util.List<Entry> names) {}

    /** Makes directories; found by {@link java.util.ServiceLoader} ({@link ClusterProviders#find}). */
    interface Provider {
        /**
         * Reads every live host and its names once, without joining as a host.
         *
         * @param connect  the service's address (a ZooKeeper connect string)
         * @param settings the settings by name (null when unset)
         * @return the live hosts
         * @throws IOException if the service cannot be reached or read
         */
        java.util.List<HostEntry> hosts(String connect, UnaryOperator<String> settings) throws IOException;

        /**
         * Connects to the service at {@code connect} as host {@code self}, publishing the host entry.
         *
         * @param connect  the service's address (a ZooKeeper connect string)
         * @param self     this host
         * @param settings the daemon's settings by name ({@code fable.zookeeper.root}, ...; null when unset)
         * @return the directory, connected (or still connecting, when the service does not answer yet)
         * @throws IOException if the service refuses this host (bad credentials) or a setting is malformed
         */
        ClusterDirectory open(String connect, Host self, UnaryOperator<String> settings) throws IOException;
    }
}
