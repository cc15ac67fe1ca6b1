package dev.fable.cli;

import dev.fable.FableException;
import dev.fable.naming.DaemonNameService;
import dev.fable.TransportName;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

import java.util.concurrent.Callable;

/**
 * {@code fable reconfigure <pid>/<local-name> --to shm|unix|tcp|tls}: asks the process holding that
 * connection (through this host's name daemon) to switch it live; prints what happened.
 */
@Command(name = "reconfigure", mixinStandardHelpOptions = true, versionProvider = FableCli.Version.class, description = {"Switch a live connection to another transport without losing, duplicating or "
        + "reordering a message (make-before-break).", "CONNECTION is PID/LOCAL as 'fable flows' lists it; only the connecting "
        + "side of a connection can switch it."})
final class ReconfigureCommand implements Callable<Integer> {
    @Parameters(paramLabel = "CONNECTION", description = "PID/LOCAL, e.g. 4242/anon-4242-1")
    String connection;

    @Option(names = "--to", required = true, paramLabel = "TRANSPORT", description = "shm, unix, tcp or tls")
    String transport;

    @Option(names = "--wait", paramLabel = "MODE", description = "also set both ends' wait mode: spin, block, adaptive, or own "
            + "(each end's own options again); default: keep it")
    String wait;

    @Option(names = "--reason", defaultValue = "fable reconfigure", description = "shown in 'fable flows' (default: ${DEFAULT-VALUE})")
    String reason;

    @Override
    public Integer call() {
        int slash = connection.indexOf('/');
        long pid;
        try {
            if (slash <= 0 || slash == connection.length() - 1) throw new NumberFormatException();
            pid = Long.parseLong(connection.substring(0, slash));
        } catch (NumberFormatException e) {
            System.err.println("fable reconfigure: '" + connection + "' is not PID/LOCAL (e.g. 4242/anon-4242-1); 'fable flows' lists them");
            return FableCli.USAGE;
        }
        if (!TransportName.isKnown(transport)) {
            System.err.println("fable reconfigure: unknown transport '" + transport + "'; use shm, unix, tcp or tls");
            return FableCli.USAGE;
        }
        if (wait != null && !java.util.List.of("spin", "block", "adaptive", "own").contains(wait)) {
            System.err.println("fable reconfigure: unknown wait mode '" + wait + "'; use spin, block, adaptive or own");
            return FableCli.USAGE;
        }
        String local = connection.substring(slash + 1);
        try {
            DaemonNameService.get().reconfigure(pid, local, transport, wait, reason);
        } catch (FableException e) {
            System.err.println("fable reconfigure: " + e.getMessage());
            return FableCli.SETUP;
        }
        System.out.println("switched " + connection + " to " + transport + (wait == null ? "" : " with " + wait + " waits") + " (the new transport is set up; each direction moves at its next message)");
        return FableCli.OK;
    }
}
