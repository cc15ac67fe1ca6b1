package dev.fable.zookeeper;

import dev.fable.daemon.cluster.ClusterDirectory;
import dev.fable.naming.NamingConfig;
import org.apache.curator.framework.CuratorFramework;
import org.apache.curator.framework.CuratorFrameworkFactory;
import org.apache.curator.framework.recipes.cache.ChildData;
import org.apache.curator.framework.recipes.cache.CuratorCache;
import org.apache.curator.framework.recipes.cache.CuratorCacheListener;
import org.apache.curator.framework.state.ConnectionState;
import org.apache.curator.retry.ExponentialBackoffRetry;
import org.apache.zookeeper.CreateMode;
import org.apache.zookeeper.KeeperException;
import org.apache.zookeeper.ZooDefs;
import org.apache.zookeeper.data.ACL;
import org.apache.zookeeper.data.Stat;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;
import java.util.function.UnaryOperator;
import java.util.regex.Pattern;

/**
 * A {@link ClusterDirectory} in a ZooKeeper ensemble, through Apache Curator.
 *
 * <h2>The tree</h2>
 * Under the root ({@code fable.zookeeper.root}, default {@code /fable}):
 * <pre>
 * /fable/hosts/HOST               container, created by HOST: ACL HOST all, everyone read (with credentials)
 * /fable/hosts/HOST/live          ephemeral: "v1", address=A, fingerprint=F (HOST's certificate SHA-256), load=L (its
 *                                 1-minute load average, refreshed every {@value #LOAD_PERIOD_MILLIS} ms)
 * /fable/hosts/HOST/names         container
 * /fable/hosts/HOST/names/NAME    ephemeral: "v1", address=A, port=P, pid=N, fingerprint=F
 * </pre>
 * A hierarchical name ({@code orders.eu/ledger}) is a path below {@code names}: its leading segments are
 * containers (HOST's ACL, removed by ZooKeeper once empty), its last the ephemeral entry. So one host cannot hold
 * both a name and a longer one below it ({@code orders.eu} and {@code orders.eu/ledger}: an ephemeral node has no
 * children); two hosts can.
 * Each host writes only below its own node. ZooKeeper lets a client delete a node only with DELETE on its
 * parent, and create one only with CREATE there, so with credentials ({@code fable.zookeeper.auth}, a digest
 * {@code user:password} per host) no host can add, change or remove another's names or fingerprint: the ACL of
 * {@code /fable/hosts/HOST} gives everything to HOST's credentials and reading to everyone, {@code /fable/hosts}
 * lets everyone read and create (a new host's node), nobody else delete. Without credentials every node is
 * open (a warning is logged): any client of the ensemble could then rewrite the directory.
 *
 * <h2>Who holds a name</h2>
 * Two hosts may publish the same name at once (each under its own node). The holder is the one whose node
 * ZooKeeper created first (lowest {@code czxid}), for every reader alike; {@link #publish} refuses a name
 * another live host holds already, and withdraws its own node again when it finds it lost such a race.
 * A host's nodes are ephemeral: they vanish when its session ends (a dead host within the session timeout,
 * {@code fable.zookeeper.sessionTimeoutMillis}, default 10 s).
 *
 * <h2>What is trusted</h2>
 * Every node written by another host is parsed with limits: at most {@link #MAX_DATA} bytes, each field checked
 * (name as {@link NamingConfig#checkName}, host ids, addresses and fingerprints by pattern, port 0–65535). A node
 * that fails is ignored (logged once per path).
 *
 * <h2>Threads and outages</h2>
 * Reads come from a {@link CuratorCache} of {@code /fable/hosts} (kept by Curator's event thread), so
 * {@link #knownHost} never blocks; {@link #lookup} reads the ensemble directly when the cache has no holder.
 * While the ensemble is unreachable, lookups fail with one line naming it; when the session returns, or a new one
 * replaces an expired one, every name this host holds is published again.
 */
public final class ZooKeeperDirectory implements ClusterDirectory {
    /** Finds the directory for the daemon ({@code META-INF/services}). */
    public static final class Provider implements ClusterDirectory.Provider {
        /** For {@link java.util.ServiceLoader}. */
        public Provider() {
        }

        @Override
        public ClusterDirectory open(String connect, Host self, UnaryOperator<String> settings) throws IOException {
            return ZooKeeperDirectory.open(connect, self, settings);
        }

