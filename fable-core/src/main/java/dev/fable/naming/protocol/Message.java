package dev.fable.naming.protocol;

import dev.fable.naming.protocol.FlowEntry;
import dev.fable.naming.protocol.NameEntry;
import dev.fable.naming.protocol.Route;

import java.util.List;

/** Every message of the protocol; {@code id} ties a reply to its request. Encoding: {@link Messages}. */
public sealed interface Message {
    /**
     * The request id: a reply carries the id of its request; 0 in a daemon's {@link Fail} means the whole
     * connection (sent just before the daemon closes it), and in {@link PolicyChanged} a notice nobody asked for.
     *
     * @return the request id
     */
    int id();

    /**
     * Client → daemon, first message: who is connecting. The client says who it is: pid, a description, and
     * the directory of its shared-memory files (for clean-up after it dies).
     *
     * @param id          the request id, echoed by the {@link Welcome}
     * @param pid         the client's pid
     * @param description what the client runs (its command), for logs; may be null
     * @param shmDir      the directory of the client's shared-memory files; may be null
     */
    record Hello(int id, long pid, String description, String shmDir) implements Message {}

    /**
     * Daemon → client: this host as the daemon sees it.
     *
     * @param id              the id of the {@link Hello}
     * @param hostId          the host's stable id
     * @param advertiseHost   the address endpoints' TCP listeners bind to and advertise
     * @param certFingerprint SHA-256 (lower-case hex) of the host's TLS certificate
     * @param daemonPid       the daemon's pid
     */
    record Welcome(int id, String hostId, String advertiseHost, String certFingerprint, long daemonPid) implements Message {}

    /**
     * Client → daemon: claims {@code name} for the client until it unregisters it or its connection ends.
     * Answered with {@link Ok}, or {@link Fail} ({@code E_NAME_IN_USE}, {@code E_BAD_REQUEST}; {@code E_LIMIT} and
     * closed past {@code fable.daemon.maxNamesPerClient}).
     *
     * @param id   the request id
     * @param name the endpoint name
     */
    record Register(int id, String name) implements Message {}

    /**
     * Reply: the request succeeded.
     *
     * @param id the id of the request
     */
    record Ok(int id) implements Message {}

    /**
     * Reply: the request failed.
     *
     * @param id   the id of the request; 0: the whole connection, which the daemon closes next
     * @param code one of the {@code Wire.E_*} codes
     * @param text what failed, for people
     */
    record Fail(int id, int code, String text) implements Message {}

    /**
     * Client → daemon: where endpoint {@code name}, registered by this client, accepts connections; wakes the
     * resolves waiting for it. Answered with {@link Ok}, or {@link Fail} ({@code E_NOT_FOUND} for a name this
     * client did not register).
     *
     * @param id       the request id
     * @param name     the endpoint name
     * @param unixPath its Unix socket, or null
     * @param tcpHost  the address of its TCP port, or null
     * @param tcpPort  its TCP port (0 … 65535; 0: none)
     */
    record Listening(int id, String name, String unixPath, String tcpHost, int tcpPort) implements Message {}

    /**
     * Client → daemon: gives {@code name} up. Answered with {@link Ok}, or {@link Fail} ({@code E_NOT_FOUND}
     * for a name this client did not register).
     *
     * @param id   the request id
     * @param name the endpoint name
     */
    record Unregister(int id, String name) implements Message {}

    /**
     * Client → daemon: finds endpoint {@code name} and the transport to reach it. {@code forcedTransport} null when
     * the URI named none; {@code waitMillis} 0: answer at once. Answered with {@link RouteReply}, or {@link Fail}
     * ({@code E_NOT_FOUND} when the name did not appear in time, {@code E_POLICY} when the policy refuses).
     *
     * @param id              the request id
     * @param name            the endpoint name
     * @param trusted         whether the connecting side trusts the peer
     * @param forcedTransport the transport an {@code xio+<t>://} URI forces, or null
     * @param waitMillis      how long the daemon waits for the name to appear, 0 or more
     */
    record Resolve(int id, String name, boolean trusted, String forcedTransport, long waitMillis) implements Message {}

    /**
     * Reply to {@link Resolve}: where the endpoint is and how to reach it.
     *
     * @param id    the id of the request
     * @param route the route
     */
    record RouteReply(int id, Route route) implements Message {}

    /**
     * Client → daemon: every name it holds ({@code fable names}); answered with {@link NameList} chunks.
     *
     * @param id the request id
     */
    record NamesRequest(int id) implements Message {}

    /**
     * One chunk of the name list; the reply ends with {@code last}.
     *
     * @param id      the id of the {@link NamesRequest}
     * @param last    whether this is the reply's last chunk
     * @param entries this chunk's rows, by name
     */
    record NameList(int id, boolean last, List<NameEntry> entries) implements Message {}

    /**
     * Client → daemon: the merged flow table of every client ({@code fable flows}); answered with
     * {@link FlowList} chunks.
     *
     * @param id the request id
     */
    record FlowsRequest(int id) implements Message {}

    /**
     * One chunk of the merged flow table (daemon → client).
     *
     * @param id      the id of the {@link FlowsRequest}
     * @param last    whether this is the reply's last chunk
     * @param entries this chunk's rows
     */
    record FlowList(int id, boolean last, List<FlowEntry> entries) implements Message {}

