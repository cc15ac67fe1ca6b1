package dev.fable.zookeeper;

import dev.fable.daemon.cluster.ClusterDirectory.Entry;
import dev.fable.daemon.cluster.ClusterDirectory.HostEntry;
import org.apache.curator.framework.CuratorFramework;
import org.apache.curator.framework.CuratorFrameworkFactory;
import org.apache.curator.retry.RetryOneTime;
import org.apache.zookeeper.KeeperException;

import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * A read-only look at the directory for {@code fable hosts} and {@code fable names --cluster}: the hosts whose
 * daemons are live in the ensemble and the names each holds, read once, every node checked as the daemon checks it
 * ({@link ZooKeeperDirectory#fields}, {@link ZooKeeperDirectory#nameEntry}); nodes that do not hold are skipped.
 */
final class ClusterView {
    private ClusterView() {
    }

    /**
     * Every live host and its names under {@code root} of the ensemble at {@code connect} (over TLS with {@code tls}'s settings).
     *
     * @throws IOException if the ensemble cannot be reached within {@code timeoutMillis}, or a read fails
     */
    static List<HostEntry> read(String connect, String root, long timeoutMillis, org.apache.zookeeper.client.ZKClientConfig tls) throws IOException {
        try (CuratorFramework zk = CuratorFrameworkFactory.builder().connectString(connect).retryPolicy(new RetryOneTime(100))
                .connectionTimeoutMs((int) timeoutMillis).sessionTimeoutMs((int) Math.max(timeoutMillis, 4_000)).zkClientConfig(tls).build()) {
            zk.start();
            if (!zk.blockUntilConnected((int) timeoutMillis, TimeUnit.MILLISECONDS)) {
                throw new IOException("cannot reach ZooKeeper at " + connect + " within " + timeoutMillis + " ms");
            }
            String hostsPath = root + "/hosts";
            List<HostEntry> hosts = new ArrayList<>();
            for (String id : children(zk, hostsPath)) {
                if (!ZooKeeperDirectory.HOST_ID.matcher(id).matches()) continue;
                Map<String, String> live;
                try {
                    live = ZooKeeperDirectory.fields(data(zk, hostsPath + "/" + id + "/live"));
                } catch (IllegalArgumentException deadOrMalformed) {
                    continue;   // its daemon is gone (no live node), or the node does not hold
                }
                String address = live.get("address"), fingerprint = live.get("fingerprint");
                if (address == null || !ZooKeeperDirectory.ADDRESS.matcher(address).matches()
                        || fingerprint == null || !ZooKeeperDirectory.FINGERPRINT.matcher(fingerprint).matches()) {
                    continue;
                }
                List<Entry> names = new ArrayList<>();
                collectNames(zk, id, hostsPath + "/" + id + "/names", "", 1, names);
                String load = live.get("load");
                hosts.add(new HostEntry(id, address, fingerprint, load != null && ZooKeeperDirectory.LOAD.matcher(load).matches() ? load : null,
                        List.copyOf(names)));
            }
            return hosts;
        } catch (IOException e) {
            throw e;
        } catch (Exception e) {
            if (e instanceof InterruptedException) Thread.currentThread().interrupt();
            throw new IOException("reading ZooKeeper at " + connect + ": " + e, e);
        }
    }

    /**
     * The names below {@code path} (whose name so far is {@code prefix}, at depth {@code depth}): each ephemeral node an
     * entry, each container (the leading segments of hierarchical names) walked into, at most
     * {@link dev.fable.naming.NamingConfig#MAX_NAME_SEGMENTS} deep.
     */
    private static void collectNames(CuratorFramework zk, String host, String path, String prefix, int depth, List<Entry> into) throws Exception {
        if (depth > dev.fable.naming.NamingConfig.MAX_NAME_SEGMENTS) return;
        for (String n : children(zk, path)) {
            String name = prefix + n;
            org.apache.zookeeper.data.Stat st = new org.apache.zookeeper.data.Stat();
            byte[] d;
            try {
                d = zk.getData().storingStatIn(st).forPath(path + "/" + n);
            } catch (KeeperException.NoNodeException gone) {
                continue;
            }
            if (st.getEphemeralOwner() == 0) {
                collectNames(zk, host, path + "/" + n, name + "/", depth + 1, into);
                continue;
            }
            try {
                into.add(ZooKeeperDirectory.nameEntry(host, name, d));
            } catch (IllegalArgumentException skipped) {
                // malformed: the daemon skips it too
            }
        }
    }

    private static List<String> children(CuratorFramework zk, String path) throws Exception {
        try {
            return zk.getChildren().forPath(path);
        } catch (KeeperException.NoNodeException none) {
            return List.of();
        }
    }

    /** The node's data, or null if it is gone. */
    private static byte[] data(CuratorFramework zk, String path) throws Exception {
        try {
            return zk.getData().forPath(path);
        } catch (KeeperException.NoNodeException gone) {
            return null;
        }
    }
}