        @Override
        public List<HostEntry> hosts(String connect, UnaryOperator<String> settings) throws IOException {
            String root = setting(settings, "fable.zookeeper.root", "/fable");
            return ClusterView.read(connect, root, 10_000, ZooKeeperTls.clientConfig(settings));
        }
    }

    private static final System.Logger LOG = System.getLogger(ZooKeeperDirectory.class.getName());
    /** The most bytes of one node this directory reads: a few short fields. */
    static final int MAX_DATA = 1024;
    private static final String VERSION = "v1";
    static final Pattern HOST_ID = Pattern.compile("[A-Za-z0-9._-]{1,64}");
    static final Pattern ADDRESS = Pattern.compile("[A-Za-z0-9.:%\\[\\]-]{1,255}");
    static final Pattern FINGERPRINT = Pattern.compile("[0-9a-f]{64}");
    static final Pattern LOAD = Pattern.compile("[0-9]{1,6}(\\.[0-9]{1,2})?");
    /** How often a host refreshes the load in its {@code live} node. */
    static final long LOAD_PERIOD_MILLIS = 10_000;

    private final CuratorFramework zk;
    private final String connect;
    private final Host self;
    private final String root;
    private final String hostsPath;
    private final List<ACL> ownAcl;
    private final CuratorCache cache;
    private final Map<String, Entry> held = new ConcurrentHashMap<>();   // names this host published
    // publish, withdraw and each republication one at a time (control plane, on virtual threads): a withdrawal racing a
    // republication after a reconnect would otherwise be undone, and a withdrawn name stay published for the session
    private final Object writes = new Object();
    private volatile boolean closed;
    private volatile Thread loadRefresher;   // set once in open; close() may run on another thread
    private final List<Consumer<Entry>> listeners = new CopyOnWriteArrayList<>();
    private final java.util.Set<String> badPaths = ConcurrentHashMap.newKeySet();
    private volatile boolean sessionLost;

    private ZooKeeperDirectory(CuratorFramework zk, String connect, Host self, String root, List<ACL> ownAcl) {
        this.zk = zk;
        this.root = root;
        this.connect = connect;
        this.self = self;
        this.hostsPath = root + "/hosts";
        this.ownAcl = ownAcl;
        this.cache = CuratorCache.build(zk, hostsPath);
    }

    static ZooKeeperDirectory open(String connect, Host self, UnaryOperator<String> settings) throws IOException {
        String root = setting(settings, "fable.zookeeper.root", "/fable");
        if (!root.matches("(/[A-Za-z0-9._-]+)+")) {
            throw new IOException("fable.zookeeper.root must be an absolute ZooKeeper path of plain segments (like /fable), not '" + root + "'");
        }
        String auth = settings.apply("fable.zookeeper.auth");
        int sessionMs = (int) number(settings, "fable.zookeeper.sessionTimeoutMillis", 10_000, 2_000, 600_000);
        int connectMs = (int) number(settings, "fable.zookeeper.connectTimeoutMillis", 10_000, 100, 600_000);
        CuratorFrameworkFactory.Builder b = CuratorFrameworkFactory.builder().connectString(connect)
                .sessionTimeoutMs(sessionMs).connectionTimeoutMs(Math.min(connectMs, sessionMs))
                .retryPolicy(new ExponentialBackoffRetry(200, 29, 5_000))
                .zkClientConfig(ZooKeeperTls.clientConfig(settings));
        // ALL for the identities this session proved (its digest, or the certificate it presented over TLS), READ for anyone
        List<ACL> ownIdentities = List.of(new ACL(ZooDefs.Perms.ALL, ZooDefs.Ids.AUTH_IDS), new ACL(ZooDefs.Perms.READ, ZooDefs.Ids.ANYONE_ID_UNSAFE));
        List<ACL> acl;
        if (auth != null && !auth.isBlank()) {
            if (!auth.contains(":")) throw new IOException("fable.zookeeper.auth must be user:password (a ZooKeeper digest identity)");
            b.authorization("digest", auth.getBytes(StandardCharsets.UTF_8));
            acl = ownIdentities;
        } else if (ZooKeeperTls.presentsCertificate(settings)) {
            acl = ownIdentities;   // the server's X.509 provider authenticated this session by its certificate
        } else {
            LOG.log(System.Logger.Level.WARNING, "no fable.zookeeper.auth and no TLS client certificate: this host's names are open nodes in "
                    + "ZooKeeper at " + connect + "; any client of the ensemble can change them (docs/cluster.md)");
            acl = ZooDefs.Ids.OPEN_ACL_UNSAFE;
        }
        CuratorFramework zk = b.build();
        zk.start();
        ZooKeeperDirectory d = new ZooKeeperDirectory(zk, connect, self, root, acl);
        try {
            d.cache.listenable().addListener(CuratorCacheListener.builder().forCreatesAndChanges((before, after) -> d.changed(after)).build());
            d.cache.start();
            if (zk.blockUntilConnected(connectMs, TimeUnit.MILLISECONDS)) {
                d.publishHost();   // now, so that refused credentials stop the daemon with the reason
            } else {
                // the daemon serves this host meanwhile; Curator keeps trying and CONNECTED publishes this host
                LOG.log(System.Logger.Level.WARNING, "cannot reach ZooKeeper at " + connect + " within " + connectMs + " ms; serving this host "
                        + "only until it answers (names of other hosts do not resolve meanwhile)");
            }
            zk.getConnectionStateListenable().addListener((c, state) -> d.stateChanged(state));
            d.loadRefresher = Thread.ofVirtual().name("fabled-zookeeper-load").start(d::refreshLoad);
            return d;
        } catch (IOException | RuntimeException e) {
            zk.close();
            throw e;
        } catch (InterruptedException e) {
            zk.close();
            Thread.currentThread().interrupt();
            throw new IOException("interrupted while connecting to ZooKeeper at " + connect, e);
        }
    }

