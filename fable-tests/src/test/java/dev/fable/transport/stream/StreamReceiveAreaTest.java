package dev.fable.transport.stream;

import dev.fable.Buffer;
import dev.fable.ConnectOptions;
import dev.fable.Connection;
import dev.fable.Endpoint;
import dev.fable.Fable;
import dev.fable.QuotaExceededException;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.time.Duration;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;

/**
 * The stream reader's receive areas under the patterns that move them: frames crossing the end
 * (the move to offset 0), buffers held across the end (a fresh area), one buffer held for the whole
 * run while thousands pass, and holding so much that every area is pinned (a clear
 * QuotaExceededException).
 * Every payload carries its sequence number and a pattern derived from it, checked on arrival.
 */
class StreamReceiveAreaTest {
    private static final Duration WAIT = Duration.ofSeconds(10);

    private static void fill(Buffer b, long seq, int len) {
        b.length(len);
        for (int i = 0; i < len; i++) b.putByte(i, (byte) (seq * 31 + i));
        if (len >= 8) b.putLong(0, seq);
    }

    private static void check(Buffer b, long seq, int len) {
        assertEquals(len, b.length(), "length of message " + seq);
        if (len >= 8) assertEquals(seq, b.getLong(0), "sequence");
        for (int i = len >= 8 ? 8 : 0; i < len; i++) {
            if (b.getByte(i) != (byte) (seq * 31 + i)) throw new AssertionError("message " + seq + " byte " + i + " corrupted");
        }
    }

    private static int sizeOf(Random r) {
        int k = r.nextInt(10);
        return k < 5 ? 8 + r.nextInt(200) : k < 9 ? 8 + r.nextInt(20_000) : 8 + r.nextInt(64 * 1024 - 8);
    }

    @ParameterizedTest
    @ValueSource(strings = {"unix", "tcp", "tls"})
    void heldBuffersSurviveWrapsAndOneHeldForeverDoesNotStall(String transport) throws Exception {
        String name = "area-" + transport + "-" + ProcessHandle.current().pid() + "-" + System.nanoTime();
        ConnectOptions o = ConnectOptions.trusted();
        try (Endpoint ep = Fable.register(name).listen(o)) {
            Thread sender = new Thread(() -> {
                try (Connection c = Fable.connect("xio+" + transport + "://" + name, o)) {
                    Random r = new Random(42);
                    for (long seq = 0; seq < 20_000; seq++) {
                        int len = sizeOf(r);
                        Buffer b = c.claim(len, WAIT);
                        fill(b, seq, len);
                        b.commit();
                    }
                    // stays open until the receiver has checked everything: close is clean afterwards
                    c.receive(Duration.ofSeconds(30));
                }
            });
            sender.start();
            try (Connection c = ep.accept(WAIT)) {
                assertNotNull(c);
                Random r = new Random(42);
                Random hold = new Random(7);
                Buffer first = null;
                ArrayDeque<Buffer> held = new ArrayDeque<>();
                List<long[]> heldMeta = new ArrayList<>();
                for (long seq = 0; seq < 20_000; seq++) {
                    int len = sizeOf(r);
                    Buffer b = c.receive(WAIT);
                    assertNotNull(b, "message " + seq);
                    check(b, seq, len);
                    if (seq == 3) {
                        first = b;   // held for the whole run: the area must keep working around it
                    } else if (hold.nextInt(4) == 0 && held.size() < 6) {
                        held.add(b);
                        heldMeta.add(new long[] {seq, len});
                    } else {
                        b.release();
                    }
                    if (held.size() == 6) {
                        // release in a shuffled order, after re-checking that held memory was not overwritten
                        int i = 0;
                        for (Buffer h : held) {
                            check(h, heldMeta.get(i)[0], (int) heldMeta.get(i)[1]);
                            i++;
                        }
                        List<Buffer> order = new ArrayList<>(held);
                        java.util.Collections.shuffle(order, hold);
                        order.forEach(Buffer::release);
                        held.clear();
                        heldMeta.clear();
                    }
                }
                check(first, 3, lengthOfThird());
                first.release();
                held.forEach(Buffer::release);
                assertEquals(20_000, c.messagesReceived());
                Buffer ack = c.claim(8, WAIT);
                ack.putLong(0, 1);
                ack.commit();
            }
            sender.join();
        }
    }

    private static int lengthOfThird() {
        Random r = new Random(42);
        int len = 0;
        for (int i = 0; i <= 3; i++) len = sizeOf(r);
        return len;
    }

    @ParameterizedTest
    @ValueSource(strings = {"unix", "tcp"})
    void holdingTheWholeAreaIsAClearError(String transport) throws Exception {
        String name = "full-" + transport + "-" + ProcessHandle.current().pid() + "-" + System.nanoTime();
        ConnectOptions o = ConnectOptions.trusted();
        try (Endpoint ep = Fable.register(name).listen(o)) {
            Thread sender = new Thread(() -> {
                try (Connection out = Fable.connect("xio+" + transport + "://" + name, o)) {
                    for (int i = 0; i < 64; i++) {
                        Buffer b = out.claim(64 * 1024, WAIT);
                        if (b == null) return;
                        b.commit();
                    }
                } catch (RuntimeException ignored) {
                    // the receiver gave up: the test checks the receiver's error
                }
            });
            sender.start();
            Connection in = ep.accept(WAIT);
            List<Buffer> held = new ArrayList<>();
            QuotaExceededException e = assertThrows(QuotaExceededException.class, () -> {
                while (true) {
                    Buffer b = in.receive(WAIT);
                    assertNotNull(b, "the receiver must see data or a quota error, not silence");
                    held.add(b);
                }
            });
            assertEquals(true, e.getMessage().contains("release some"), e.getMessage());
            held.forEach(Buffer::release);
            in.close();
            sender.join();
        }
    }
}
