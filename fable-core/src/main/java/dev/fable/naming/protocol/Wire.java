package dev.fable.naming.protocol;

/** Protocol constants: version, limits, message types and error codes. */
public final class Wire {
    private Wire() {}

    public static final int VERSION = 1;
    /** Largest payload of one frame. */
    public static final int MAX_FRAME = 64 * 1024;
    /** Largest encoded string (bytes). */
    public static final int MAX_STRING = 4096;

    // message types
    public static final int HELLO = 1;
    public static final int WELCOME = 2;
    public static final int REGISTER = 3;
    public static final int OK = 4;
    public static final int ERROR = 5;
    public static final int LISTENING = 6;
    public static final int UNREGISTER = 7;
    public static final int RESOLVE = 8;
    public static final int ROUTE = 9;
    public static final int NAMES = 10;
    public static final int NAME_LIST = 11;
    public static final int FLOWS = 12;
    public static final int FLOW_LIST = 13;
    public static final int FLOW_QUERY = 14;
    public static final int FLOW_REPORT = 15;
    public static final int STATS = 16;
    public static final int STATS_REPLY = 17;
    public static final int PEER_RESOLVE = 18;
    public static final int KNOWN_HOST = 19;
    public static final int RECONFIGURE = 20;
    public static final int TRUST = 21;
    public static final int POLICY_CHANGED = 22;
    public static final int PEER_LISTENING = 23;
    public static final int TRUSTED_ADDRESS = 24;
    public static final int REFUSED = 25;
    public static final int REFUSALS = 26;
    public static final int REFUSAL_LIST = 27;
    public static final int TRUST_LIST = 28;
    public static final int NETWORK_LIST = 29;
    /** Rows of a {@link #REFUSAL_LIST} (the daemon keeps this many: the latest sources). */
    public static final int MAX_REFUSAL_ROWS = 64;

    // error codes
    public static final int E_NOT_FOUND = 1;
    public static final int E_NAME_IN_USE = 2;
    public static final int E_POLICY = 3;
    public static final int E_BAD_REQUEST = 4;
    public static final int E_LIMIT = 5;
    public static final int E_VERSION = 6;
    public static final int E_DENIED = 7;
    public static final int E_INTERNAL = 8;
}
