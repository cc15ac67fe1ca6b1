package dev.fable.daemon;

import dev.fable.daemon.cluster.ClusterDirectory;
import dev.fable.naming.NamingConfig;
import dev.fable.naming.protocol.Message;
import dev.fable.naming.protocol.Message.*;
import dev.fable.naming.protocol.Wire;
import dev.fable.transport.tls.HostIdentity;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

import static java.lang.System.Logger.Level.INFO;
import static java.lang.System.Logger.Level.WARNING;

/**
 * {@code fabled}: the per-host, per-user name daemon. One thread, the loop thread ({@link EventLoop}, the
 * one that calls {@link #run}), runs a selector over the Unix socket and every client (the daemon listens
 * on no network port); nothing it does blocks on a client (replies queue per client, bounded). Lookups in
 * the cluster directory ({@code fable.zookeeper}) run on virtual threads and post their answers back to the loop. A name lives as
 * long as the control connection of the process that registered it. Every client the daemon closes is
 * logged with the reason.
 *
 * <p>This class is the configuration and the wiring: it hands each message and each turn of the loop to
 * the part whose job it is ({@code package-info} lists them); all of them are loop thread only. Other
 * threads only {@link #close()} the daemon or {@link #stopAndWait()}.
 */
public final class NameDaemon implements AutoCloseable {
    static {
        DaemonLogging.install();   // before the first record: every log line has its time and level
    }

    private static final System.Logger LOG = System.getLogger(NameDaemon.class.getName());

    private final Path runtimeDir;
    private final Path socketPath;
    private final HostIdentity identity;
    private final String advertiseHost;
    private final long idleExitNanos;
    private final DaemonLock lock;
    private final EventLoop loop;
    private final ClientSessions sessions;
    private final NameRequests names;
    private final ClusterLinks clusterLinks;
    private final TrustAndMigration policies;
    private final FlowCollector flows;
    private final SwitchOrders orders;
    private final Sweeper sweeper;
    private final Refusals refusals;
    private final CountDownLatch stopped = new CountDownLatch(1);

    /**
     * Takes the daemon lock in {@code runtimeDir}, loads or creates the host identity and binds the
     * sockets. Fails if another daemon holds the lock.
     *
     * @param runtimeDir        the runtime directory: the daemon's socket {@code fabled.sock} and lock {@code fabled.lock}
     * @param stateDir          where the host identity is kept (created on the first start)
     * @param advertiseHost     the address endpoints' TCP listeners bind to and advertise
     * @param policy            the transport policy at the start ({@code fable trust} replaces it while running)
     * @param maxNamesPerClient names one client may register; a client registering more is closed
     * @param maxClients        connections kept open at most on the Unix socket; more are refused
     * @param idleExitSeconds   exit after this long without clients and names; 0: never
     * @throws IOException if the runtime directory is refused or a socket cannot be bound
     * @throws IllegalStateException if another daemon holds the lock of {@code runtimeDir}
     * @throws dev.fable.FableException if the host identity cannot be loaded or created
     */
    public NameDaemon(Path runtimeDir, Path stateDir, String advertiseHost, TransportPolicy policy, int maxNamesPerClient, int maxClients, long idleExitSeconds) throws IOException {
        ContentionPolicy contention = new ContentionPolicy(ContentionPolicy.Settings.fromConfig());
        this.runtimeDir = runtimeDir;
        this.socketPath = NamingConfig.daemonSocket(runtimeDir);
        this.advertiseHost = advertiseHost;
        this.idleExitNanos = TimeUnit.SECONDS.toNanos(idleExitSeconds);
        lock = DaemonLock.take(runtimeDir, socketPath);
        try {
            identity = HostKeys.loadOrCreate(stateDir);
            if (Files.deleteIfExists(socketPath)) LOG.log(INFO, "removed the stale socket " + socketPath + " of a daemon that is gone");
            loop = new EventLoop();
            sessions = new ClientSessions(loop.selector(), socketPath, advertiseHost, maxClients, identity, this::dispatch, this::closed);
        } catch (IOException | RuntimeException e) {
            lock.release();
            throw e;
        }
        Registry registry = new Registry();
        policies = new TrustAndMigration(sessions, identity.hostId(), policy);
        refusals = new Refusals(sessions);
        ClusterDirectory cluster;
        try {
            cluster = clusterDirectory(identity, advertiseHost);
        } catch (IOException | RuntimeException e) {
            sessions.closeAll("daemon not starting");
            sessions.closeServers();
            lock.release();
            throw e;
        }
        clusterLinks = new ClusterLinks(sessions, registry, policies, identity, cluster, loop);
        names = new NameRequests(sessions, registry, policies, clusterLinks, identity, socketPath, maxNamesPerClient);
        flows = new FlowCollector(sessions);
        orders = new SwitchOrders(sessions, flows, contention);
        sweeper = new Sweeper(sessions, registry, idleExitNanos);
    }

