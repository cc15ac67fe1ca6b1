package dev.fable.zookeeper;

import org.apache.curator.framework.CuratorFramework;
import org.apache.curator.framework.CuratorFrameworkFactory;
import org.apache.curator.retry.RetryOneTime;
import org.apache.zookeeper.KeeperException;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * A read-only look at the directory for {@code fable hosts} and {@code fable names --cluster}: the hosts whose
 * daemons are live in the ensemble and the names each holds, read once. Nodes that do not parse are skipped.
 */
public final class ClusterView {
    /** A live host: its id, address, certificate fingerprint and the names it holds. */
    public record Host(String hostId, String address, String fingerprint, List<Name> names) {}

    /** A name a host holds. */
    public record Name(String name, String hostId, String tcpHost, int tcpPort, long pid) {}

    private ClusterView() {
    }

    /**
     * Reads every live host and its names under {@code root} of the ensemble at {@code connect}.
     *
     * @throws IOException if the ensemble cannot be reached within {@code timeoutMillis}, or a read fails
     */
    public static List<Host> read(String connect, String root, long timeoutMillis) throws IOException {
        try (CuratorFramework zk = CuratorFrameworkFactory.builder().connectString(connect).retryPolicy(new RetryOneTime(100))
                .connectionTimeoutMs((int) timeoutMillis).sessionTimeoutMs((int) Math.max(timeoutMillis, 4_000)).build()) {
            zk.start();
            if (!zk.blockUntilConnected((int) timeoutMillis, TimeUnit.MILLISECONDS)) {
                throw new IOException("cannot reach ZooKeeper at " + connect + " within " + timeoutMillis + " ms");
            }
            String hostsPath = root + "/hosts";
            List<Host> hosts = new ArrayList<>();
            List<String> ids;
            try {
                ids = zk.getChildren().forPath(hostsPath);
            } catch (KeeperException.NoNodeException none) {
                return hosts;   // no daemon ever published here
            }
            for (String id : ids) {
                ZooKeeperDirectory.Fields live = fields(zk, hostsPath + "/" + id + "/live");
                if (live == null) continue;   // its daemon is gone (or the node does not parse)
                List<Name> names = new ArrayList<>();
                List<String> held;
                try {
                    held = zk.getChildren().forPath(hostsPath + "/" + id + "/names");
                } catch (KeeperException.NoNodeException none) {
                    held = List.of();
                }
                for (String n : held) {
                    ZooKeeperDirectory.Fields f = fields(zk, hostsPath + "/" + id + "/names/" + n);
                    if (f == null) continue;
                    try {
                        names.add(new Name(n, id, f.get("address"), Integer.parseInt(f.get("port")), Long.parseLong(f.get("pid"))));
                    } catch (RuntimeException malformed) {
                        // skipped, as the daemon skips it
                    }
                }
                hosts.add(new Host(id, live.get("address"), live.get("fingerprint"), List.copyOf(names)));
            }
            return hosts;
        } catch (IOException e) {
            throw e;
        } catch (Exception e) {
            if (e instanceof InterruptedException) Thread.currentThread().interrupt();
            throw new IOException("reading ZooKeeper at " + connect + ": " + e, e);
        }
    }

    private static ZooKeeperDirectory.Fields fields(CuratorFramework zk, String path) throws Exception {
        try {
            byte[] data = zk.getData().forPath(path);
            return ZooKeeperDirectory.Fields.parse(data == null ? null : new String(data, StandardCharsets.UTF_8), data == null ? 0 : data.length);
        } catch (KeeperException.NoNodeException gone) {
            return null;
        }
    }
}
