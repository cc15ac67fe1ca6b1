package dev.fable.examples;

import dev.fable.Buffer;
import dev.fable.ConnectOptions;
import dev.fable.Fable;
import dev.fable.Publisher;

import java.time.Duration;

/**
 * Publishes {@code count} ticks (default 1,000,000) as {@code ticks} (or the name given) once
 * {@code subscribers} (default 2) have subscribed: each tick is claimed once and read in place by
 * every subscriber ({@link TickSubscriber}).
 *
 * <pre>java -cp fable-examples.jar:fable-core.jar:fable-daemon.jar dev.fable.examples.TickPublisher [name] [subscribers] [count]</pre>
 */
public final class TickPublisher {
    public static void main(String[] args) {
        String name = args.length > 0 ? args[0] : "ticks";
        int subscribers = args.length > 1 ? Integer.parseInt(args[1]) : 2;
        long count = args.length > 2 ? Long.parseLong(args[2]) : 1_000_000;
        // tag::publish[]
        // a quota of the whole pool: nothing is dropped, the slowest subscriber sets the pace
        ConnectOptions pool = ConnectOptions.trusted().slotSize(4096).slotCount(1024).readQuota(1024);
        try (Publisher pub = Fable.register(name).publish(pool)) {
            if (!pub.awaitSubscribers(subscribers, Duration.ofSeconds(60))) throw new IllegalStateException("nobody subscribed");
            for (long i = 0; i < count; i++) {
                Buffer b = pub.claim(64, Duration.ofSeconds(30));     // null only while every slot is still held
                if (b == null) throw new IllegalStateException("no slot came free in 30 s");
                b.putLong(0, i);
                pub.publish(b);                                        // to all; or (b, subscriber), (b, set), (b, (s, m) -> ...)
            }
            Buffer end = pub.claim(8, Duration.ofSeconds(30));
            end.putLong(0, -1);
            System.out.println("published " + count + " ticks to " + pub.publish(end) + " subscribers");
        }
        // end::publish[]
    }
}
