package dev.fable.daemon;

import dev.fable.daemon.cluster.ClusterDirectory;
import dev.fable.naming.NamingConfig;
import dev.fable.naming.protocol.Message;
import dev.fable.naming.protocol.Message.Fail;
import dev.fable.naming.protocol.Message.KnownHost;
import dev.fable.naming.protocol.Message.Ok;
import dev.fable.naming.protocol.Message.PeerListening;
import dev.fable.naming.protocol.Message.PeerResolve;
import dev.fable.naming.protocol.Message.RouteReply;
import dev.fable.naming.protocol.Route;
import dev.fable.naming.protocol.Wire;
import dev.fable.transport.tls.HostIdentity;

import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.Executor;
import java.util.function.Consumer;

import static java.lang.System.Logger.Level.INFO;
import static java.lang.System.Logger.Level.WARNING;

/**
 * This daemon's links to the peer daemons on other hosts ({@code fable.daemon.peers}, over plain TCP,
 * one exchange per connection, {@link PeerClient}): looks names up there for waiting resolves
 * ({@link #lookup}), tells them that an endpoint listens here now ({@link #tellListening}), and serves
 * their connections to this daemon's TCP port: PEER_RESOLVE from the {@link Registry} and PEER_LISTENING,
 * a migration notice handed to {@link TrustAndMigration}; both are taken only from the address of a
 * configured peer. Also the hosts this daemon knows (its own certificate and its peers', KNOWN_HOST).
 *
 * <p>Loop thread only, except the lookups and notices themselves: each runs on a virtual thread of its
 * own, reads only final fields and immutable values, and hands its result back through the loop's
 * executor (a task the loop thread runs).
 */
final class PeerLinks {
    private static final System.Logger LOG = System.getLogger(PeerLinks.class.getName());
    /** Publishing a name in the cluster: tries, and the pause between them (an old host withdraws a moved name within ~1 s). */
    private static final int PUBLISH_ATTEMPTS = 20;
    private static final long PUBLISH_RETRY_MILLIS = 250;

    /** What the peers said about a name: the first peer's route ({@code found}, null if none has it), and the peers that failed. */
    record Lookup(Route found, String peer, List<String> failures) {}

    private final ClientSessions sessions;
    private final Registry registry;
    private final TrustAndMigration migration;
    private final HostIdentity identity;
    private final String advertiseHost;
    private final List<String> peers;
    private final Executor loop;
    private final Set<String> knownFingerprints = new HashSet<>();
    private final ClusterDirectory cluster;   // fable.zookeeper: the shared directory, or null
    private final Set<String> resolvedThere = java.util.concurrent.ConcurrentHashMap.newKeySet();   // names found in the cluster
    // names that listen here, for the cluster's publishing threads (the registry is the loop thread's alone)
    private final Set<String> listeningHere = java.util.concurrent.ConcurrentHashMap.newKeySet();

    /** @param loop runs a task on the loop thread (and wakes it) */
    PeerLinks(ClientSessions sessions, Registry registry, TrustAndMigration migration, HostIdentity identity, String advertiseHost,
              List<String> peers, ClusterDirectory cluster, Executor loop) {
        this.sessions = sessions;
        this.registry = registry;
        this.migration = migration;
        this.identity = identity;
        this.advertiseHost = advertiseHost;
        this.peers = List.copyOf(peers);
        this.loop = loop;
        this.cluster = cluster;
        knownFingerprints.add(identity.fingerprint());
        if (cluster != null) cluster.onPublished(this::publishedElsewhere);
    }

    /** True if names can be looked up beyond this host: configured peers, or a cluster directory. */
    boolean any() {
        return !peers.isEmpty() || cluster != null;
    }

    /** For messages: where names of other hosts are looked up. */
    String where() {
        return (cluster != null ? cluster.describe() : "") + (cluster != null && !peers.isEmpty() ? " and " : "")
                + (peers.isEmpty() ? "" : "its peers " + peers);
    }

    /**
     * The cluster says another host publishes {@code e.name()} (joined, or moved there): if this daemon's clients
     * found that name in the cluster before, they ask for their route again (the migration policy across hosts).
     */
    private void publishedElsewhere(ClusterDirectory.Entry e) {
        if (e.hostId().equals(identity.hostId()) || !resolvedThere.contains(e.name())) return;
        loop.execute(() -> {
            LOG.log(INFO, "the cluster says endpoint '" + e.name() + "' listens on host " + printable(e.hostId()) + " now");
            try {
                migration.listensOnPeer(printable(e.hostId()), e.name());
            } catch (IOException ex) {
                LOG.log(WARNING, "telling clients that '" + e.name() + "' moved: " + ex.getMessage());
            }
        });
    }

