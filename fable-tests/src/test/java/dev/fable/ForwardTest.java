package dev.fable;

import dev.fable.testing.Pair;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.Arrays;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.*;

/** {@link Buffer#forward}: a relay's step, between connections of any transports. */
class ForwardTest {
    private static final Duration LIMIT = Duration.ofSeconds(30);

    /** a -> (in) relay (out) -> b: every buffer the relay reads is forwarded; whole messages, small and large, arrive intact. */
    private static void relayMessages(String inTransport, String outTransport) throws Exception {
        ConnectOptions small = ConnectOptions.trusted().slotSize(4096).slotCount(16);
        try (Pair in = Pair.open(inTransport, ConnectOptions.trusted(), small);
             Pair out = Pair.open(outTransport, ConnectOptions.trusted(), ConnectOptions.trusted().slotSize(4096).slotCount(16))) {
            Connection a = in.client(), relayIn = in.server(), relayOut = out.client(), b = out.server();
            Random rnd = new Random(42);
            for (int i = 0; i < 300; i++) {
                byte[] msg = new byte[i % 3 == 0 ? 10_000 + rnd.nextInt(5000) : rnd.nextInt(600)];   // large ones span fragments
                rnd.nextBytes(msg);
                a.send(msg);
                long fragments = 0;
                while (true) {
                    Buffer r = relayIn.receive(LIMIT);
                    assertNotNull(r);
                    boolean more = r.more();
                    while (!r.forward(relayOut)) {
                        Buffer back = b.poll();   // b drains meanwhile in this test: the relay's target had no room
                        assertNull(back, "nothing should arrive before the message is complete");
                    }
                    assertThrows(IllegalStateException.class, r::release, "forward released it");
                    fragments++;
                    if (!more) break;
                }
                byte[] got = b.receiveMessage(LIMIT);
                assertArrayEquals(msg, got, "message " + i + " (" + msg.length + " B, " + fragments + " fragments)");
            }
        }
    }

    @Test
    void shmToShm() throws Exception {
        relayMessages("shm", "shm");
    }

    @Test
    void shmToUnixAndBack() throws Exception {
        relayMessages("shm", "unix");
        relayMessages("unix", "shm");
    }

    @Test
    void aFullTargetLeavesTheBufferHeldAndAWriteBufferCannotBeForwarded() throws Exception {
        // the relay's side untrusted: it reads private copies, so it forwards by copy and needs the target's slots
        try (Pair in = Pair.open("shm", ConnectOptions.untrusted(), ConnectOptions.trusted());
             Pair out = Pair.open("shm", ConnectOptions.trusted(), ConnectOptions.trusted().slotSize(1024).slotCount(2).logBytes(64 * 1024))) {
            Buffer w = in.client().claim(8);
            assertThrows(IllegalStateException.class, () -> w.forward(out.client()));
            w.putLong(0, 99);
            w.commit();
            for (int i = 0; i < 2; i++) {   // fill the target's two slots
                Buffer x = out.client().claim(1000);
                x.commit();
            }
            Buffer r = in.server().receive(LIMIT);
            byte[] big = new byte[1000];
            Arrays.fill(big, (byte) 7);
            in.client().send(big);
            Buffer r2 = in.server().receive(LIMIT);
            assertTrue(r.forward(out.client()), "an 8-byte message goes inline in the target's log");
            assertFalse(r2.forward(out.client()), "no slot free on the target: the relay keeps the buffer");
            assertEquals(1000, r2.length(), "still held and readable");
            out.server().receive(LIMIT).release();
            assertTrue(r2.forward(out.client()));
            out.server().receive(LIMIT).release();
            assertEquals(99, out.server().receive(LIMIT).getLong(0));
            byte[] back = out.server().receiveMessage(LIMIT);
            assertArrayEquals(big, back);
            assertThrows(IllegalArgumentException.class, () -> {
                in.client().send(new byte[2000]);
                Buffer tooBig = in.server().receive(LIMIT);
                try {
                    tooBig.forward(out.client());
                } finally {
                    tooBig.release();
                }
            }, "the target's 1 KiB fragments cannot take a 2,000-byte fragment");
        }
    }

