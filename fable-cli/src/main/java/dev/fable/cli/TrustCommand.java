package dev.fable.cli;

import dev.fable.FableException;
import dev.fable.naming.DaemonNameService;
import picocli.CommandLine.Command;
import picocli.CommandLine.Parameters;

import java.util.concurrent.Callable;

/**
 * {@code fable trust add|remove CIDR}: changes the networks this host's daemon trusts. Connections
 * made with {@code xio://} follow at once: to plain tcp where the network became trusted, to tls
 * where it no longer is (transparent security, paper §4.2). {@code fable trust list} prints them.
 */
@Command(name = "trust", mixinStandardHelpOptions = true, versionProvider = FableCli.Version.class, description = {"Mark a network trusted (plain tcp to its hosts) or not (tls), in this host's daemon, "
        + "until it restarts (fable.trusted.networks sets the start); or list the trusted networks.", "Live xio:// connections to its hosts switch at once."})
final class TrustCommand implements Callable<Integer> {
    @Parameters(index = "0", paramLabel = "add|remove|list", description = "add: trusted from now on; remove: no longer trusted; list: print them")
    String action;

    @Parameters(index = "1", arity = "0..1", paramLabel = "CIDR", description = "e.g. 10.1.0.0/16 or 192.168.7.12/32 (add and remove)")
    String network;

    @Override
    public Integer call() {
        if (action.equals("list")) {
            if (network != null) {
                System.err.println("fable trust: list takes no network (see 'fable trust --help')");
                return FableCli.USAGE;
            }
            try {
                for (String n : DaemonNameService.get().trustedNetworks()) System.out.println(n);
                return FableCli.OK;
            } catch (FableException e) {
                System.err.println("fable trust: " + e.getMessage());
                return FableCli.SETUP;
            }
        }
        if (!action.equals("add") && !action.equals("remove")) {
            System.err.println("fable trust: '" + action + "' is neither add, remove nor list (see 'fable trust --help')");
            return FableCli.USAGE;
        }
        if (network == null) {
            System.err.println("fable trust: " + action + " needs a network, e.g. 10.1.0.0/16 (see 'fable trust --help')");
            return FableCli.USAGE;
        }
        try {
            DaemonNameService.get().trust(network, action.equals("add"));
        } catch (IllegalArgumentException e) {   // a malformed network: bad usage
            System.err.println("fable trust: " + e.getMessage());
            return FableCli.USAGE;
        } catch (FableException e) {
            System.err.println("fable trust: " + e.getMessage());
            return FableCli.SETUP;
        }
        System.out.println((action.equals("add") ? "trusted: " : "no longer trusted: ") + network
                + " (xio:// connections to its hosts switch to " + (action.equals("add") ? "tcp" : "tls") + ")");
        return FableCli.OK;
    }
}
