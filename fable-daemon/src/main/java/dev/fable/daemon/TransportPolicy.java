package dev.fable.daemon;

import dev.fable.TransportName;

import java.util.List;
import java.util.Locale;

/**
 * The daemon's transport selection: a pure function of where the peer is, whether the connecting
 * side trusts it, the scheme of the URI and the configuration. The table (also in
 * {@code docs/naming.md}):
 *
 * <pre>
 * forced  | same host | trusted | peer network      | transport | reason
 * --------+-----------+---------+-------------------+-----------+---------------------------------------------
 * -       | yes       | yes     | -                 | shm (1)   | same host, trusted peer
 * -       | yes       | no      | -                 | shm (1)   | same host, untrusted peer: private copies
 * -       | no        | any     | in trusted list   | tcp (2)   | other host over trusted network N
 * -       | no        | any     | not in the list   | tls (2)   | other host over untrusted network
 * shm/unix| yes       | any     | -                 | forced    | forced by the xio+T:// scheme
 * shm/unix| no        | any     | any               | error     | T reaches only this host
 * tcp/tls | any       | any     | any               | forced    | forced by the xio+T:// scheme
 * </pre>
 * (1) {@code fable.policy.local} replaces shm (shm, unix, tcp or tls). (2) {@code fable.policy.remote}
 * replaces the network rule (tcp or tls).
 *
 * <p>Immutable ({@link #withNetwork} makes a new one): any thread.
 */
public final class TransportPolicy {

    private final List<Cidr> trustedNetworks;
    private final String localOverride;
    private final String remoteOverride;

    /**
     * A policy: the table above with these networks and overrides.
     *
     * @param trustedNetworks the networks whose hosts get plain tcp (copied)
     * @param localOverride  transport for same-host peers instead of shm, or null (blank counts as null; any case)
     * @param remoteOverride transport for other hosts instead of the network rule, or null (blank counts as null; any case)
     * @throws IllegalArgumentException if {@code localOverride} is not one of {@link TransportName#ALL}, or
     *                                  {@code remoteOverride} not {@code tcp} or {@code tls}
     */
    public TransportPolicy(List<Cidr> trustedNetworks, String localOverride, String remoteOverride) {
        this.trustedNetworks = List.copyOf(trustedNetworks);
        this.localOverride = check(localOverride, "fable.policy.local", TransportName.ALL);
        this.remoteOverride = check(remoteOverride, "fable.policy.remote", List.of("tcp", "tls"));
    }

    /**
     * This policy with {@code network} added to (trusted) or removed from the trusted networks.
     *
     * @param network the network; it matches a listed one when their notations ({@link Cidr#text()}) are equal
     * @param trusted {@code true} to add it (last, replacing an equal one), {@code false} to remove it
     * @return a new policy; this one is unchanged
     */
    public TransportPolicy withNetwork(Cidr network, boolean trusted) {
        List<Cidr> l = new java.util.ArrayList<>(trustedNetworks);
        l.removeIf(c -> c.toString().equals(network.toString()));
        if (trusted) l.add(network);
        return new TransportPolicy(l, localOverride, remoteOverride);
    }

    /**
     * The networks whose hosts get plain tcp.
     *
     * @return the trusted networks, in order (an unmodifiable list)
     */
    public List<Cidr> trustedNetworks() {
        return trustedNetworks;
    }

    private static String check(String t, String key, List<String> allowed) {
        if (t == null || t.isBlank()) return null;
        String v = t.trim().toLowerCase(Locale.ROOT);
        if (!allowed.contains(v)) throw new IllegalArgumentException(key + "=" + t + " is not one of " + allowed);
        return v;
    }

    /**
     * A choice: the transport and why, as shown in the flow table.
     *
     * @param transport the transport chosen, one of {@link TransportName#ALL}
     * @param reason    why, as the flow table shows it
     */
    public record Decision(String transport, String reason) {}

    /** A route the policy refuses, with the reason. */
    public static final class Refused extends Exception {
        /**
         * Makes the refusal.
         *
         * @param reason why the route is refused, with what to do instead
         */
        public Refused(String reason) {
            super(reason);
        }
    }

    /**
     * Chooses the transport of one connect, by the table above.
     *
     * @param sameHost  the listener runs on this daemon's host
     * @param trusted   the connecting side trusts the peer (no private copies needed)
     * @param forced    transport named by the URI scheme ({@code xio+shm://} → shm), or null
     * @param peerTcpHost the listener's advertised TCP address (for other hosts), or null
     * @return the transport and the reason to show
     * @throws Refused if {@code forced} is not a known transport, or is shm or unix for a peer on another host
     */
    public Decision choose(boolean sameHost, boolean trusted, String forced, String peerTcpHost) throws Refused {
        if (forced != null && !forced.isBlank()) {
            String f = forced.trim().toLowerCase(Locale.ROOT);
            if (!TransportName.ALL.contains(f)) throw new Refused("unknown transport '" + forced + "' in the URI scheme; use one of " + TransportName.ALL);
            if (!sameHost && (f.equals("shm") || f.equals("unix"))) {
                throw new Refused("xio+" + f + ":// reaches only endpoints on this host, and the peer is on another host"
                        + (peerTcpHost == null ? "" : " (" + peerTcpHost + ")") + "; use xio+tcp:// or xio+tls://, or no scheme");
            }
            return new Decision(f, "forced by the xio+" + f + ":// scheme" + (f.equals("shm") && !trusted ? ", untrusted peer: private copies" : ""));
        }
        if (sameHost) {
            if (localOverride != null) {
                return new Decision(localOverride, "same host, " + (trusted ? "trusted" : "untrusted") + " peer; fable.policy.local=" + localOverride
                        + (localOverride.equals("shm") && !trusted ? ": private copies" : ""));
            }
            return trusted ? new Decision("shm", "same host, trusted peer")
                    : new Decision("shm", "same host, untrusted peer: private copies");
        }
        if (remoteOverride != null) return new Decision(remoteOverride, "other host; fable.policy.remote=" + remoteOverride);
        for (Cidr c : trustedNetworks) {
            if (c.contains(peerTcpHost)) return new Decision("tcp", "other host over trusted network " + c);
        }
        return new Decision("tls", "other host over untrusted network (" + peerTcpHost + " is not in fable.trusted.networks " + trustedNetworks + ")");
    }
}