    /**
     * The cluster directory {@code fable.zookeeper} names (a connect string), from the provider on the path
     * ({@code fable-zookeeper}); null when the setting is absent.
     */
    private static ClusterDirectory clusterDirectory(HostIdentity identity, String advertiseHost) throws IOException {
        String connect = NamingConfig.get("fable.zookeeper");
        if (connect == null || connect.isBlank()) return null;
        ClusterDirectory.Provider p = dev.fable.daemon.cluster.ClusterProviders.find(NamingConfig.get("fable.zookeeper.lib"));
        if (p == null) {
            throw new IllegalArgumentException("fable.zookeeper is set (" + connect + ") but no cluster directory is on the daemon's path: "
                    + "add the fable-zookeeper module and its libraries (or point fable.zookeeper.lib at them; ./fable does), or remove the setting");
        }
        return p.open(connect.trim(), new ClusterDirectory.Host(identity.hostId(), advertiseHost, identity.fingerprint()), NamingConfig::get);
    }

    /**
     * A daemon configured from system properties and environment (see {@code docs/naming.md}).
     *
     * @param foreground {@code true} for a daemon run by hand ({@code fable daemon}: by default it never exits
     *                   when idle), {@code false} for one the library started (by default it exits after 60 s idle);
     *                   {@code fable.daemon.idleExitSeconds} overrides both
     * @return the daemon, bound and ready to {@link #run()}
     * @throws IOException if the runtime directory is refused or a socket cannot be bound
     * @throws IllegalArgumentException if a setting is malformed (a trusted network, a policy override, a number)
     * @throws IllegalStateException if another daemon serves the runtime directory
     */
    public static NameDaemon fromConfig(boolean foreground) throws IOException {
        String trusted = NamingConfig.get("fable.trusted.networks", "127.0.0.0/8");
        List<Cidr> trustedNetworks;
        try {
            trustedNetworks = Cidr.parseList(trusted);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("fable.trusted.networks: " + e.getMessage(), e);
        }
        TransportPolicy policy = new TransportPolicy(trustedNetworks, NamingConfig.get("fable.policy.local"),
                NamingConfig.get("fable.policy.remote"));
        for (String removed : new String[] {"fable.daemon.peers", "fable.daemon.port"}) {
            if (NamingConfig.get(removed) != null) {
                throw new IllegalArgumentException(removed + " is set, but the peer-daemon protocol it configured (plain TCP, no authentication) "
                        + "was removed: run every host's daemon with fable.zookeeper=CONNECT_STRING on one ZooKeeper ensemble (docs/cluster.md) "
                        + "and remove the setting");
            }
        }
        long idle = NamingConfig.getLong("fable.daemon.idleExitSeconds", foreground ? 0 : 60);
        return new NameDaemon(NamingConfig.runtimeDir(), HostIdentity.defaultDirectory(),
                NamingConfig.get("fable.host.address", "127.0.0.1"), policy, (int) NamingConfig.getLong("fable.daemon.maxNamesPerClient", 4096),
                (int) NamingConfig.getLong("fable.daemon.maxClients", 1024), idle);
    }

