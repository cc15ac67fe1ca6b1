package dev.fable.naming.protocol;

/** Protocol constants: version, limits, message types and error codes. */
public final class Wire {
    private Wire() {}

    /** The protocol version: the first byte of every payload; a payload of another version is refused with {@link #E_VERSION}. */
    public static final int VERSION = 1;
    /** Largest payload of one frame. */
    public static final int MAX_FRAME = 64 * 1024;
    /** Largest encoded string (bytes). */
    public static final int MAX_STRING = 4096;

    // message types: the second byte of every payload (docs/naming.md has the table)
    /** Client → daemon, first message: pid, description, shared-memory directory ({@link Message.Hello}); answered with {@link #WELCOME}. */
    public static final int HELLO = 1;
    /** Daemon → client: this host's id, advertised address, certificate fingerprint and the daemon's pid ({@link Message.Welcome}). */
    public static final int WELCOME = 2;
    /** Client → daemon: claim a name ({@link Message.Register}); answered with {@link #OK} or {@link #ERROR}. */
    public static final int REGISTER = 3;
    /** Reply: the request succeeded ({@link Message.Ok}). */
    public static final int OK = 4;
    /** Reply: the request failed, with one of the {@code E_*} codes and a text ({@link Message.Fail}); with id 0 it ends the whole connection. */
    public static final int ERROR = 5;
    /** Client → daemon: where a registered endpoint accepts ({@link Message.Listening}); answered with {@link #OK}. */
    public static final int LISTENING = 6;
    /** Client → daemon: give a name up ({@link Message.Unregister}); answered with {@link #OK} or {@link #ERROR}. */
    public static final int UNREGISTER = 7;
    /** Client → daemon: find a name and the transport to reach it ({@link Message.Resolve}); answered with {@link #ROUTE} or {@link #ERROR}. */
    public static final int RESOLVE = 8;
    /** Reply to {@link #RESOLVE}: a {@link Route} ({@link Message.RouteReply}). */
    public static final int ROUTE = 9;
    /** Client → daemon: list every name ({@link Message.NamesRequest}); answered with {@link #NAME_LIST} chunks. */
    public static final int NAMES = 10;
    /** Reply: one chunk of the name list ({@link Message.NameList}). */
    public static final int NAME_LIST = 11;
    /** Client → daemon: the merged flow table ({@link Message.FlowsRequest}); answered with {@link #FLOW_LIST} chunks. */
    public static final int FLOWS = 12;
    /** Reply: one chunk of the merged flow table ({@link Message.FlowList}). */
    public static final int FLOW_LIST = 13;
    /** Daemon → client: report your connections ({@link Message.FlowQuery}); answered with {@link #FLOW_REPORT} chunks. */
    public static final int FLOW_QUERY = 14;
    /** Client → daemon: one chunk of the client's connections ({@link Message.FlowReport}). */
    public static final int FLOW_REPORT = 15;
    /** Client → daemon: the daemon's heap and table sizes ({@link Message.StatsRequest}); answered with {@link #STATS_REPLY}. */
    public static final int STATS = 16;
    /** Reply: the daemon's heap and table sizes ({@link Message.Stats}). */
    public static final int STATS_REPLY = 17;
    // 18 was PEER_RESOLVE and 23 PEER_LISTENING, of the peer-daemon protocol over plain TCP that cluster naming replaced:
    // never reused, so that an old peer's message is refused as unknown
    /** Client → daemon: is this certificate this host's or a peer's ({@link Message.KnownHost}); answered with {@link #OK} or {@link #ERROR}. */
    public static final int KNOWN_HOST = 19;
    /** Switch a connection of a process to another transport ({@link Message.Reconfigure}); answered with {@link #OK} or {@link #ERROR}. */
    public static final int RECONFIGURE = 20;
    /** Client → daemon: mark a network trusted or not ({@link Message.Trust}); answered with {@link #OK} or {@link #ERROR}. */
    public static final int TRUST = 21;
    /** Daemon → every client, id 0: the transport policy changed ({@link Message.PolicyChanged}); not answered. */
    public static final int POLICY_CHANGED = 22;
    /** Client → daemon: may a plain tcp connection come from this address ({@link Message.TrustedAddress}); answered with {@link #OK} or {@link #ERROR}. */
    public static final int TRUSTED_ADDRESS = 24;
    /** Client → daemon: an endpoint refused connections from an address ({@link Message.Refused}); answered with {@link #OK}. */
    public static final int REFUSED = 25;
    /** Client → daemon: the refusals reported so far ({@link Message.RefusalsRequest}); answered with {@link #REFUSAL_LIST}. */
    public static final int REFUSALS = 26;
    /** Reply: the refusals reported so far ({@link Message.RefusalList}). */
    public static final int REFUSAL_LIST = 27;
    /** Client → daemon: the trusted networks ({@link Message.TrustListRequest}); answered with {@link #NETWORK_LIST}. */
    public static final int TRUST_LIST = 28;
    /** Reply: the trusted networks ({@link Message.NetworkList}). */
    public static final int NETWORK_LIST = 29;
    /** Rows of a {@link #REFUSAL_LIST} (the daemon keeps this many: the latest sources). */
    public static final int MAX_REFUSAL_ROWS = 64;

    // error codes: Message.Fail.code()
    /** Error code: no such name, pid, connection, certificate or network. */
    public static final int E_NOT_FOUND = 1;
    /** Error code: the name is registered by a live process already. */
    public static final int E_NAME_IN_USE = 2;
    /** Error code: the transport policy refuses the route, or a process could not carry out a switch. */
    public static final int E_POLICY = 3;
    /** Error code: a malformed frame, message or argument (a bad network, say), or a message not allowed on this connection. */
    public static final int E_BAD_REQUEST = 4;
    /** Error code: a limit of the daemon was exceeded (names per client, waiting resolves, clients, flow rows). */
    public static final int E_LIMIT = 5;
    /** Error code: the payload's protocol version is not {@link #VERSION}. */
    public static final int E_VERSION = 6;
    /** Error code: refused: an address outside the trusted networks, or a client of another user on the daemon's socket. */
    public static final int E_DENIED = 7;
    /** Error code: something failed inside the daemon (reserved: this version sends none). */
    public static final int E_INTERNAL = 8;
}
