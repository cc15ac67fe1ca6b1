package dev.fable.examples;

import dev.fable.Buffer;
import dev.fable.ConnectOptions;
import dev.fable.Connection;
import dev.fable.Fable;

import java.time.Duration;

/** Request/response, client side: 100 requests to {@code echo} (or the name given), each answered before the next. */
public final class EchoClient {
    public static void main(String[] args) {
        String name = args.length > 0 ? args[0] : "echo";
        // tag::call[]
        try (Connection c = Fable.connect("xio://" + name, ConnectOptions.trusted())) {
            for (int i = 0; i < 100; i++) {
                Buffer request = c.claim(4, Duration.ofSeconds(10));
                request.putInt(0, i);
                request.length(4).commit();
                Buffer reply = c.receive(Duration.ofSeconds(10));     // null: no answer in time
                if (reply == null || reply.getInt(0) != i) throw new IllegalStateException("no echo of request " + i);
                reply.release();
            }
        }
        // end::call[]
        System.out.println("100 requests answered by '" + name + "'");
    }
}