    private static String setting(UnaryOperator<String> settings, String key, String dflt) {
        String v = settings.apply(key);
        return v == null || v.isBlank() ? dflt : v.trim();
    }

    private static long number(UnaryOperator<String> settings, String key, long dflt, long min, long max) throws IOException {
        String v = settings.apply(key);
        if (v == null || v.isBlank()) return dflt;
        try {
            long n = Long.parseLong(v.trim());
            if (n < min || n > max) throw new NumberFormatException();
            return n;
        } catch (NumberFormatException e) {
            throw new IOException(key + " must be a number from " + min + " to " + max + ", not '" + v + "'");
        }
    }

    /** The root and {@code hosts} below it: everyone reads and creates (a host's own node), nobody but their creator deletes. */
    private void ensureRoot(String root) throws IOException {
        // not DELETE, even for the creator: deleting a child needs DELETE on its parent, so nobody removes a host's node
        List<ACL> shared = ownAcl == ZooDefs.Ids.OPEN_ACL_UNSAFE ? ownAcl
                : List.of(new ACL(ZooDefs.Perms.READ | ZooDefs.Perms.CREATE, ZooDefs.Ids.ANYONE_ID_UNSAFE),
                        new ACL(ZooDefs.Perms.READ | ZooDefs.Perms.CREATE | ZooDefs.Perms.ADMIN, ZooDefs.Ids.AUTH_IDS));
        StringBuilder p = new StringBuilder();
        for (String seg : (root + "/hosts").substring(1).split("/")) {
            p.append('/').append(seg);
            try {
                zk.create().withMode(CreateMode.PERSISTENT).withACL(shared).forPath(p.toString());
            } catch (KeeperException.NodeExistsException exists) {
                // made by another host (or earlier)
            } catch (Exception e) {
                throw failure("creating " + p, e);
            }
        }
    }

    /** The root (made if missing), this host's node, its {@code live} entry and its {@code names} container. */
    private void publishHost() throws IOException {
        ensureRoot(root);
        String host = hostsPath + "/" + self.hostId();
        try {
            for (String node : new String[] {host, host + "/names"}) {
                try {
                    zk.create().withMode(CreateMode.CONTAINER).withACL(ownAcl).forPath(node);
                } catch (KeeperException.NodeExistsException exists) {
                    // ours from before (a container outlives a session while it has children)
                }
            }
            byte[] live = liveData();
            try {
                zk.create().withMode(CreateMode.EPHEMERAL).withACL(ownAcl).forPath(host + "/live", live);
            } catch (KeeperException.NodeExistsException exists) {
                zk.setData().forPath(host + "/live", live);   // our previous session's, not yet expired
            }
        } catch (KeeperException.NoAuthException e) {
            throw new IOException("ZooKeeper at " + connect + " refused host " + self.hostId() + " its own node " + host
                    + ": another identity created it (a host id must be this host's alone; check fable.zookeeper.auth)", e);
        } catch (Exception e) {
            throw failure("publishing host " + self.hostId(), e);
        }
    }

    @Override
    public void publish(Entry e) throws IOException {
        synchronized (writes) {
            publishLocked(e);
        }
    }

