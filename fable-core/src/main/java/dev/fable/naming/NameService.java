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
    /** This host as its daemon describes it. */
    HostInfo host();

    /**
     * Claims {@code name} for this process until {@link Registration#close()} or until the process's
     * control connection to the daemon ends (process death): fails with
     * {@link dev.fable.NameInUseException} if a live process holds it.
     */
    Registration register(String name);

    /**
     * Finds the endpoint {@code name} (on this host, or through the daemon's peers on another host)
     * and the transport to reach it. Waits up to {@code timeoutNanos} for the name to appear
     * (0: fail at once with {@link dev.fable.NameNotFoundException}).
     */
    Route resolve(String name, RouteRequest request, long timeoutNanos);

    /** Every name the daemon holds. */
    List<NameEntry> names();

    /** Every connection end of every client process, as their libraries report them now. */
    List<FlowEntry> flows();

    /** Where this process's live connections come from when the daemon asks for the flow table. */
    void flowSource(Supplier<List<FlowEntry>> source);

    /**
     * Asks process {@code pid} (a client of this host's daemon) to switch its connection {@code localName} (as
     * {@code fable flows} lists it) to {@code transport}; returns when it has set the new transport up.
     *
     * @throws FableException naming what failed: no such process or connection, the accepting side, an unreachable transport
     */
    default void reconfigure(long pid, String localName, String transport, String reason) {
        reconfigure(pid, localName, transport, null, reason);
    }

    /**
     * As {@link #reconfigure(long, String, String, String)}, and sets both ends' wait mode on the new transport:
     * {@code spin}, {@code block}, {@code adaptive}, {@code own} (each end's own options again), or null to keep it.
     */
    void reconfigure(long pid, String localName, String transport, String waitMode, String reason);


    /** Carries out the daemon's reconfiguration orders for this process: returns null when done, else why not. */
    interface Reconfigurer {
        String reconfigure(SwitchOrder order);
    }

    void reconfigurer(Reconfigurer r);

    /**
     * Marks {@code network} (CIDR, e.g. {@code 10.1.0.0/16}) trusted or not in this host's daemon. Connections
     * made with {@code xio://} whose route changes follow: to plain tcp on a trusted network, to tls otherwise.
     */
    void trust(String network, boolean trusted);

    /** Told (with what changed) when the daemon's transport policy changes. */
    void policyListener(PolicyListener l);

    /** Told when the daemon's transport policy changes, or where an endpoint lives. */
    @FunctionalInterface
    interface PolicyListener {
        /** @param name the endpoint whose connections should ask again (it moved, say), or null for all */
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

    /** True if {@code sha256Fingerprint} is the TLS certificate of this host or of a host the daemon peers with. */
    boolean isKnownHost(String sha256Fingerprint);

    /**
     * True if a plain (unencrypted) tcp connection may come from {@code address}: it is this host's
     * loopback or in one of the daemon's trusted networks ({@code fable trust}).
     */
    boolean isTrustedAddress(java.net.InetAddress address);

    /**
     * Tells the daemon that endpoint {@code endpoint} refused a connection from {@code address}, for
     * {@code fable flows --refused}. Best effort, never throws; a flood is rate-limited (the excess is
     * counted into the next report).
     */
    default void reportRefusal(String endpoint, String address, String reason) {}

    @Override
    void close();

    /** A registered name. */
    interface Registration extends AutoCloseable {
        String name();

        /** Publishes where the endpoint accepts connections; called once, after it bound its sockets. */
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
