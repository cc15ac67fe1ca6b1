package dev.fable.daemon;

import dev.fable.naming.protocol.Message.Fail;
import dev.fable.naming.protocol.Message.Ok;
import dev.fable.naming.protocol.Message.PolicyChanged;
import dev.fable.naming.protocol.Message.Trust;
import dev.fable.naming.protocol.Message.TrustedAddress;
import dev.fable.naming.protocol.Message.TrustListRequest;
import dev.fable.naming.protocol.Message.NetworkList;
import dev.fable.naming.protocol.Messages;
import dev.fable.naming.protocol.Wire;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.List;

import static java.lang.System.Logger.Level.INFO;

/**
 * The policies that change routes under live connections by telling the clients (POLICY_CHANGED), which
 * ask again for the routes of their {@code xio://} connections and switch those whose transport the
 * daemon now chooses differently:
 * <ul>
 * <li><b>trust</b>: the current {@link TransportPolicy}, which every route comes from ({@link #choose}), is
 *     replaced by {@code fable trust add|remove} (tls to tcp on a newly trusted network, and back);
 * <li><b>migration</b>: an endpoint listens on another host than before: here ({@link #listensHere}; its
 *     process is new or moved here, {@code NameService.rehome}; {@link ClusterLinks#tellListening} publishes
 *     it in the cluster) or on another host ({@link #listensOnPeer}, the cluster says so): a tcp connection
 *     from this host becomes shm, and shm to a process that left becomes tcp or tls.
 * </ul>
 * The third policy, contention, orders switches of single connections: {@link SwitchOrders}.
 *
 * <p>Loop thread only (the policy field is replaced there and read there).
 */
final class TrustAndMigration {
    private static final System.Logger LOG = System.getLogger(TrustAndMigration.class.getName());

    private final ClientSessions sessions;
    private final String hostId;
    private TransportPolicy policy;

    TrustAndMigration(ClientSessions sessions, String hostId, TransportPolicy policy) {
        this.sessions = sessions;
        this.hostId = hostId;
        this.policy = policy;
    }

    /** The current policy's transport for a route (see {@link TransportPolicy#choose}). */
    TransportPolicy.Decision choose(boolean sameHost, boolean trusted, String forced, String peerTcpHost) throws TransportPolicy.Refused {
        return policy.choose(sameHost, trusted, forced, peerTcpHost);
    }

    /**
     * {@code fable trust add|remove}: changes the trusted networks, then tells every client. Removing a
     * network that is not in the list is an error (E_NOT_FOUND, nothing changes, nobody is told).
     */
    void trust(Session s, Trust t) throws IOException {
        Cidr network;
        try {
            network = Cidr.parse(t.network());
        } catch (IllegalArgumentException e) {
            sessions.reply(s, new Fail(t.id(), Wire.E_BAD_REQUEST, e.getMessage()));
            return;
        }
        if (!t.trusted() && policy.trustedNetworks().stream().noneMatch(c -> c.toString().equals(network.toString()))) {
            sessions.reply(s, new Fail(t.id(), Wire.E_NOT_FOUND, "network " + network + " is not trusted, so there is nothing to remove"
                    + " (trusted networks: " + policy.trustedNetworks() + "; 'fable trust remove' takes one of them as written there)"));
            return;
        }
        policy = policy.withNetwork(network, t.trusted());
        String what = "network " + network + (t.trusted() ? " marked trusted" : " no longer trusted") + "; trusted networks now "
                + policy.trustedNetworks();
        LOG.log(INFO, "policy: " + what + ", by " + s);
        sessions.reply(s, new Ok(t.id()));
        broadcast(what, null);
    }

    /** TRUST_LIST: the trusted networks, as given. */
    void list(Session s, TrustListRequest q) throws IOException {
        List<String> l = new java.util.ArrayList<>();
        for (Cidr c : policy.trustedNetworks()) if (l.size() < 256) l.add(c.toString());
        sessions.reply(s, new NetworkList(q.id(), l));
    }

    /** TRUSTED_ADDRESS: may a plain tcp connection come from this address (in a trusted network)? */
    void trustedAddress(Session s, TrustedAddress t) throws IOException {
        boolean ok = policy.trustedNetworks().stream().anyMatch(c -> c.contains(t.address()));   // a malformed address is in none
        sessions.reply(s, ok ? new Ok(t.id()) : new Fail(t.id(), Wire.E_DENIED, t.address() + " is not in a trusted network "
                + policy.trustedNetworks() + " (fable trust add NETWORK)"));
    }

    /** Migration's trigger here: endpoint {@code name} listens on this host now; this host's clients with connections to it re-resolve. */
    void listensHere(String name, long pid) throws IOException {
        broadcast("endpoint '" + name + "' listens on host " + hostId + " (pid " + pid + ")", name);
    }

    /** Migration from another host: the cluster says endpoint {@code name} listens on host {@code host} now. */
    void listensOnPeer(String host, String name) throws IOException {
        broadcast("endpoint '" + name + "' listens on host " + host, name);
    }

    /** Tells every client that routes may have changed: for endpoint {@code name}, or all if null. */
    private void broadcast(String what, String name) throws IOException {
        ByteBuffer note = Messages.encode(new PolicyChanged(0, what, name));
        for (Session other : sessions.all()) {
            if (other.isOpenClient()) sessions.send(other, List.of(note.duplicate()));
        }
    }
}
