package dev.fable.daemon;

import dev.fable.daemon.cluster.ClusterDirectory;
import dev.fable.naming.protocol.Message.Fail;
import dev.fable.naming.protocol.Message.KnownHost;
import dev.fable.naming.protocol.Message.Ok;
import dev.fable.naming.protocol.Route;
import dev.fable.naming.protocol.Wire;
import dev.fable.transport.tls.HostIdentity;

import java.io.IOException;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Executor;
import java.util.function.Consumer;

import static java.lang.System.Logger.Level.INFO;
import static java.lang.System.Logger.Level.WARNING;

/**
 * This daemon's link to the cluster directory ({@code fable.zookeeper}, {@link ClusterDirectory}), the only way names
 * travel between hosts (the daemon listens on no network port): looks names of other hosts up there for waiting
 * resolves ({@link #lookup}), publishes the names that listen here ({@link #tellListening}) and withdraws them
 * ({@link #withdrawn}), turns the directory's "another host publishes this name now" into a migration notice for
 * {@link TrustAndMigration}, and answers which hosts' certificates are known (this host's, and those of hosts live
 * in the cluster: KNOWN_HOST).
 *
 * <p>Loop thread only, except the lookups and publications themselves: each runs on a virtual thread of its own,
 * reads only final fields, immutable values and the concurrent set {@code listeningHere}, and hands its result
 * back through the loop's executor (a task the loop thread runs).
 */
final class ClusterLinks {
    private static final System.Logger LOG = System.getLogger(ClusterLinks.class.getName());
    /** Publishing a name in the cluster: tries, and the pause between them (an old host withdraws a moved name within ~1 s). */
    private static final int PUBLISH_ATTEMPTS = 20;
    private static final long PUBLISH_RETRY_MILLIS = 250;

    /** What the cluster said about a name: its route ({@code found}, null if no other host has it), or why it could not say. */
    record Lookup(Route found, String failure) {}

    private final ClientSessions sessions;
    private final Registry registry;
    private final TrustAndMigration migration;
    private final HostIdentity identity;
    private final Executor loop;
    private final ClusterDirectory cluster;   // fable.zookeeper: the shared directory, or null (this host alone)
    private final Set<String> resolvedThere = ConcurrentHashMap.newKeySet();   // names found in the cluster
    // names that listen here, for the cluster's publishing threads (the registry is the loop thread's alone)
    private final Set<String> listeningHere = ConcurrentHashMap.newKeySet();

    /**
     * @param cluster the cluster directory, or null: names of other hosts are never found
     * @param loop    runs a task on the loop thread (and wakes it)
     */
    ClusterLinks(ClientSessions sessions, Registry registry, TrustAndMigration migration, HostIdentity identity,
                 ClusterDirectory cluster, Executor loop) {
        this.sessions = sessions;
        this.registry = registry;
        this.migration = migration;
        this.identity = identity;
        this.loop = loop;
        this.cluster = cluster;
        if (cluster != null) cluster.onPublished(this::publishedElsewhere);
    }

    /** True if names can be looked up beyond this host (a cluster directory is configured). */
    boolean any() {
        return cluster != null;
    }

    /** For messages: where names of other hosts are looked up. */
    String where() {
        return cluster != null ? cluster.describe() : "nowhere (no fable.zookeeper)";
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

    /** Looks {@code name} up in the cluster on a virtual thread; {@code answer} gets the result on the loop thread. Only if {@link #any()}. */
    void lookup(String name, Consumer<Lookup> answer) {
        Thread.ofVirtual().name("fabled-cluster-lookup").start(() -> {
            Route found = null;
            String failure = null;
            try {
                ClusterDirectory.Entry e = cluster.lookup(name);
                if (e != null && !e.hostId().equals(identity.hostId())) {
                    found = new Route(null, null, e.name(), e.pid(), e.hostId(), false, null, e.tcpHost(), e.tcpPort(), e.fingerprint());
                    resolvedThere.add(name);
                }
            } catch (IOException ex) {
                failure = ex.getMessage();
            }
            Lookup result = new Lookup(found, failure);
            loop.execute(() -> answer.accept(result));
        });
    }

    /** Publishes in the cluster (on a virtual thread) that endpoint {@code name} listens on this host now. */
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
    }

    /** KNOWN_HOST: is this certificate this host's or that of a host live in the cluster. */
    void knownHost(Session s, KnownHost kh) throws IOException {
        boolean known = identity.fingerprint().equals(kh.fingerprint()) || (cluster != null && cluster.knownHost(kh.fingerprint()));
        sessions.reply(s, known ? new Ok(kh.id())
                : new Fail(kh.id(), Wire.E_NOT_FOUND, "certificate " + kh.fingerprint() + " is not this host's nor a live cluster host's"));
    }

    /** Another host's free text for the log and for clients: printable ASCII, at most 64 characters. */
    private static String printable(String text) {
        String t = text.length() > 64 ? text.substring(0, 64) + "…" : text;
        return t.replaceAll("[^\\x20-\\x7E…]", "?");
    }
}
