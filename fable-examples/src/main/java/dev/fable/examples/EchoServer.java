package dev.fable.examples;

import dev.fable.Buffer;
import dev.fable.Connection;
import dev.fable.ConnectionClosedException;
import dev.fable.Endpoint;
import dev.fable.Fable;

import java.time.Duration;

/**
 * Request/response, server side: listens as {@code echo} (or the name given) and answers each
 * request with its bytes, until the client closes. One connection, then it exits.
 */
public final class EchoServer {
    public static void main(String[] args) {
        String name = args.length > 0 ? args[0] : "echo";
        // tag::serve[]
        try (Endpoint ep = Fable.register(name).listen();
             Connection c = ep.accept()) {
            while (true) {
                Buffer request;
                try {
                    request = c.receive(Duration.ofMinutes(1));
                } catch (ConnectionClosedException end) {
                    break;
                }
                if (request == null) continue;                        // a quiet minute
                Buffer reply = c.claim(request.length(), Duration.ofSeconds(10));
                reply.segment().copyFrom(request.segment().asSlice(0, request.length()));   // one copy: there into here
                reply.length(request.length()).commit();
                request.release();                                    // after the copy: the request's memory goes back
            }
        }
        // end::serve[]
    }
}