    /** The name stopped listening here (unregistered, or its process ended): the cluster forgets it. */
    void withdrawn(String name) {
        if (cluster == null) return;
        listeningHere.remove(name);
        Thread.ofVirtual().name("fabled-cluster-withdraw").start(() -> cluster.withdraw(name));
    }

    /** Closes the cluster directory (this host's entries vanish with its session). */
    void close() {
        if (cluster != null) cluster.close();
    }

    /** The configured peers ({@code host:port}), empty without any. */
    List<String> peers() {
        return peers;
    }

    /** A message on a peer daemon's connection. */
    void handle(Session s, Message m) throws IOException {
        if (m instanceof PeerResolve pr) {
            peerResolve(s, pr);
        } else if (m instanceof PeerListening pl) {
            peerListening(s, pl);
        } else {
            sessions.reject(s, Wire.E_BAD_REQUEST, "a TCP connection may only send PEER_RESOLVE or PEER_LISTENING, not " + m.getClass().getSimpleName());
        }
    }

    /** Asks the peer daemons for {@code name} on a virtual thread; {@code answer} gets the result on the loop thread. */
    void lookup(String name, Consumer<Lookup> answer) {
        Thread.ofVirtual().name("fabled-peer-query").start(() -> {
            Route found = null;
            String peer = null;
            List<String> failures = new ArrayList<>();
            if (cluster != null) {
                try {
                    ClusterDirectory.Entry e = cluster.lookup(name);
                    if (e != null && !e.hostId().equals(identity.hostId())) {
                        found = new Route(null, null, e.name(), e.pid(), e.hostId(), false, null, e.tcpHost(), e.tcpPort(), e.fingerprint());
                        peer = cluster.describe();
                        resolvedThere.add(name);
                    }
                } catch (IOException ex) {
                    failures.add(ex.getMessage());
                }
            }
            for (String p : peers) {
                if (found != null) break;
                try {
                    found = PeerClient.query(p, name, advertiseHost, identity.hostId(), identity.fingerprint());
                    if (found != null && !found.peerHostId().equals(identity.hostId())) {
                        peer = p;
                        break;
                    }
                    found = null;
                } catch (IOException e) {
                    failures.add(e.getMessage());
                }
            }
            Lookup result = new Lookup(found, peer, failures);
            loop.execute(() -> answer.accept(result));
        });
    }

    /** Tells every peer daemon (each on a virtual thread) and the cluster that endpoint {@code name} listens on this host now. */
    void tellListening(String name) {
        Registry.Entry r = registry.get(name);
        if (cluster != null && r != null) {
            listeningHere.add(name);
            ClusterDirectory.Entry e = new ClusterDirectory.Entry(name, identity.hostId(), r.tcpHost, r.tcpPort, r.owner.pid, identity.fingerprint());
            Thread.ofVirtual().name("fabled-cluster-publish").start(() -> {
                // an endpoint that moved here may still be held by its old host for a moment (until that host's
                // daemon withdraws it): try for a while before saying it is reachable here only
                IOException last = null;
                for (int attempt = 0; attempt < PUBLISH_ATTEMPTS; attempt++) {
                    try {
                        cluster.publish(e);
                        if (!listeningHere.contains(name)) cluster.withdraw(name);   // withdrawn while this thread published
                        return;
                    } catch (IOException ex) {
                        last = ex;
                        try {
                            Thread.sleep(PUBLISH_RETRY_MILLIS);   // a retry interval on a virtual thread of its own, not a synchronisation
                        } catch (InterruptedException interrupted) {
                            return;
                        }
                    }
                    if (!listeningHere.contains(name)) return;   // gone meanwhile
                }
                LOG.log(WARNING, "could not publish '" + name + "' in " + cluster.describe() + ": " + last.getMessage()
                        + "; it is reachable on this host only");
            });
        }
        for (String p : peers) {
            Thread.ofVirtual().name("fabled-peer-notice").start(() -> {
                try {
                    PeerClient.notice(p, name, advertiseHost, identity.hostId());
                } catch (IOException e) {
                    LOG.log(WARNING, "could not tell peer daemon " + p + " that '" + name + "' listens here: " + e.getMessage());
                }
            });
        }
    }

