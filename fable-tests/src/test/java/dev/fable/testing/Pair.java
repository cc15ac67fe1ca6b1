package dev.fable.testing;

import dev.fable.ConnectOptions;
import dev.fable.Connection;
import dev.fable.Endpoint;
import dev.fable.Fable;

import java.time.Duration;
import java.util.concurrent.FutureTask;

import static org.junit.jupiter.api.Assertions.assertNotNull;

/** A listening endpoint and both ends of one connection made through it, both ends in this JVM. */
public record Pair(Endpoint ep, Connection server, Connection client) implements AutoCloseable {
    /** How long {@link #open} waits for the listener to accept (a loaded machine may be slow). */
    public static final Duration ACCEPT_LIMIT = Duration.ofSeconds(30);

    /**
     * Registers {@code name}, listens with {@code serverOpts} and connects to it over {@code transport}
     * ({@link Names#uri}) with {@code clientOpts}. Fails if the listener accepts nothing within
     * {@link #ACCEPT_LIMIT}; whatever was made is closed again when a step fails.
     */
    public static Pair open(String name, String transport, ConnectOptions serverOpts, ConnectOptions clientOpts) throws Exception {
        return open(null, name, transport, serverOpts, clientOpts);
    }

    /** As {@link #open(String, String, ConnectOptions, ConnectOptions)}, in set-up {@code fable} (null: the process's shared one). */
    public static Pair open(Fable fable, String name, String transport, ConnectOptions serverOpts, ConnectOptions clientOpts) throws Exception {
        Endpoint ep = (fable == null ? Fable.register(name) : fable.endpoint(name)).listen(serverOpts);
        try {
            FutureTask<Connection> accepted = Tasks.spawn("accept-" + name, () -> ep.accept(ACCEPT_LIMIT));
            Connection client;
            try {
                String uri = Names.uri(transport, name);
                client = fable == null ? Fable.connect(uri, clientOpts) : fable.open(uri, clientOpts);
            } catch (RuntimeException | Error e) {
                accepted.cancel(true);
                throw e;
            }
            Connection server;
            try {
                server = Tasks.join(accepted);
                assertNotNull(server, "the listener accepted nothing after the client connected over " + transport);
            } catch (Exception | Error e) {
                client.close();
                throw e;
            }
            return new Pair(ep, server, client);
        } catch (Exception | Error e) {
            ep.close();
            throw e;
        }
    }

    /** {@link #open(String, String, ConnectOptions, ConnectOptions) open} on a fresh name ({@code inproc-...}). */
    public static Pair open(String transport, ConnectOptions serverOpts, ConnectOptions clientOpts) throws Exception {
        return open(Names.unique("inproc"), transport, serverOpts, clientOpts);
    }

    /** Closes the client, the server and the endpoint, in that order, each even if the one before failed. */
    @Override
    public void close() {
        try {
            client.close();
        } finally {
            try {
                server.close();
            } finally {
                ep.close();
            }
        }
    }
}