    /**
     * Daemon → client: report your live connections, answering with {@link FlowReport}s of the same id.
     *
     * @param id the id of this collection, which the reports carry
     */
    record FlowQuery(int id) implements Message {}

    /**
     * Client → daemon: one chunk of this process's connections.
     *
     * @param id      the id of the {@link FlowQuery}
     * @param last    whether this is the report's last chunk
     * @param entries this chunk's rows
     */
    record FlowReport(int id, boolean last, List<FlowEntry> entries) implements Message {}

    /**
     * Client → daemon: the daemon's heap and table sizes. {@code settle}: collect garbage first (two full
     * GCs) so the heap figure is comparable between requests (capacity tests); otherwise no GC is forced.
     * Only clients on the daemon's Unix socket (its own user) can send it; peer daemons cannot.
     *
     * @param id     the request id
     * @param settle whether the daemon runs two full GCs before it measures the heap
     */
    record StatsRequest(int id, boolean settle) implements Message {}

    /**
     * The daemon's used heap (right after full GCs when the request asked to settle), and its table sizes.
     *
     * @param id            the id of the {@link StatsRequest}
     * @param usedHeapBytes the daemon's used heap in bytes, as its {@code MemoryMXBean} reports it
     * @param names         the names registered
     * @param clients       the connections the daemon holds open
     * @param waiters       the resolves waiting for a name to appear
     */
    record Stats(int id, long usedHeapBytes, int names, int clients, int waiters) implements Message {}

    /**
     * Switch connection {@code localName} of process {@code pid} to {@code transport}. An operator's client sends it to
     * the daemon, which forwards it (under its own id) to that process; each hop answers with ok or an error.
     *
     * @param id           the request id
     * @param pid          the process whose connection switches
     * @param localName    the connection's local name, as {@code fable flows} lists it
     * @param transport    the transport to switch to
     * @param reason       why, or null
     * @param connectionId the connection's id; 0: the first connection named {@code localName} that can switch
     * @param waitMode     {@code spin}, {@code block}, {@code adaptive}, {@code own} (each end's own options), or null to keep it
     */
    record Reconfigure(int id, long pid, String localName, String transport, String reason, long connectionId, String waitMode)
            implements Message {}

    /**
     * An operator marks {@code network} (CIDR) trusted or not; answered with ok, or an error for a malformed network
     * (or, when removing, a network that is not in the list).
     *
     * @param id      the request id
     * @param network the network, CIDR ({@code 10.1.0.0/16})
     * @param trusted {@code true} to add it to the trusted networks, {@code false} to remove it
     */
    record Trust(int id, String network, boolean trusted) implements Message {}

    /**
     * Daemon → every client (id 0): the transport policy changed ({@code what}); clients re-ask for the routes of their
     * connections to endpoint {@code name}, or of all of them when it is null.
     *
     * @param id   0: a notice, not a reply
     * @param what what changed, for the clients' logs
     * @param name the endpoint whose connections should ask again, or null for all
     */
    record PolicyChanged(int id, String what, String name) implements Message {}

    /**
     * Is {@code fingerprint} this host's certificate or a peer host's? Answered with ok or {@code E_NOT_FOUND}.
     *
     * @param id          the request id
     * @param fingerprint SHA-256 (lower-case hex) of a TLS certificate
     */
    record KnownHost(int id, String fingerprint) implements Message {}

    /**
     * Client → daemon: may a plain tcp connection come from {@code address} (a trusted network, or this host)? OK or ERROR.
     *
     * @param id      the request id
     * @param address the numeric address the connection came from
     */
    record TrustedAddress(int id, String address) implements Message {}

    /**
     * Client → daemon: endpoint {@code endpoint} refused {@code count} connections from {@code address}
     * (the latest for {@code reason}); OK. For {@code fable flows --refused}.
     *
     * @param id       the request id
     * @param endpoint the endpoint that refused
     * @param address  the source address
     * @param reason   why the latest was refused
     * @param count    how many refusals this report stands for (the ones rate-limited away before it included)
     */
    record Refused(int id, String endpoint, String address, String reason, int count) implements Message {}

    /**
     * Client → daemon: the networks trusted now ({@code fable trust list}); answered with {@link NetworkList}.
     *
     * @param id the request id
     */
    record TrustListRequest(int id) implements Message {}

    /**
     * Daemon → client: the trusted networks (CIDR, as given), at most 256.
     *
     * @param id       the id of the {@link TrustListRequest}
     * @param networks the trusted networks
     */
    record NetworkList(int id, List<String> networks) implements Message {}

    /**
     * Client → daemon: the refusals this host's endpoints reported; answered with {@link RefusalList}.
     *
     * @param id the request id
     */
    record RefusalsRequest(int id) implements Message {}

    /**
     * Daemon → client: every refusal counted since the daemon started ({@code total}) and the latest sources.
     *
     * @param id      the id of the {@link RefusalsRequest}
     * @param total   refusals counted since the daemon started
     * @param entries one row per endpoint and source, the latest {@link Wire#MAX_REFUSAL_ROWS} at most
     */
    record RefusalList(int id, long total, List<RefusalEntry> entries) implements Message {}
}
