package dev.fable.cli;

import dev.fable.naming.NamingConfig;
import dev.fable.daemon.cluster.ClusterDirectory;
import dev.fable.daemon.cluster.ClusterProviders;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.io.IOException;
import java.util.List;
import java.util.concurrent.Callable;

@Command(name = "hosts", mixinStandardHelpOptions = true, versionProvider = FableCli.Version.class,
        description = "List the hosts whose daemons are live in the ZooKeeper ensemble: id, address, certificate, load "
                + "(1-minute load average, refreshed every 10 s), names held.")
final class HostsCommand implements Callable<Integer> {
    @Option(names = "--json", description = "one JSON array, for machines")
    boolean json;

    @Option(names = "--zookeeper", paramLabel = "CONNECT", description = "the ensemble (default: fable.zookeeper)")
    String zookeeper;

    @Override
    public Integer call() {
        List<ClusterDirectory.HostEntry> hosts = read("fable hosts", zookeeper);
        if (hosts == null) return FableCli.SETUP;
        if (json) {
            System.out.println(Json.array(hosts, (g, h) -> g.writeStringProperty("host", h.hostId()).writeStringProperty("address", h.address())
                    .writeStringProperty("fingerprint", h.fingerprint()).writeStringProperty("load", h.load())
                    .writeNumberProperty("names", h.names().size())));
            return FableCli.OK;
        }
        Table t = new Table("HOST", "ADDRESS", "CERTIFICATE", "LOAD", "NAMES");
        for (ClusterDirectory.HostEntry h : hosts) {
            String fp = h.fingerprint() == null ? "-" : h.fingerprint().substring(0, Math.min(16, h.fingerprint().length())) + "…";
            t.row(h.hostId(), h.address() == null ? "-" : h.address(), fp, h.load() == null ? "-" : h.load(), h.names().size());
        }
        System.out.print(t);
        return FableCli.OK;
    }

    /** The cluster's hosts, or null after printing why not (no ensemble configured, or unreachable). */
    static List<ClusterDirectory.HostEntry> read(String command, String connect) {
        String where = connect != null ? connect : NamingConfig.get("fable.zookeeper");
        if (where == null || where.isBlank()) {
            System.err.println(command + ": no ZooKeeper ensemble: give --zookeeper host:port,... or set fable.zookeeper");
            return null;
        }
        try {
            ClusterDirectory.Provider p = ClusterProviders.find(NamingConfig.get("fable.zookeeper.lib"));
            if (p == null) {
                System.err.println(command + ": the fable-zookeeper module is not here (./fable sets fable.zookeeper.lib to it)");
                return null;
            }
            return p.hosts(where.trim(), NamingConfig::get);
        } catch (IOException e) {
            System.err.println(command + ": " + e.getMessage());
            return null;
        }
    }
}
