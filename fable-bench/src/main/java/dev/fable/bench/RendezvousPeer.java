package dev.fable.bench;

import dev.fable.Buffer;
import dev.fable.ConnectOptions;
import dev.fable.Connection;
import dev.fable.Endpoint;
import dev.fable.Fable;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

/**
 * A peer of {@link ClusterBench}, one JVM per host. {@code listen PREFIX K}: registers PREFIX-w and PREFIX-0 ..
 * PREFIX-(K-1), answers every connection to any of them with one byte, then waits for the connector to close; "READY"
 * once all listen. {@code connect PREFIX K M}: warms up on PREFIX-w ({@link #WARM_UP} connects, not timed), then
 * connects to each of the K names once (the first connect of this host to that name) and then M times to PREFIX-0,
 * timing each from {@code connect} to the first byte; prints "FIRST transport ns..." and "AGAIN transport ns...",
 * then "DONE".
 */
public final class RendezvousPeer {
    private static final Duration WAIT = Duration.ofSeconds(30);
    static final int WARM_UP = 50;

    private RendezvousPeer() {
    }

    public static void main(String[] args) throws Exception {
        String prefix = args[1];
        int k = Integer.parseInt(args[2]);
        if (args[0].equals("listen")) {
            List<Endpoint> eps = new ArrayList<>();
            eps.add(Fable.register(prefix + "-w").listen(ConnectOptions.trusted()));
            for (int i = 0; i < k; i++) eps.add(Fable.register(prefix + "-" + i).listen(ConnectOptions.trusted()));
            for (Endpoint ep : eps) {
                Thread.ofPlatform().daemon().start(() -> {
                    while (true) {
                        Connection c = ep.accept(Duration.ofDays(1));
                        if (c == null) continue;
                        Thread.ofVirtual().start(() -> answer(c));
                    }
                });
            }
            System.out.println("READY");
            System.out.flush();
            System.in.read();   // until the bench ends it
            return;
        }
        int m = Integer.parseInt(args[3]);
        StringBuilder first = new StringBuilder(), again = new StringBuilder();
        String transport = "?";
        for (int i = -WARM_UP; i < k + m; i++) {
            String name = prefix + "-" + (i < 0 ? "w" : i < k ? Integer.toString(i) : "0");
            long t0 = System.nanoTime();
            try (Connection c = Fable.connect("xio://" + name, ConnectOptions.trusted().connectTimeout(WAIT))) {
                Buffer b = c.receive(WAIT);
                long ns = System.nanoTime() - t0;
                if (b == null) throw new IllegalStateException("no first byte from " + name + " within " + WAIT);
                b.release();
                transport = c.transport();
                if (i >= 0) (i < k ? first : again).append(' ').append(ns);
            }
        }
        System.out.println("FIRST " + transport + first);
        System.out.println("AGAIN " + transport + again);
        System.out.println("DONE");
        System.out.flush();
    }

    private static void answer(Connection c) {
        try (c) {
            c.send(new byte[] {1});
            c.receiveMessage(WAIT);   // returns (or throws) when the connector closes
        } catch (RuntimeException closed) {
            // the connector closed: the usual end
        }
    }
}