    /** A peer's route is used: its host's certificate passes this host's client check from now on. */
    void learned(String fingerprint) {
        knownFingerprints.add(fingerprint);
    }

    /** KNOWN_HOST: is this certificate this host's or a peer's. */
    void knownHost(Session s, KnownHost kh) throws IOException {
        boolean known = knownFingerprints.contains(kh.fingerprint()) || (cluster != null && cluster.knownHost(kh.fingerprint()));
        sessions.reply(s, known ? new Ok(kh.id())
                : new Fail(kh.id(), Wire.E_NOT_FOUND, "certificate " + kh.fingerprint() + " is not this host's nor a peer's"));
    }

    private void peerResolve(Session s, PeerResolve pr) throws IOException {
        if (!learnPeerHost(s, pr)) {   // a stranger learns nothing: which names listen here, their ports, pids and our fingerprint
            sessions.reject(s, Wire.E_BAD_REQUEST, "PEER_RESOLVE from an address that is not a peer in fable.daemon.peers " + peers);
            return;
        }
        Registry.Entry e = registry.get(pr.name());
        if (e == null || !e.listening) {
            sessions.reply(s, new Fail(pr.id(), Wire.E_NOT_FOUND, "host " + identity.hostId() + " has no listening endpoint '" + pr.name() + "'"));
            return;
        }
        sessions.reply(s, new RouteReply(pr.id(), new Route(null, null, e.name, e.owner.pid, identity.hostId(), false, null, e.tcpHost, e.tcpPort,
                identity.fingerprint())));
    }

    /**
     * A configured peer asked: remember its certificate, so tls connections from its host's
     * endpoints pass this host's client check ({@code KNOWN_HOST}). Only from the address of a
     * peer in {@code fable.daemon.peers}: false for anyone else, whose question is then refused (the
     * peer link itself is plain TCP, so configure peers only on networks you control; docs/naming.md).
     */
    private boolean learnPeerHost(Session s, PeerResolve pr) {
        String from = configuredPeerAddress(s, "asking for '" + pr.name() + "'");
        if (from == null) return false;
        if (knownFingerprints.add(pr.askerFingerprint())) {
            LOG.log(INFO, "peer host " + printable(pr.askerHostId()) + " at " + from + " is known now (certificate sha256 "
                    + pr.askerFingerprint().substring(0, Math.min(16, pr.askerFingerprint().length())) + "…)");
        }
        return true;
    }

    /** The address {@code s} comes from if it is one of a peer in {@code fable.daemon.peers}, else null. */
    private String configuredPeerAddress(Session s, String doing) {
        try {
            InetAddress from = ((InetSocketAddress) s.channel.getRemoteAddress()).getAddress();
            for (String p : peers) {
                String host = p.substring(0, Math.max(0, p.lastIndexOf(':')));
                for (InetAddress a : InetAddress.getAllByName(host)) {
                    if (a.equals(from)) return from.getHostAddress();
                }
            }
        } catch (IOException | RuntimeException e) {
            LOG.log(WARNING, "could not check the address of a peer daemon " + doing + ": " + e);
        }
        return null;
    }

    /**
     * The migration policy from another host: a configured peer says endpoint {@code name} listens
     * there now; this daemon's clients with connections to it ask for their route again. Anyone else
     * is refused: the peer port is plain TCP, and each notice makes every client re-resolve.
     */
    private void peerListening(Session s, PeerListening pl) throws IOException {
        String from = configuredPeerAddress(s, "saying where '" + printable(pl.name()) + "' listens");
        if (from == null) {
            sessions.reject(s, Wire.E_BAD_REQUEST, "PEER_LISTENING from an address that is not a peer in fable.daemon.peers " + peers);
            return;
        }
        try {
            NamingConfig.checkName(pl.name());
        } catch (IllegalArgumentException e) {
            sessions.reject(s, Wire.E_BAD_REQUEST, e.getMessage());
            return;
        }
        sessions.reply(s, new Ok(pl.id()));
        if (pl.hostId().equals(identity.hostId())) return;
        String host = printable(pl.hostId());
        LOG.log(INFO, "peer host " + host + " says endpoint '" + pl.name() + "' listens there (from " + from + ")");
        migration.listensOnPeer(host, pl.name());
    }

    /** A peer's free text for the log and for clients: printable ASCII, at most 64 characters. */
    private static String printable(String text) {
        String t = text.length() > 64 ? text.substring(0, 64) + "…" : text;
        return t.replaceAll("[^\\x20-\\x7E…]", "?");
    }
}
