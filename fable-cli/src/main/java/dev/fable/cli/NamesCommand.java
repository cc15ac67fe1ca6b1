package dev.fable.cli;

import dev.fable.FableException;
import dev.fable.naming.DaemonNameService;
import dev.fable.naming.protocol.NameEntry;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.util.List;
import java.util.concurrent.Callable;

@Command(name = "names", mixinStandardHelpOptions = true, versionProvider = FableCli.Version.class, description = "List the endpoints the name daemon holds: name, pid, host, addresses.")
final class NamesCommand implements Callable<Integer> {
    @Option(names = "--json", description = "one JSON array, for machines")
    boolean json;

    @Option(names = "--cluster", description = "every host's names, from the ZooKeeper ensemble (--zookeeper or fable.zookeeper)")
    boolean cluster;

    @Option(names = "--zookeeper", paramLabel = "CONNECT", description = "with --cluster: the ensemble (default: fable.zookeeper)")
    String zookeeper;

    @Override
    public Integer call() {
        if (cluster) return clusterNames();
        List<NameEntry> names;
        try {
            names = DaemonNameService.get().names();
        } catch (FableException e) {
            System.err.println("fable names: " + e.getMessage());
            return FableCli.SETUP;
        }
        if (json) {
            System.out.println(Json.array(names, (g, n) -> g.writeStringProperty("name", n.name()).writeNumberProperty("pid", n.pid())
                    .writeStringProperty("host", n.hostId()).writeStringProperty("unixPath", n.unixPath())
                    .writeStringProperty("tcpAddress", n.tcpAddress())));
            return FableCli.OK;
        }
        Table t = new Table("NAME", "PID", "HOST", "UNIX", "TCP");
        for (NameEntry n : names) {
            t.row(n.name(), n.pid(), n.hostId(), n.unixPath() == null ? "-" : n.unixPath(), n.tcpAddress() == null ? "-" : n.tcpAddress());
        }
        System.out.print(t);
        return FableCli.OK;
    }

    private Integer clusterNames() {
        List<dev.fable.daemon.cluster.ClusterDirectory.HostEntry> hosts = HostsCommand.read("fable names --cluster", zookeeper);
        if (hosts == null) return FableCli.SETUP;
        List<dev.fable.daemon.cluster.ClusterDirectory.Entry> names = hosts.stream().flatMap(h -> h.names().stream()).toList();
        if (json) {
            System.out.println(Json.array(names, (g, n) -> g.writeStringProperty("name", n.name()).writeNumberProperty("pid", n.pid())
                    .writeStringProperty("host", n.hostId()).writeStringProperty("tcpAddress", n.tcpHost() == null ? null : n.tcpHost() + ":" + n.tcpPort())));
            return FableCli.OK;
        }
        Table t = new Table("NAME", "PID", "HOST", "TCP");
        for (dev.fable.daemon.cluster.ClusterDirectory.Entry n : names) {
            t.row(n.name(), n.pid(), n.hostId(), n.tcpHost() == null || n.tcpHost().isEmpty() ? "-" : n.tcpHost() + ":" + n.tcpPort());
        }
        System.out.print(t);
        return FableCli.OK;
    }
}