    /**
     * Runs a daemon in the foreground; {@code --autostarted} marks one the library spawned (exits when idle).
     * The ready line goes to stdout, where a parent process waits for it; an auto-started daemon's stdout is
     * its log file, so there the line is logged instead (every log line has its time and level).
     * Exits with status 2 if the daemon cannot start, 0 when it stops.
     *
     * @param args {@code --autostarted} as the first argument for a daemon the library spawned; nothing else is read
     */
    public static void main(String[] args) {
        boolean autostarted = args.length > 0 && args[0].equals("--autostarted");
        NameDaemon d;
        try {
            d = fromConfig(!autostarted);
        } catch (IOException | RuntimeException e) {
            LOG.log(WARNING, "cannot start: " + e.getMessage());
            System.exit(2);
            return;
        }
        Runtime.getRuntime().addShutdownHook(new Thread(d::stopAndWait, "fabled-shutdown"));
        String ready = "fabled ready on " + d.socketPath() + " pid " + ProcessHandle.current().pid();
        if (autostarted) {
            LOG.log(INFO, ready);
        } else {
            System.out.println(ready);
            System.out.flush();
        }
        d.run();
        System.exit(0);
    }

    /**
     * The daemon's Unix socket, which clients connect to.
     *
     * @return {@code <runtime dir>/fabled.sock}
     */
    public Path socketPath() {
        return socketPath;
    }

    /** For a shutdown hook: stops the loop and waits (bounded) until it removed its socket and released its lock. */
    public void stopAndWait() {
        close();
        try {
            if (!stopped.await(2, TimeUnit.SECONDS)) Files.deleteIfExists(socketPath);
        } catch (InterruptedException | IOException e) {
            // exiting anyway
        }
    }

    /** Serves until {@link #close()} or the idle timeout; the calling thread becomes the loop thread. */
    public void run() {
        LOG.log(INFO, "serving " + socketPath + " as " + identity + ", advertise " + advertiseHost
                + (clusterLinks.any() ? ", names of other hosts from " + clusterLinks.where() : "")
                + (idleExitNanos > 0 ? ", exits after " + TimeUnit.NANOSECONDS.toSeconds(idleExitNanos) + " s idle" : ""));
        loop.run(next -> orders.wakeAt(flows.wakeAt(names.wakeAt(next))), sessions::handleKey, this::housekeeping);
        shutdown();
    }

    private void housekeeping(long now) throws IOException {
        orders.contentionRound(now);
        names.expireWaiters(now);
        flows.expire(now);
        if (sweeper.sweep(now)) loop.stop();
    }

    /** Where each message of a connection goes (HELLO is {@link ClientSessions}'). */
    private void dispatch(Session s, Message m) throws IOException {
        switch (m) {
            case Register r -> names.register(s, r);
            case Listening l -> names.listening(s, l);
            case Unregister u -> names.unregister(s, u);
            case Resolve r -> names.resolve(s, r);
            case NamesRequest n -> names.names(s, n);
            case StatsRequest st -> names.stats(s, st);
            case FlowsRequest f -> flows.request(s, f);
            case FlowReport f -> flows.report(s, f);
            case Reconfigure r -> orders.reconfigure(s, r);
            case Ok o when orders.awaits(o.id()) -> orders.answered(s, o.id(), null);
            case Fail f when orders.awaits(f.id()) -> orders.answered(s, f.id(), f.text());
            case Trust t -> policies.trust(s, t);
            case KnownHost kh -> clusterLinks.knownHost(s, kh);
            case TrustedAddress ta -> policies.trustedAddress(s, ta);
            case TrustListRequest q -> policies.list(s, q);
            case Refused r -> refusals.refused(s, r);
            case RefusalsRequest q -> refusals.list(s, q);
            case Hello h -> sessions.reject(s, Wire.E_BAD_REQUEST, "HELLO sent twice");
            default -> sessions.reject(s, Wire.E_BAD_REQUEST, "a client may not send " + m.getClass().getSimpleName());
        }
    }

    /** A connection closed (its close is logged): its names, its shared memory if its process died, its orders, the tables it owed. */
    private void closed(Session s, String reason) {
        names.release(s);
        sweeper.closed(s);
        orders.forget(s, reason);
        flows.forget(s);
    }

    /** Stops the loop (from any thread); the loop closes everything and releases the socket and lock. */
    @Override
    public void close() {
        loop.stop();
    }

    private void shutdown() {
        sessions.closeAll("daemon stopping");
        clusterLinks.close();
        try {
            loop.close();
            sessions.closeServers();
            Files.deleteIfExists(socketPath);
            lock.release();
        } catch (IOException e) {
            LOG.log(WARNING, "cleaning up " + runtimeDir + ": " + e);
        }
        LOG.log(INFO, "stopped");
        stopped.countDown();
    }
}
