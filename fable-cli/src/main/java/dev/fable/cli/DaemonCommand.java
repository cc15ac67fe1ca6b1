package dev.fable.cli;

import dev.fable.daemon.NameDaemon;
import picocli.CommandLine.Command;

import java.io.IOException;
import java.util.concurrent.Callable;

@Command(name = "daemon", mixinStandardHelpOptions = true, versionProvider = FableCli.Version.class, description = {"Run the name daemon (fabled) in the foreground, logging to stderr.",
        "Settings come from -D properties or FABLE_* environment variables (see docs/naming.md); it never exits when idle "
                + "unless fable.daemon.idleExitSeconds is set."})
final class DaemonCommand implements Callable<Integer> {
    @Override
    public Integer call() {
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
