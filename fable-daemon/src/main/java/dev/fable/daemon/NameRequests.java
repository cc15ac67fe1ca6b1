package dev.fable.daemon;

import dev.fable.naming.NamingConfig;
import dev.fable.naming.protocol.Message;
import dev.fable.naming.protocol.Message.Fail;
import dev.fable.naming.protocol.Message.Listening;
import dev.fable.naming.protocol.Message.NamesRequest;
import dev.fable.naming.protocol.Message.Ok;
import dev.fable.naming.protocol.Message.Register;
import dev.fable.naming.protocol.Message.Resolve;
import dev.fable.naming.protocol.Message.RouteReply;
import dev.fable.naming.protocol.Message.Stats;
import dev.fable.naming.protocol.Message.StatsRequest;
import dev.fable.naming.protocol.Message.Unregister;
import dev.fable.naming.protocol.Messages;
import dev.fable.naming.protocol.Route;
import dev.fable.naming.protocol.Wire;
import dev.fable.transport.tls.HostIdentity;

import java.io.IOException;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import java.util.function.Function;

import static java.lang.System.Logger.Level.WARNING;

/**
 * Names and routes, the registry's requests: REGISTER (at most {@code fable.daemon.maxNamesPerClient}
 * names per client), LISTENING, UNREGISTER, NAMES, RESOLVE and STATS, on the {@link Registry}. A name
 * lives as long as the connection that registered it ({@link #release}). A resolve of a name that does
 * not listen here yet waits (at most {@link #MAX_WAITERS_PER_CLIENT} per client) until a LISTENING
 * publishes it, the cluster has it on another host ({@link ClusterLinks#lookup}, asked again every
 * {@link #CLUSTER_POLL_NANOS}) or its deadline passes. The transport of a route is the trust policy's
 * ({@link TrustAndMigration#choose}); a name that listens here now also triggers the migration policy.
 *
 * <p>Loop thread only; cluster lookups answer through a task on the loop thread.
 */
final class NameRequests {
    private static final System.Logger LOG = System.getLogger(NameRequests.class.getName());

    static final long CLUSTER_POLL_NANOS = TimeUnit.MILLISECONDS.toNanos(100);
    /** Resolves one client may have waiting at once; more is a flood. */
    static final int MAX_WAITERS_PER_CLIENT = 4096;

    private final ClientSessions sessions;
    private final Registry registry;
    private final TrustAndMigration policies;
    private final ClusterLinks cluster;
    private final HostIdentity identity;
    private final Path socketPath;
    private final int maxNamesPerClient;

    NameRequests(ClientSessions sessions, Registry registry, TrustAndMigration policies, ClusterLinks cluster, HostIdentity identity,
                 Path socketPath, int maxNamesPerClient) {
        this.sessions = sessions;
        this.registry = registry;
        this.policies = policies;
        this.cluster = cluster;
        this.identity = identity;
        this.socketPath = socketPath;
        this.maxNamesPerClient = maxNamesPerClient;
    }

    void register(Session s, Register r) throws IOException {
        try {
            NamingConfig.checkName(r.name());
        } catch (IllegalArgumentException e) {
            sessions.reply(s, new Fail(r.id(), Wire.E_BAD_REQUEST, e.getMessage()));
            return;
        }
        Registry.Entry held = registry.get(r.name());
        if (held != null) {
            String who = held.owner == s ? "this process (pid " + s.pid + ")" : "pid " + held.owner.pid;
            sessions.reply(s, new Fail(r.id(), Wire.E_NAME_IN_USE, "endpoint name '" + r.name() + "' is already registered by " + who
                    + " with the daemon at " + socketPath + "; pick another name or stop that process"));
            return;
        }
        if (s.names.size() >= maxNamesPerClient) {
            sessions.reject(s, Wire.E_LIMIT, "registered more than " + maxNamesPerClient + " names (fable.daemon.maxNamesPerClient)");
            return;
        }
        registry.put(new Registry.Entry(r.name(), s));
        s.names.add(r.name());
        sessions.reply(s, new Ok(r.id()));
    }

