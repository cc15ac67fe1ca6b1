package dev.fable.naming;

import java.util.List;
import java.util.function.Supplier;
import dev.fable.naming.protocol.FlowEntry;
import dev.fable.naming.protocol.HostInfo;
import dev.fable.naming.protocol.NameEntry;
import dev.fable.naming.protocol.Route;
import dev.fable.naming.protocol.RouteRequest;
import dev.fable.naming.protocol.SwitchOrder;
import dev.fable.naming.protocol.ListenAddress;

/**
 * The library's view of the naming layer: the per-host name daemon ({@code fabled}). It owns names,
 * chooses a transport for each connect (the selection policy lives in the daemon) and keeps the flow
 * table. The data path never goes through it: a resolved {@link Route} names the listener's own
 * socket, and the two ends talk directly.
 *
 * <p>Implementations are thread-safe; one instance per process.
 */
public interface NameService extends AutoCloseable {
    /**
     * This host as its daemon describes it.
     *
     * @return this host's id, advertised address and certificate fingerprint
     * @throws dev.fable.FableException if no daemon connection comes back within 15 s
     */
    HostInfo host();

    /**
     * Claims {@code name} for this process until {@link Registration#close()} or until the process's
     * control connection to the daemon ends (process death): fails with
     * {@link dev.fable.NameInUseException} if a live process holds it.
     *
     * @param name the endpoint name: 1–64 characters from {@code A-Z a-z 0-9 . _ -}, starting with a letter or digit
     * @return the registration; not yet listening ({@link Registration#listening})
     * @throws IllegalArgumentException if {@code name} is not a valid endpoint name
     * @throws dev.fable.NameInUseException if a live process (this one included) holds {@code name}
     * @throws dev.fable.FableException if the daemon refuses otherwise or cannot be reached
     */
    Registration register(String name);

    /**
     * Finds the endpoint {@code name} (on this host, or through the daemon's cluster directory on another host)
     * and the transport to reach it. Waits up to {@code timeoutNanos} for the name to appear
     * (0: fail at once with {@link dev.fable.NameNotFoundException}).
     *
     * @param name         the endpoint name
     * @param request      the connecting side's trust and forced transport
     * @param timeoutNanos how long the daemon waits for the name to appear (rounded up to whole milliseconds);
     *                     0: not at all; negative: a year
     * @return the route: the transport the daemon chose and where the endpoint listens
     * @throws IllegalArgumentException if {@code name} is not a valid endpoint name
     * @throws dev.fable.NameNotFoundException if no endpoint listens under {@code name} within the timeout
     * @throws dev.fable.FableException if the policy refuses the route (e.g. {@code xio+shm://} to another host),
     *                                  or the daemon cannot be reached
     */
    Route resolve(String name, RouteRequest request, long timeoutNanos);

    /**
     * Every name the daemon holds.
     *
     * @return the names, sorted by name (an unmodifiable list)
     * @throws dev.fable.FableException if the daemon cannot be reached
     */
    List<NameEntry> names();

    /**
     * Every connection end of every client process, as their libraries report them now.
     *
     * @return the merged flow table (an unmodifiable list); a client that does not answer in time is left out
     * @throws dev.fable.FableException if the daemon cannot be reached
     */
    List<FlowEntry> flows();

    /**
     * Where this process's live connections come from when the daemon asks for the flow table.
     *
     * @param source called on a background thread at each query; null: report no connections
     */
    void flowSource(Supplier<List<FlowEntry>> source);

    /**
     * Asks process {@code pid} (a client of this host's daemon) to switch its connection {@code localName} (as
     * {@code fable flows} lists it) to {@code transport}; returns when it has set the new transport up.
     * The wait mode stays as it is.
     *
     * @param pid       the process that holds the connection
     * @param localName the connection's local name; the first connection of that name that can switch does
     * @param transport the transport to switch to
     * @param reason    why, for the connection's events and the flow table
     * @throws dev.fable.FableException naming what failed: no such process or connection, the accepting side, an unreachable transport
     */
    default void reconfigure(long pid, String localName, String transport, String reason) {
        reconfigure(pid, localName, transport, null, reason);
    }

    /**
     * As {@link #reconfigure(long, String, String, String)}, and sets both ends' wait mode on the new transport:
     * {@code spin}, {@code block}, {@code adaptive}, {@code own} (each end's own options again), or null to keep it.
     *
     * @param pid       the process that holds the connection
     * @param localName the connection's local name; the first connection of that name that can switch does
     * @param transport the transport to switch to
     * @param waitMode  {@code spin}, {@code block}, {@code adaptive}, {@code own}, or null to keep the wait mode
     * @param reason    why, for the connection's events and the flow table
     * @throws dev.fable.FableException naming what failed: no such process or connection, the accepting side, an
     *                                  unreachable transport, an unknown wait mode
     */
    void reconfigure(long pid, String localName, String transport, String waitMode, String reason);


