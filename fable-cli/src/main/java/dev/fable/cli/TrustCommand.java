package dev.fable.cli;

import dev.fable.FableException;
import dev.fable.naming.DaemonNameService;
import picocli.CommandLine.Command;
import picocli.CommandLine.Parameters;

import java.util.concurrent.Callable;

/**
 * {@code fable trust add|remove CIDR}: changes the networks this host's daemon trusts. Connections
 * made with {@code xio://} follow at once: to plain tcp where the network became trusted, to tls
 * where it no longer is (transparent security, paper §4.2).
 */
@Command(name = "trust", mixinStandardHelpOptions = true, versionProvider = FableCli.Version.class, description = {"Mark a network trusted (plain tcp to its hosts) or not (tls), in this host's daemon, "
        + "until it restarts (fable.trusted.networks sets the start).", "Live xio:// connections to its hosts switch at once."})
final class TrustCommand implements Callable<Integer> {
    @Parameters(index = "0", paramLabel = "add|remove", description = "add: trusted from now on; remove: no longer trusted")
    String action;

    @Parameters(index = "1", paramLabel = "CIDR", description = "e.g. 10.1.0.0/16 or 192.168.7.12/32")
    String network;

    @Override
    public Integer call() {
        if (!action.equals("add") && !action.equals("remove")) {
            System.err.println("fable trust: '" + action + "' is neither add nor remove");
            return FableCli.USAGE;
        }
        try {
            DaemonNameService.get().trust(network, action.equals("add"));
        } catch (FableException e) {
            System.err.println("fable trust: " + e.getMessage());
            return FableCli.SETUP;
        }
        System.out.println((action.equals("add") ? "trusted: " : "no longer trusted: ") + network
                + " (xio:// connections to its hosts switch to " + (action.equals("add") ? "tcp" : "tls") + ")");
        return FableCli.OK;
    }
}