    /**
     * Zero copy: a forwarded slot stays held by the relay until the far end released it (the sender cannot reuse
     * it), which a copy would not do; the far end reads the sender's bytes from the sender's pool.
     */
    @Test
    void aForwardedSlotIsLentNotCopied() throws Exception {
        ConnectOptions twoSlots = ConnectOptions.trusted().slotSize(4096).slotCount(2);
        try (Pair in = Pair.open("shm", ConnectOptions.trusted(), twoSlots);
             Pair out = Pair.open("shm", ConnectOptions.trusted(), ConnectOptions.trusted())) {
            Connection a = in.client(), relayIn = in.server(), relayOut = out.client(), b = out.server();
            for (int i = 0; i < 2; i++) {   // both of the sender's slots (above the 512-byte inline limit)
                Buffer w = a.claim(1000);
                w.putLong(0, i);
                w.putLong(992, ~i);
                w.commit();
            }
            for (int i = 0; i < 2; i++) {
                Buffer r = relayIn.receive(LIMIT);
                assertTrue(r.forward(relayOut));
            }
            assertNull(relayIn.poll());   // the relay has given both buffers away (forward released them, from its view)
            assertNull(a.claim(1000), "both slots are free again if the relay copied: lent ones stay held until the far end releases them");
            Buffer f0 = b.receive(LIMIT);
            Buffer f1 = b.receive(LIMIT);
            assertEquals(0, f0.getLong(0));
            assertEquals(~0L, f0.getLong(992));
            assertEquals(1, f1.getLong(0));
            assertEquals(Buffer.Kind.SHM_SLOT, f0.kind());
            f0.release();
            f1.release();
            assertNull(b.poll());   // an idle poll publishes the far end's releases
            assertNull(relayIn.receive(Duration.ofMillis(50)), "nothing to read; meanwhile the relay's reader saw the far end's releases");
            Buffer again = a.claim(1000);
            assertNotNull(again, "the far end released both, but the sender never got its slots back");
            again.commit();
            assertEquals(1000, relayIn.receive(LIMIT).length());
        }
    }

    /**
     * The far end released both lent slots before the relay's target switched shm -> tcp, but the relay's reader looks
     * only after the retired shm leg has closed: it still gets them back (it used to count them stranded, held for
     * good, which stalled a relay whose own side switched mid-stream once its sender's pool ran dry).
     */
    @Test
    void slotsReleasedBeforeTheTargetSwitchedComeBackWhenTheLenderLooksAfterTheOldLegClosed() throws Exception {
        ConnectOptions twoSlots = ConnectOptions.trusted().slotSize(4096).slotCount(2);
        try (Pair in = Pair.open("shm", ConnectOptions.trusted(), twoSlots);
             Pair out = Pair.open("shm", ConnectOptions.trusted(), ConnectOptions.trusted())) {
            Connection a = in.client(), relayIn = in.server(), relayOut = out.client(), b = out.server();
            for (int i = 0; i < 2; i++) {
                Buffer w = a.claim(1000);
                w.putLong(0, i);
                w.commit();
            }
            for (int i = 0; i < 2; i++) assertTrue(relayIn.receive(LIMIT).forward(relayOut));
            for (int i = 0; i < 2; i++) {
                Buffer f = b.receive(LIMIT);
                assertEquals(Buffer.Kind.SHM_SLOT, f.kind(), "lent in place");
                assertEquals(i, f.getLong(0));
                f.release();
            }
            assertNull(b.poll());   // publishes the far end's releases on the shm leg
            assertEquals(1, relayOut.reconfigure("tcp", "test"));
            dev.fable.flow.LiveConnection target = (dev.fable.flow.LiveConnection) relayOut;
            dev.fable.testing.Await.until(() -> b.poll() == null && target.openLegs() == 1 && "tcp".equals(b.transport()), LIMIT,
                    () -> "the retired shm leg did not close: " + target.openLegs() + " legs open");
            assertNull(relayIn.poll(), "nothing to read; the relay's reader looks at its lent slots now, after the old leg closed");
            Buffer again = a.claim(1000);
            assertNotNull(again, "the far end released both lent slots before the switch, but the sender never got them back");
            again.putLong(0, 2);
            again.commit();
            Buffer r = relayIn.receive(LIMIT);
            assertTrue(r.forward(relayOut), "now over tcp: by copy");
            assertEquals(2, b.receive(LIMIT).getLong(0));
        }
    }

    /** Many relayed messages in place and by copy mixed (small ones inline, large ones lent), every byte checked. */
    @Test
    void aRelayInPlaceKeepsEveryByteAndTheOrder() throws Exception {
        try (Pair in = Pair.open("shm", ConnectOptions.trusted(), ConnectOptions.trusted().slotSize(8192).slotCount(8));
             Pair out = Pair.open("shm", ConnectOptions.trusted(), ConnectOptions.trusted())) {
            Connection a = in.client(), relayIn = in.server(), relayOut = out.client(), b = out.server();
            Random rnd = new Random(7);
            int n = 20_000;
            Thread sender = new Thread(() -> {
                Random r = new Random(7);
                for (int i = 0; i < n; i++) {
                    byte[] msg = new byte[r.nextInt(3) == 0 ? r.nextInt(500) : 600 + r.nextInt(20_000)];
                    r.nextBytes(msg);
                    a.send(msg);
                }
            });
            sender.start();
            Thread relay = new Thread(() -> {
                long forwarded = 0;
                while (forwarded < Long.MAX_VALUE) {
                    Buffer r = relayIn.receive(Duration.ofSeconds(5));
                    if (r == null) return;
                    while (!r.forward(relayOut)) Thread.onSpinWait();
                    forwarded++;
                }
            });
            relay.start();
            for (int i = 0; i < n; i++) {
                byte[] want = new byte[rnd.nextInt(3) == 0 ? rnd.nextInt(500) : 600 + rnd.nextInt(20_000)];
                rnd.nextBytes(want);
                assertArrayEquals(want, b.receiveMessage(LIMIT), "message " + i);
            }
            sender.join();
            relay.join();
        }
    }
}