    /** The name listens: answer its waiting resolves, then tell this host's clients and the cluster (migration). */
    void listening(Session s, Listening l) throws IOException {
        Registry.Entry e = registry.get(l.name());
        if (e == null || e.owner != s) {
            sessions.reply(s, new Fail(l.id(), Wire.E_NOT_FOUND, "'" + l.name() + "' is not registered by this process; register it first"));
            return;
        }
        e.unixPath = l.unixPath();
        e.tcpHost = l.tcpHost();
        e.tcpPort = l.tcpPort();
        e.listening = true;
        sessions.reply(s, new Ok(l.id()));
        for (Registry.Waiter w : registry.takeWaiters(l.name())) {
            answerLocal(w, e);
        }
        policies.listensHere(l.name(), s.pid);
        cluster.tellListening(l.name());
    }

    void unregister(Session s, Unregister u) throws IOException {
        Registry.Entry e = registry.get(u.name());
        if (e != null && e.owner == s) {
            registry.remove(u.name());
            s.names.remove(u.name());
            if (e.listening) cluster.withdrawn(u.name());
            sessions.reply(s, new Ok(u.id()));
        } else {
            sessions.reply(s, new Fail(u.id(), Wire.E_NOT_FOUND, "'" + u.name() + "' is not registered by this process"));
        }
    }

    void names(Session s, NamesRequest n) throws IOException {
        sessions.send(s, Messages.encodeNames(n.id(), registry.list(identity.hostId())));
    }

    /**
     * STATS: used heap from the {@link java.lang.management.MemoryMXBean}, as it is. Only a request that
     * asks to settle gets two full GCs first (a capacity test comparing figures); a plain one forces
     * none, so a client polling STATS cannot make the daemon collect on every request. Only this user's
     * processes reach the Unix socket (the daemon has no other door).
     */
    void stats(Session s, StatsRequest st) throws IOException {
        if (st.settle()) {
            System.gc();
            System.gc();
        }
        long used = java.lang.management.ManagementFactory.getMemoryMXBean().getHeapMemoryUsage().getUsed();
        sessions.reply(s, new Stats(st.id(), used, registry.size(), sessions.size(), registry.waiterCount()));
    }

    /** A closed connection's names go (its waiting resolves are dropped as they come up). */
    void release(Session s) {
        for (String n : s.names) {
            Registry.Entry e = registry.remove(n);
            if (e != null && e.listening) cluster.withdrawn(n);
        }
        s.names.clear();
    }

    void resolve(Session s, Resolve r) throws IOException {
        Registry.Entry e = registry.get(r.name());
        if (e != null && e.listening) {
            Registry.Waiter w = new Registry.Waiter(s, r, 0);
            answerLocal(w, e);
            return;
        }
        long now = System.nanoTime();
        if (s.waiting >= MAX_WAITERS_PER_CLIENT) {
            sessions.reject(s, Wire.E_LIMIT, "has more than " + MAX_WAITERS_PER_CLIENT + " resolves waiting at once");
            return;
        }
        Registry.Waiter w = new Registry.Waiter(s, r, now + TimeUnit.MILLISECONDS.toNanos(Math.min(r.waitMillis(), TimeUnit.DAYS.toMillis(365))));
        if (!cluster.any() && r.waitMillis() == 0) {
            sessions.reply(s, notFound(r, e));
            return;
        }
        registry.addWaiter(w);
        if (cluster.any()) askCluster(w);
    }

    private Fail notFound(Resolve r, Registry.Entry e) {
        String state = e != null ? "'" + r.name() + "' is registered (pid " + e.owner.pid + ") but not listening yet"
                : "no endpoint is registered as '" + r.name() + "'";
        return new Fail(r.id(), Wire.E_NOT_FOUND, state + " with the daemon at " + socketPath
                + (cluster.any() ? " or " + cluster.where() : "") + (r.waitMillis() > 0 ? " within " + r.waitMillis() + " ms" : ""));
    }

