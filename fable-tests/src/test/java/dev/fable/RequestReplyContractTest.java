package dev.fable;

import dev.fable.testing.Pair;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

import java.time.Duration;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.FutureTask;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Supplier;

import static dev.fable.testing.Tasks.join;
import static dev.fable.testing.Tasks.spawn;
import static org.junit.jupiter.api.Assertions.*;

/** "Send, then wait for the reply": a message leaves and arrives whole without another call from either side. */
class RequestReplyContractTest extends ChannelContract {
    /** A negative timeout: wait without limit (only data, the end of the connection or close ends it). */
    private static final Duration FOREVER = Duration.ofSeconds(-1);

    /**
     * {@code receiveMessage} without a time limit, on a helper thread: fails if it has not returned
     * within {@link #WAIT}. (A limited receive could be rescued by its own deadline: a transport that
     * sleeps although a message is complete would then look merely slow.)
     */
    private static byte[] receiveUnlimited(Connection c, Supplier<String> what) throws Exception {
        FutureTask<byte[]> r = spawn("receive-without-limit", () -> c.receiveMessage(FOREVER));
        try {
            return r.get(WAIT.toNanos(), TimeUnit.NANOSECONDS);
        } catch (TimeoutException e) {
            return fail(what.get() + ": receiveMessage(no limit) had not returned " + WAIT + " after the message was sent"
                    + " (the sender made no call since)");
        } catch (ExecutionException e) {
            Throwable t = e.getCause();
            if (t instanceof Error err) throw err;
            throw (Exception) t;
        }
    }

    /**
     * One thread per side, each sending a large message and then only waiting for the answer: the
     * "send, then wait for the reply" pattern. Every byte of each request must leave although the
     * sending thread makes no further call until the reply comes, and the receiver must take it
     * although nothing more arrives. The sizes vary so the tail of a message falls differently
     * against socket buffers and TLS records.
     */
    @ParameterizedTest(name = "{0}")
    @MethodSource("transports")
    void requestThenWaitForReplyNeverStalls(String transport) throws Exception {
        final int rounds = 100;
        AtomicInteger requestsReceived = new AtomicInteger();
        try (Pair p = open(transport, "reqrep")) {
            FutureTask<Void> server = spawn("reqrep-server", () -> {
                for (int r = 0; r < rounds; r++) {
                    byte[] req = p.server().receiveMessage(FOREVER);
                    requestsReceived.incrementAndGet();
                    assertArrayEquals(seeded(r, requestSize(r)), req, "round " + r + ": request");
                    p.server().send(seeded(-r - 1, replySize(r)));
                }
                return null;
            });
            for (int r = 0; r < rounds; r++) {
                final int round = r;
                p.client().send(seeded(r, requestSize(r)));
                byte[] reply = receiveUnlimited(p.client(), () -> {
                    if (server.isDone()) {
                        try {
                            join(server);
                        } catch (Throwable t) {
                            return "round " + round + ": the server failed: " + t;
                        }
                    }
                    return requestsReceived.get() <= round
                            ? "round " + round + ": the request of " + requestSize(round) + " B never arrived whole at the server"
                            : "round " + round + ": the server got the request, but its reply of " + replySize(round) + " B never arrived whole";
                });
                assertArrayEquals(seeded(-r - 1, replySize(r)), reply, "round " + r + ": reply");
            }
            join(server);
        }
    }

    /**
     * The smallest "send, then wait" case, on one thread: each message is sent alone and then
     * received, the sender making no call in between. Sizes up to 64 KiB + 1 fit the default
     * staging, so send never needs the reader.
     */
    @ParameterizedTest(name = "{0}")
    @MethodSource("transports")
    void aMessageSentAloneArrivesWithoutAnotherCall(String transport) throws Exception {
        try (Pair p = open(transport, "alone")) {
            for (int size : new int[] {1, 63, 16 << 10, (16 << 10) + 1, 40_000, KIB_64 - 1, KIB_64, KIB_64 + 1}) {
                p.client().send(seeded(size, size));
                byte[] got = receiveUnlimited(p.server(), () -> "client->server: a message of " + size + " B sent alone");
                assertArrayEquals(seeded(size, size), got, "client->server: " + size + " B");
                p.server().send(seeded(-size, size));
                got = receiveUnlimited(p.client(), () -> "server->client: a message of " + size + " B sent alone");
                assertArrayEquals(seeded(-size, size), got, "server->client: " + size + " B");
            }
        }
    }

    /** 64 KiB … 2 MiB, a different tail every round (where the socket fills up moves). */
    private static int requestSize(int round) {
        return (64 << 10) + (int) ((round * 2_654_435_761L) % (2 << 20));
    }

    private static int replySize(int round) {
        return 1 + (int) ((round * 40_503L) % (256 << 10));
    }
}
