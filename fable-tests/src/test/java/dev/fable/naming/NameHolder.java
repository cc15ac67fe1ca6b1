package dev.fable.naming;

import java.nio.file.Path;
import dev.fable.naming.protocol.ListenAddress;

/**
 * Child process for the naming tests: connects to the daemon in {@code args[0]}, registers and
 * publishes the names {@code args[1..]}, prints {@code REGISTERED}, then waits on stdin (until killed).
 */
public final class NameHolder {
    public static void main(String[] args) throws Exception {
        DaemonNameService ns = DaemonNameService.open(Path.of(args[0]), false);
        for (int i = 1; i < args.length; i++) {
            NameService.Registration r = ns.register(args[i]);
            r.listening(new ListenAddress("/nowhere/" + args[i] + ".sock", null, 0));
        }
        System.out.println("REGISTERED");
        System.in.read();
    }
}