    /** Carries out the daemon's reconfiguration orders for this process: returns null when done, else why not. */
    interface Reconfigurer {
        /**
         * Carries out one order.
         *
         * @param order the switch to make
         * @return null once the new transport is set up, else why the switch was not made (sent back to the operator)
         */
        String reconfigure(SwitchOrder order);
    }

    /**
     * Sets who carries out the daemon's switch orders for this process.
     *
     * @param r the reconfigurer, called on a background thread per order; null: refuse every order
     */
    void reconfigurer(Reconfigurer r);

    /**
     * Marks {@code network} (CIDR, e.g. {@code 10.1.0.0/16}) trusted or not in this host's daemon. Connections
     * made with {@code xio://} whose route changes follow: to plain tcp on a trusted network, to tls otherwise.
     *
     * @param network the network, CIDR; to remove one, write it as it is in the list
     * @param trusted {@code true} to add it to the trusted networks, {@code false} to remove it
     * @throws IllegalArgumentException if the daemon finds {@code network} malformed
     * @throws dev.fable.FableException if the daemon refuses otherwise (removing a network that is not in the list),
     *                                  or cannot be reached
     */
    void trust(String network, boolean trusted);

    /**
     * Told (with what changed) when the daemon's transport policy changes.
     *
     * @param l the listener, called on a background thread per notice; null: none
     */
    void policyListener(PolicyListener l);

    /** Told when the daemon's transport policy changes, or where an endpoint lives. */
    @FunctionalInterface
    interface PolicyListener {
        /**
         * The daemon's policy changed, or endpoint {@code name} now lives elsewhere.
         *
         * @param what what changed, for logs
         * @param name the endpoint whose connections should ask again (it moved, say), or null for all
         */
        void changed(String what, String name);
    }

    /**
     * The host under this process changed (a VM or container was migrated): reconnects to the daemon at
     * this process's runtime directory, which now belongs to the new host, and registers every name of
     * this process there again. Established connections keep flowing; connections made with {@code xio://}
     * from anywhere switch to the transport the new placement calls for (tcp becomes shm once both ends
     * share a host, shm becomes tcp or tls once they do not). The old daemon drops the names when the
     * connection closes.
     */
    void rehome();

    /**
     * True if {@code sha256Fingerprint} is the TLS certificate of this host or of a host live in the daemon's cluster.
     *
     * @param sha256Fingerprint SHA-256 of a certificate's DER encoding, lower-case hex
     * @return whether the daemon knows the certificate
     * @throws dev.fable.FableException if the daemon cannot be reached
     */
    boolean isKnownHost(String sha256Fingerprint);

    /**
     * True if a plain (unencrypted) tcp connection may come from {@code address}: it is this host's
     * loopback or in one of the daemon's trusted networks ({@code fable trust}).
     *
     * @param address where the connection came from
     * @return whether plain tcp is allowed from there
     * @throws dev.fable.FableException if the daemon cannot be reached (not for a loopback address, which needs no daemon)
     */
    boolean isTrustedAddress(java.net.InetAddress address);

    /**
     * Tells the daemon that endpoint {@code endpoint} refused a connection from {@code address}, for
     * {@code fable flows --refused}. Best effort, never throws; a flood is rate-limited (the excess is
     * counted into the next report).
     *
     * @param endpoint the endpoint that refused
     * @param address  where the connection came from
     * @param reason   why it was refused
     */
    default void reportRefusal(String endpoint, String address, String reason) {}

    /** Closes the connection to the daemon, which drops this process's names; established connections keep flowing. */
    @Override
    void close();

    /** A registered name. */
    interface Registration extends AutoCloseable {
        /**
         * The registered name.
         *
         * @return the endpoint name
         */
        String name();

        /**
         * Publishes where the endpoint accepts connections; called once, after it bound its sockets.
         *
         * @param address the endpoint's Unix socket and TCP address
         * @throws dev.fable.FableException if the daemon refuses or cannot be reached
         */
        void listening(ListenAddress address);

        /** Gives the name up; idempotent. */
        @Override
        void close();
    }






    /**
     * The reason a library reports for the accepting end of a connection: only the connector asked the
     * daemon. The daemon's flow table replaces it with the connector's reason when it has both ends.
     */
    String ACCEPTED_REASON = "accepted";

}
