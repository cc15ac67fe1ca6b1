package dev.fable.examples;

import dev.fable.Buffer;
import dev.fable.ConnectOptions;
import dev.fable.Connection;
import dev.fable.Endpoint;
import dev.fable.Fable;
import dev.fable.Poller;
import dev.fable.WaitMode;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

/**
 * One thread serving several connections: listens as {@code hub} (or the name given), accepts
 * {@code n} connections (default 3) and reads from whichever has data, until every one has sent its
 * last message (a long of -1). Connections of any transport may join one {@link Poller}.
 */
public final class PollerLoop {
    public static void main(String[] args) {
        String name = args.length > 0 ? args[0] : "hub";
        int n = args.length > 1 ? Integer.parseInt(args[1]) : 3;
        // tag::poll[]
        try (Endpoint ep = Fable.register(name).listen(ConnectOptions.trusted());
             Poller poller = Fable.poller(WaitMode.ADAPTIVE)) {
            List<Connection> open = new ArrayList<>();
            for (int i = 0; i < n; i++) {
                Connection c = ep.accept(Duration.ofSeconds(30));
                if (c == null) throw new IllegalStateException("only " + i + " of " + n + " connected");
                poller.add(c);
                open.add(c);
            }
            long total = 0;
            while (!open.isEmpty()) {
                Connection ready = poller.await(Duration.ofSeconds(30));   // one wait for all of them
                if (ready == null) throw new IllegalStateException("nothing from " + open.size() + " connections in 30 s");
                for (Buffer b; (b = ready.poll()) != null; ) {            // take what it has, then wait again
                    long v = b.getLong(0);
                    b.release();
                    if (v == -1) {
                        poller.remove(ready);
                        open.remove(ready);
                        ready.close();
                        break;
                    }
                    total += v;
                }
            }
            System.out.println("total " + total);
        }
        // end::poll[]
    }

    /** A client of the loop: sends the numbers 1..count, then -1. */
    public static final class Client {
        public static void main(String[] args) {
            String name = args.length > 0 ? args[0] : "hub";
            int count = args.length > 1 ? Integer.parseInt(args[1]) : 1000;
            try (Connection c = Fable.connect("xio+shm://" + name, ConnectOptions.trusted())) {
                for (long v = 1; v <= count; v++) send(c, v);
                send(c, -1);
            }
        }

        private static void send(Connection c, long v) {
            Buffer b = c.claim(8, Duration.ofSeconds(10));
            b.putLong(0, v);
            b.length(8).commit();
        }
    }
}
