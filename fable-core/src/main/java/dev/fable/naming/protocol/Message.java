package dev.fable.naming.protocol;

import dev.fable.naming.protocol.FlowEntry;
import dev.fable.naming.protocol.NameEntry;
import dev.fable.naming.protocol.Route;

import java.util.List;

/** Every message of the protocol; {@code id} ties a reply to its request. Encoding: {@link Messages}. */
public sealed interface Message {
    int id();

    /** Client → daemon, first message: who is connecting. */
    /** The client says who it is: pid, a description, and the directory of its shared-memory files (for clean-up after it dies). */
    record Hello(int id, long pid, String description, String shmDir) implements Message {}

    /** Daemon → client: this host as the daemon sees it. */
    record Welcome(int id, String hostId, String advertiseHost, String certFingerprint, long daemonPid) implements Message {}

    record Register(int id, String name) implements Message {}

    record Ok(int id) implements Message {}

    record Fail(int id, int code, String text) implements Message {}

    record Listening(int id, String name, String unixPath, String tcpHost, int tcpPort) implements Message {}

    record Unregister(int id, String name) implements Message {}

    /** {@code forcedTransport} null when the URI named none; {@code waitMillis} 0: answer at once. */
    record Resolve(int id, String name, boolean trusted, String forcedTransport, long waitMillis) implements Message {}

    record RouteReply(int id, Route route) implements Message {}

    record NamesRequest(int id) implements Message {}

    /** One chunk of the name list; the reply ends with {@code last}. */
    record NameList(int id, boolean last, List<NameEntry> entries) implements Message {}

    record FlowsRequest(int id) implements Message {}

    /** One chunk of the merged flow table (daemon → client). */
    record FlowList(int id, boolean last, List<FlowEntry> entries) implements Message {}

    /** Daemon → client: report your live connections, answering with {@link FlowReport}s of the same id. */
    record FlowQuery(int id) implements Message {}

    /** Client → daemon: one chunk of this process's connections. */
    record FlowReport(int id, boolean last, List<FlowEntry> entries) implements Message {}

    /**
     * Client → daemon: the daemon's heap and table sizes. {@code settle}: collect garbage first (two full
     * GCs) so the heap figure is comparable between requests (capacity tests); otherwise no GC is forced.
     * Only clients on the daemon's Unix socket (its own user) can send it; peer daemons cannot.
     */
    record StatsRequest(int id, boolean settle) implements Message {}

    /** The daemon's used heap (right after full GCs when the request asked to settle), and its table sizes. */
    record Stats(int id, long usedHeapBytes, int names, int clients, int waiters) implements Message {}

    /** Daemon → peer daemon over TCP: do you hold {@code name}? Answered with a route (transport unset) or an error. */
    /** A peer daemon asks for {@code name}, saying which host it is (its id and TLS certificate fingerprint). */
    record PeerResolve(int id, String name, String askerHostId, String askerFingerprint) implements Message {}

    /**
     * Switch connection {@code localName} of process {@code pid} to {@code transport}. An operator's client sends it to
     * the daemon, which forwards it (under its own id) to that process; each hop answers with ok or an error.
     */
    record Reconfigure(int id, long pid, String localName, String transport, String reason, long connectionId, String waitMode)
            implements Message {}

    /** An operator marks {@code network} (CIDR) trusted or not; answered with ok, or an error for a malformed network. */
    record Trust(int id, String network, boolean trusted) implements Message {}

    /**
     * Daemon → every client (id 0): the transport policy changed ({@code what}); clients re-ask for the routes of their
     * connections to endpoint {@code name}, or of all of them when it is null.
     */
    record PolicyChanged(int id, String what, String name) implements Message {}

    /**
     * Daemon → peer daemon over TCP: endpoint {@code name} now listens on host {@code hostId} (it may have
     * moved there); the peer tells its clients, whose connections to it ask for their route again. Answered with ok.
     */
    record PeerListening(int id, String name, String hostId) implements Message {}

    /** Is {@code fingerprint} this host's certificate or a peer host's? Answered with ok or {@code E_NOT_FOUND}. */
    record KnownHost(int id, String fingerprint) implements Message {}

    /** Client → daemon: may a plain tcp connection come from {@code address} (a trusted network, or this host)? OK or ERROR. */
    record TrustedAddress(int id, String address) implements Message {}

    /**
     * Client → daemon: endpoint {@code endpoint} refused {@code count} connections from {@code address}
     * (the latest for {@code reason}); OK. For {@code fable flows --refused}.
     */
    record Refused(int id, String endpoint, String address, String reason, int count) implements Message {}

    /** Client → daemon: the networks trusted now ({@code fable trust list}); answered with {@link NetworkList}. */
    record TrustListRequest(int id) implements Message {}

    /** Daemon → client: the trusted networks (CIDR, as given), at most 256. */
    record NetworkList(int id, List<String> networks) implements Message {}

    /** Client → daemon: the refusals this host's endpoints reported; answered with {@link RefusalList}. */
    record RefusalsRequest(int id) implements Message {}

    /** Daemon → client: every refusal counted since the daemon started ({@code total}) and the latest sources. */
    record RefusalList(int id, long total, List<RefusalEntry> entries) implements Message {}
}