    private void answerLocal(Registry.Waiter w, Registry.Entry e) throws IOException {
        if (w.answered || w.session.closed) return;
        w.answered = true;
        sessions.reply(w.session, route(w.request, true, e.tcpHost, d -> new Route(d.transport(), d.reason(), e.name, e.owner.pid,
                identity.hostId(), true, e.unixPath, e.tcpHost, e.tcpPort, identity.fingerprint())));
    }

    /** The route the policy chooses for {@code r}, or why it refuses. */
    private Message route(Resolve r, boolean sameHost, String tcpHost, Function<TransportPolicy.Decision, Route> route) {
        try {
            return new RouteReply(r.id(), route.apply(policies.choose(sameHost, r.trusted(), r.forcedTransport(), tcpHost)));
        } catch (TransportPolicy.Refused ex) {
            return new Fail(r.id(), Wire.E_POLICY, "cannot connect to '" + r.name() + "': " + ex.getMessage());
        }
    }

    private void askCluster(Registry.Waiter w) {
        w.lookupInFlight = true;
        cluster.lookup(w.request.name(), l -> clusterAnswer(w, l));
    }

    private void clusterAnswer(Registry.Waiter w, ClusterLinks.Lookup l) {
        w.lookupInFlight = false;
        w.nextLookupNanos = System.nanoTime() + CLUSTER_POLL_NANOS;
        if (w.answered || w.session.closed) {
            registry.removeWaiter(w);
            return;
        }
        if (l.failure() != null && !l.failure().equals(w.lookupFailure)) LOG.log(WARNING, "cluster lookup of '" + w.request.name() + "': " + l.failure());
        w.lookupFailure = l.failure();
        try {
            Route found = l.found();
            if (found != null) {
                w.answered = true;
                registry.removeWaiter(w);
                Resolve r = w.request;
                Message answer;
                if (found.tcpPort() <= 0 || found.tcpHost() == null) {
                    answer = new Fail(r.id(), Wire.E_POLICY, "endpoint '" + r.name() + "' on host " + found.peerHostId() + " (in " + cluster.where()
                            + ") listens on no TCP port, so it cannot be reached from this host");
                } else {
                    answer = route(r, false, found.tcpHost(), d -> new Route(d.transport(), d.reason(), found.peerName(), found.peerPid(),
                            found.peerHostId(), false, null, found.tcpHost(), found.tcpPort(), found.peerCertFingerprint()));
                }
                sessions.reply(w.session, answer);
            } else if (System.nanoTime() - w.deadlineNanos >= 0) {
                answerNotFound(w);
            }
        } catch (IOException e) {
            sessions.close(w.session, "connection error: " + e.getMessage());
        }
    }

    /** The waiter's time is up: not found (here, nor in the cluster). */
    private void answerNotFound(Registry.Waiter w) throws IOException {
        w.answered = true;
        registry.removeWaiter(w);
        Fail f = notFound(w.request, registry.get(w.request.name()));
        sessions.reply(w.session, w.lookupFailure == null ? f : new Fail(f.id(), f.code(), f.text() + "; " + w.lookupFailure));
    }

    /** Answers the waiting resolves whose deadline passed; asks the cluster again for the others when it is time. */
    void expireWaiters(long now) throws IOException {
        if (registry.waiterCount() == 0) return;
        for (Registry.Waiter w : registry.waiters()) {
            if (w.answered || w.session.closed) {
                registry.removeWaiter(w);
            } else if (now - w.deadlineNanos >= 0 && !w.lookupInFlight) {
                answerNotFound(w);
            } else if (cluster.any() && !w.lookupInFlight && now - w.nextLookupNanos >= 0) {
                askCluster(w);
            }
        }
    }

    /** The earlier of {@code next} and the first waiting resolve's deadline or next cluster lookup. */
    long wakeAt(long next) {
        for (Registry.Waiter w : registry.waiters()) {
            next = Math.min(next, w.deadlineNanos);
            if (cluster.any() && !w.lookupInFlight) next = Math.min(next, w.nextLookupNanos);
        }
        return next;
    }
}