    /** With {@link #writes} held: publishes {@code e} and holds it ({@link #held}). */
    private void publishLocked(Entry e) throws IOException {
        NamingConfig.checkName(e.name());
        Entry other = holderElsewhere(e.name(), true);
        if (other != null) {
            throw new IOException("'" + e.name() + "' is held by host " + other.hostId() + " (" + other.tcpHost() + ") in ZooKeeper at " + connect
                    + "; a name is one host's at a time: close it there first");
        }
        String path = namePath(self.hostId(), e.name());
        byte[] data = format(Map.of("address", e.tcpHost() == null ? "" : e.tcpHost(), "port", Integer.toString(Math.max(0, e.tcpPort())),
                "pid", Long.toString(e.pid()), "fingerprint", self.fingerprint()));
        try {
            try {
                zk.create().creatingParentContainersIfNeeded().withMode(CreateMode.EPHEMERAL).withACL(ownAcl, true).forPath(path, data);
            } catch (KeeperException.NodeExistsException exists) {
                if (zk.checkExists().forPath(path).getEphemeralOwner() == 0) {
                    throw new IOException("'" + e.name() + "' is a prefix of another name this host publishes (" + path
                            + " holds longer names): a host cannot hold both; rename one");
                }
                zk.setData().forPath(path, data);
            }
        } catch (KeeperException.NoChildrenForEphemeralsException ex) {
            throw new IOException("a prefix of '" + e.name() + "' is itself a name this host publishes: a host cannot hold both; rename one", ex);
        } catch (IOException ex) {
            throw ex;
        } catch (Exception ex) {
            throw failure("publishing '" + e.name() + "'", ex);
        }
        held.put(e.name(), e);
        Entry first = holderElsewhere(e.name(), true);   // another host published it at the same moment, before us
        if (first != null) {
            withdrawLocked(e.name());
            throw new IOException("'" + e.name() + "' was published by host " + first.hostId() + " just before this host; withdrawn here");
        }
    }

    @Override
    public void withdraw(String name) {
        synchronized (writes) {
            withdrawLocked(name);
        }
    }

    private void withdrawLocked(String name) {
        held.remove(name);
        try {
            zk.delete().forPath(namePath(self.hostId(), name));
        } catch (KeeperException.NoNodeException gone) {
            // already
        } catch (Exception e) {
            LOG.log(System.Logger.Level.WARNING, "could not withdraw '" + name + "' from ZooKeeper at " + connect + ": " + e
                    + "; it goes when this host's session ends");
        }
    }

    @Override
    public Entry lookup(String name) throws IOException {
        NamingConfig.checkName(name);
        if (!zk.getZookeeperClient().isConnected()) {
            throw new IOException("ZooKeeper at " + connect + " is unreachable" + (sessionLost ? " (this host's session expired)" : "")
                    + "; names of other hosts resolve again when it is back");
        }
        Entry e = holderElsewhere(name, false);
        return e != null ? e : holderElsewhere(name, true);
    }

    @Override
    public boolean knownHost(String fingerprint) {
        if (fingerprint == null || !FINGERPRINT.matcher(fingerprint).matches()) return false;
        for (ChildData c : cache.stream().toList()) {
            String[] p = relative(c.getPath());
            if (p.length == 2 && p[1].equals("live")) {
                Map<String, String> f = parse(c.getPath(), c.getData());
                if (f != null && fingerprint.equals(f.get("fingerprint"))) return true;
            }
        }
        return false;
    }

    @Override
    public void onPublished(Consumer<Entry> listener) {
        listeners.add(listener);
    }

    @Override
    public String describe() {
        return "ZooKeeper at " + connect;
    }

    @Override
    public void close() {
        closed = true;
        if (loadRefresher != null) loadRefresher.interrupt();
        cache.close();
        zk.close();   // ends the session: this host's ephemeral nodes go at once
    }

    /** This host's {@code live} node: its address, certificate and load now. */
    private byte[] liveData() {
        return format(Map.of("address", self.address(), "fingerprint", self.fingerprint(), "load", loadNow()));
    }

    /** The 1-minute load average from /proc/loadavg, or "0" where there is none. */
    private static String loadNow() {
        try {
            String first = java.nio.file.Files.readString(java.nio.file.Path.of("/proc/loadavg")).trim().split(" ")[0];
            return LOAD.matcher(first).matches() ? first : "0";
        } catch (java.io.IOException | RuntimeException e) {
            return "0";
        }
    }

