package dev.fable.examples;

import dev.fable.Connection;
import dev.fable.ConnectionClosedException;
import dev.fable.Endpoint;
import dev.fable.Fable;

import java.time.Duration;

/**
 * Listens as {@code ledger} (or the name given), accepts one connection and reads messages until the
 * sender closes: small ones that fit one buffer and large ones that span several.
 *
 * <pre>java -cp fable-examples.jar:fable-core.jar:fable-daemon.jar dev.fable.examples.Receiver [name]</pre>
 */
public final class Receiver {
    public static void main(String[] args) {
        String name = args.length > 0 ? args[0] : "ledger";
        // tag::receive[]
        try (Endpoint ep = Fable.register(name).listen();          // the name lives as long as the endpoint
             Connection c = ep.accept()) {
            long messages = 0, bytes = 0;
            while (true) {
                byte[] m;
                try {
                    m = c.receiveMessage(Duration.ofSeconds(5));   // a whole message, however many buffers it took
                } catch (ConnectionClosedException end) {          // the sender closed: everything it sent has arrived
                    break;
                }
                if (m == null) {                                   // nothing within 5 s: the sender is still there, just quiet
                    System.out.println("waiting...");
                    continue;
                }
                messages++;
                bytes += m.length;
            }
            System.out.println("received " + messages + " messages, " + bytes + " bytes");
        }
        // end::receive[]
    }
}
