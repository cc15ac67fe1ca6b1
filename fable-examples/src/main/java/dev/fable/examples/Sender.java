package dev.fable.examples;

import dev.fable.Buffer;
import dev.fable.ConnectOptions;
import dev.fable.Connection;
import dev.fable.Fable;

import java.time.Duration;

/**
 * Connects to {@code ledger} (or the name given; the daemon picks the transport), sends 1,000 small
 * messages zero-copy and one of 1 MiB with the blocking convenience, then closes.
 *
 * <pre>java -cp fable-examples.jar:fable-core.jar:fable-daemon.jar dev.fable.examples.Sender [name]</pre>
 */
public final class Sender {
    public static void main(String[] args) {
        String name = args.length > 0 ? args[0] : "ledger";
        // tag::send[]
        try (Connection c = Fable.connect("xio://" + name, ConnectOptions.trusted())) {
            for (long i = 0; i < 1000; i++) {
                Buffer b = c.claim(8, Duration.ofSeconds(10));   // a buffer in the transport's own memory; null = still full
                if (b == null) throw new IllegalStateException("the receiver stopped reading");
                b.putLong(0, i);                                 // little-endian, bounds-checked
                b.length(8).commit();                            // ownership passes to Fable: b is dead now
            }
            c.send(new byte[1 << 20]);                           // any size: split over as many buffers as it takes
        }                                                        // close: the receiver gets the rest, then the end
        // end::send[]
        System.out.println("sent 1001 messages to '" + name + "'");
    }
}