    /** Every {@link #LOAD_PERIOD_MILLIS}: the load in this host's {@code live} node, while connected (a virtual thread's own timer). */
    private void refreshLoad() {
        while (!closed) {
            try {
                Thread.sleep(LOAD_PERIOD_MILLIS);   // a period, not a synchronisation
                if (zk.getZookeeperClient().isConnected()) zk.setData().forPath(hostsPath + "/" + self.hostId() + "/live", liveData());
            } catch (InterruptedException e) {
                return;
            } catch (Exception e) {
                // not connected, or the node is being made again after an expiry: the next period tries again
            }
        }
    }

    // ------------------------------------------------------------------ reading

    /**
     * The live holder of {@code name} on another host (the node created first), or null; from the cache, or
     * ({@code direct}) from the ensemble itself. A name this host holds with an earlier node than any other
     * host's counts as this host's (null).
     */
    private Entry holderElsewhere(String name, boolean direct) throws IOException {
        Entry best = null;
        long bestZxid = Long.MAX_VALUE;
        long ownZxid = Long.MAX_VALUE;
        Map<String, ChildData> nodes = new HashMap<>();
        if (direct) {
            try {
                for (String host : zk.getChildren().forPath(hostsPath)) {
                    if (!HOST_ID.matcher(host).matches()) continue;
                    Stat st = new Stat();
                    try {
                        byte[] data = zk.getData().storingStatIn(st).forPath(namePath(host, name));
                        nodes.put(host, new ChildData(namePath(host, name), st, data));
                    } catch (KeeperException.NoNodeException none) {
                        // not there
                    }
                }
            } catch (Exception e) {
                throw failure("looking up '" + name + "'", e);
            }
        } else {
            for (ChildData c : cache.stream().toList()) {
                String[] p = relative(c.getPath());
                if (name.equals(nameOf(p)) && HOST_ID.matcher(p[0]).matches()) nodes.put(p[0], c);
            }
        }
        for (Map.Entry<String, ChildData> n : nodes.entrySet()) {
            long zxid = n.getValue().getStat() == null ? Long.MAX_VALUE : n.getValue().getStat().getCzxid();
            if (n.getKey().equals(self.hostId())) {
                Stat st = n.getValue().getStat();
                if (st == null || st.getEphemeralOwner() != 0) ownZxid = zxid;   // not a container of our longer names
                continue;
            }
            Entry e = entry(n.getKey(), name, n.getValue());
            if (e != null && zxid < bestZxid) {
                best = e;
                bestZxid = zxid;
            }
        }
        return best != null && bestZxid < ownZxid ? best : null;
    }

    /** A host's name node as an entry; null for a container of longer names, or (logged once) if it does not parse. */
    private Entry entry(String host, String name, ChildData c) {
        if (c.getStat() != null && c.getStat().getEphemeralOwner() == 0) return null;   // orders.eu of orders.eu/ledger
        try {
            return nameEntry(host, name, c.getData());
        } catch (IllegalArgumentException e) {
            ignore(c.getPath(), e.getMessage());
            return null;
        }
    }

    /**
     * Host {@code host}'s node for {@code name}, checked field by field (host id, name, address, port, pid, fingerprint).
     *
     * @throws IllegalArgumentException saying what does not hold
     */
    static Entry nameEntry(String host, String name, byte[] data) {
        if (!HOST_ID.matcher(host).matches()) throw new IllegalArgumentException("host id '" + host + "' is malformed");
        NamingConfig.checkName(name);
        Map<String, String> f = fields(data);
        String address = f.getOrDefault("address", "");
        String fp = f.get("fingerprint");
        int port;
        long pid;
        try {
            port = Integer.parseInt(f.get("port"));
            pid = Long.parseLong(f.get("pid"));
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("port or pid is not a number");
        }
        if ((!address.isEmpty() && !ADDRESS.matcher(address).matches()) || port < 0 || port > 65535 || pid < 0
                || fp == null || !FINGERPRINT.matcher(fp).matches()) {
            throw new IllegalArgumentException("a field is out of range");
        }
        return new Entry(name, host, address.isEmpty() ? null : address, port, pid, fp);
    }

    /** Cache event: a node was created or changed; a name another host published is told to the listeners. */
    private void changed(ChildData c) {
        String[] p = relative(c.getPath());
        String name = nameOf(p);
        if (name == null || p[0].equals(self.hostId())) return;
        Entry e = entry(p[0], name, c);
        if (e == null) return;
        for (Consumer<Entry> l : listeners) {
            try {
                l.accept(e);
            } catch (RuntimeException ex) {
                LOG.log(System.Logger.Level.WARNING, "a listener of ZooKeeper names failed: " + ex);
            }
        }
    }

