package dev.fable.cli;

import dev.fable.daemon.NameDaemon;
import picocli.CommandLine.Command;

import java.io.IOException;
import java.util.concurrent.Callable;

@Command(name = "daemon", mixinStandardHelpOptions = true, versionProvider = FableCli.Version.class, description = {"Run the name daemon (fabled) in the foreground, logging to stderr.",
        "Settings come from -D properties or FABLE_* environment variables (see docs/naming.md); it never exits when idle "
                + "unless fable.daemon.idleExitSeconds is set."})
final class DaemonCommand implements Callable<Integer> {
    @picocli.CommandLine.Option(names = "--zookeeper", paramLabel = "CONNECT",
            description = "publish and find names in this ZooKeeper ensemble (host:port,...; the same as -Dfable.zookeeper; docs/cluster.md)")
    String zookeeper;

    @Override
    public Integer call() {
        if (zookeeper != null) {
            if (zookeeper.isBlank()) {
                System.err.println("fable daemon: --zookeeper needs a connect string, such as zk1:2181,zk2:2181,zk3:2181");
                return FableCli.USAGE;
            }
            System.setProperty("fable.zookeeper", zookeeper);
        }
        NameDaemon d;
        try {
            d = NameDaemon.fromConfig(true);
        } catch (IOException | RuntimeException e) {
            System.err.println("fable daemon: cannot start: " + e.getMessage());
            return FableCli.SETUP;
        }
        Runtime.getRuntime().addShutdownHook(new Thread(d::stopAndWait, "fabled-shutdown"));
        System.err.println("fable daemon: serving " + d.socketPath() + " (pid " + ProcessHandle.current().pid() + ")");
        d.run();
        return FableCli.OK;
    }
}
