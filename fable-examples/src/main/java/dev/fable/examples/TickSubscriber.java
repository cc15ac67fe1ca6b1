package dev.fable.examples;

import dev.fable.Buffer;
import dev.fable.ConnectOptions;
import dev.fable.Connection;
import dev.fable.Fable;

import java.time.Duration;

/**
 * Subscribes to {@code ticks} (or the name given) and sums the ticks until the end mark (-1); see
 * {@link TickPublisher}.
 *
 * <pre>java -cp fable-examples.jar:fable-core.jar:fable-daemon.jar dev.fable.examples.TickSubscriber [name]</pre>
 */
public final class TickSubscriber {
    public static void main(String[] args) {
        String name = args.length > 0 ? args[0] : "ticks";
        // tag::subscribe[]
        try (Connection sub = Fable.subscribe("xio://" + name, ConnectOptions.trusted().connectTimeout(Duration.ofSeconds(30)))) {
            long ticks = 0, sum = 0;
            while (true) {
                Buffer b = sub.receive(Duration.ofSeconds(30));        // read in place in the publisher's pool
                if (b == null) throw new IllegalStateException("no tick in 30 s");
                long i = b.getLong(0);
                b.release();                                           // the slot is free once every subscriber released it
                if (i == -1) break;
                ticks++;
                sum += i;
            }
            System.out.println("received " + ticks + " ticks, sum " + sum + ", lost " + sub.messagesDropped());
        }
        // end::subscribe[]
    }
}