    /** The session came back, or a new one replaced an expired one: publish this host and its names again. */
    private void stateChanged(ConnectionState state) {
        if (state == ConnectionState.LOST) {
            sessionLost = true;
            LOG.log(System.Logger.Level.WARNING, "lost the session with ZooKeeper at " + connect + "; names of other hosts do not resolve until it is back");
        } else if (state == ConnectionState.SUSPENDED) {
            LOG.log(System.Logger.Level.WARNING, "ZooKeeper at " + connect + " is unreachable; retrying");
        } else if (state == ConnectionState.RECONNECTED || state == ConnectionState.CONNECTED) {
            Thread.ofVirtual().name("fabled-zookeeper-republish").start(this::republish);
        }
    }

    private void republish() {
        try {
            publishHost();
            for (Entry e : List.copyOf(held.values())) {
                synchronized (writes) {   // not one withdrawn since the copy: that withdrawal must not be undone
                    if (held.get(e.name()) == e) publishLocked(e);
                }
            }
            if (sessionLost) LOG.log(System.Logger.Level.INFO, "ZooKeeper at " + connect + " is back; published this host and " + held.size() + " names again");
            sessionLost = false;
        } catch (IOException e) {
            LOG.log(System.Logger.Level.WARNING, "publishing again in ZooKeeper at " + connect + ": " + e.getMessage());
        }
    }

    // ------------------------------------------------------------------ format

    private String namePath(String host, String name) {
        return hostsPath + "/" + host + "/names/" + name;
    }

    /**
     * The endpoint name of a node below {@code /fable/hosts} split by {@link #relative} ([HOST, names, orders.eu, ledger]:
     * {@code orders.eu/ledger}), or null if it is no name's node or too deep for one.
     */
    static String nameOf(String[] p) {
        if (p.length < 3 || p.length > 2 + NamingConfig.MAX_NAME_SEGMENTS || !p[1].equals("names")) return null;
        return String.join("/", java.util.Arrays.asList(p).subList(2, p.length));
    }

    /** {@code path} below {@code /fable/hosts}, split: [HOST], [HOST, live], [HOST, names, NAME...]; empty if not below. */
    private String[] relative(String path) {
        if (!path.startsWith(hostsPath + "/")) return new String[0];
        return path.substring(hostsPath.length() + 1).split("/");
    }

    private static byte[] format(Map<String, String> fields) {
        StringBuilder sb = new StringBuilder(VERSION).append('\n');
        new java.util.TreeMap<>(fields).forEach((k, v) -> sb.append(k).append('=').append(v).append('\n'));
        return sb.toString().getBytes(StandardCharsets.UTF_8);
    }

    /** A node's fields, or null (logged once) if it is too long, of another version, or malformed. */
    private Map<String, String> parse(String path, byte[] data) {
        try {
            return fields(data);
        } catch (IllegalArgumentException e) {
            ignore(path, e.getMessage());
            return null;
        }
    }

    /**
     * The fields of one node: {@code v1}, then {@code key=value} lines; at most {@link #MAX_DATA} bytes and 16 fields.
     *
     * @throws IllegalArgumentException if the node is empty, too long, of another version or malformed
     */
    static Map<String, String> fields(byte[] data) {
        if (data == null || data.length == 0 || data.length > MAX_DATA) {
            throw new IllegalArgumentException(data == null ? "no data" : data.length + " B (1 to " + MAX_DATA + ")");
        }
        String[] lines = new String(data, StandardCharsets.UTF_8).split("\n");
        if (!lines[0].equals(VERSION)) throw new IllegalArgumentException("version '" + lines[0] + "', not " + VERSION);
        Map<String, String> f = new HashMap<>();
        for (int i = 1; i < lines.length; i++) {
            int eq = lines[i].indexOf('=');
            if (eq <= 0 || f.size() >= 16) throw new IllegalArgumentException("malformed line " + i);
            f.put(lines[i].substring(0, eq), lines[i].substring(eq + 1));
        }
        return f;
    }

    private void ignore(String path, String why) {
        if (badPaths.add(path)) LOG.log(System.Logger.Level.WARNING, "ignoring ZooKeeper node " + path + ": " + why);
    }

    private IOException failure(String doing, Exception e) {
        if (e instanceof InterruptedException) Thread.currentThread().interrupt();
        return new IOException(doing + " in ZooKeeper at " + connect + " failed: " + e, e);
    }
}
