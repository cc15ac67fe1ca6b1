package dev.fable.naming;

import dev.fable.naming.protocol.Message;
import dev.fable.naming.protocol.Wire;
import dev.fable.testing.Await;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

/**
 * {@code fable.daemon.maxClients}: a daemon with a cap of 4 serves four raw clients on real Unix
 * sockets; the fifth gets one ERROR frame (E_LIMIT) that names the limit and is closed; the four go on
 * being served; once one of them leaves, a new client is admitted again.
 */
class DaemonClientCapTest {
    private static final Duration LIMIT = Duration.ofSeconds(10);
    private static final int CAP = 4;

    /** Connects and says HELLO; returns the daemon's first answer (WELCOME when admitted). */
    private static Message hello(RawClient c, int id) throws Exception {
        try {
            c.send(new Message.Hello(id, ProcessHandle.current().pid(), "cap test client " + id, null));
        } catch (java.io.IOException refusedAlready) {
            // a refused client's socket is closed by the daemon: its error frame is still there to read
        }
        return c.read(LIMIT);
    }

    private static void served(RawClient c, int id) throws Exception {
        c.send(new Message.Register(id, "cap-" + ProcessHandle.current().pid() + "-" + id));
        Message m = c.read(LIMIT);
        assertInstanceOf(Message.Ok.class, m, "client " + id + " is still served: " + m);
    }

    @Test
    void aClientOverTheCapGetsOneErrorNamingTheLimitAndTheOthersAreServed() throws Exception {
        try (TestDaemon d = TestDaemon.start(TestDaemon.freshDir("cap"), "fable.daemon.maxClients=" + CAP)) {
            List<RawClient> admitted = new ArrayList<>();
            try {
                for (int i = 0; i < CAP; i++) {
                    RawClient c = new RawClient(d.runtimeDir);
                    admitted.add(c);
                    assertInstanceOf(Message.Welcome.class, hello(c, i + 1), "client " + (i + 1) + " of " + CAP);
                }

                try (RawClient over = new RawClient(d.runtimeDir)) {
                    List<Message> got = over.readUntilClosed(LIMIT);   // it says nothing: the daemon speaks first, then closes
                    assertEquals(1, got.size(), "exactly one frame, then the end: " + got);
                    Message.Fail f = assertInstanceOf(Message.Fail.class, got.getFirst());
                    assertEquals(Wire.E_LIMIT, f.code());
                    assertTrue(f.text().contains("fable.daemon.maxClients=" + CAP) && f.text().contains(CAP + " connections open"), f.text());
                    assertEquals(1, f.text().lines().count(), f.text());
                }
                for (int i = 0; i < CAP; i++) served(admitted.get(i), 100 + i);
                Await.until(() -> d.log().contains("connection(s) over the limit"), LIMIT, () -> "the refusal is logged:\n" + d.log());

                admitted.removeFirst().close();   // one leaves: the daemon admits a new client once it has seen that
                int[] attempt = {0};
                Await.until(() -> {
                    try (RawClient again = new RawClient(d.runtimeDir)) {
                        Message m = hello(again, 200 + attempt[0]++);
                        if (m instanceof Message.Welcome) return true;
                        assertEquals(Wire.E_LIMIT, assertInstanceOf(Message.Fail.class, m).code());
                        return false;
                    } catch (Exception e) {
                        throw new AssertionError(e);
                    }
                }, LIMIT, () -> "no client admitted after one of " + CAP + " left");
                for (int i = 0; i < admitted.size(); i++) served(admitted.get(i), 300 + i);
            } finally {
                for (RawClient c : admitted) c.close();
            }
        }
    }
}
