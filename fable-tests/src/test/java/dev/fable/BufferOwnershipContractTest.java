package dev.fable;

import dev.fable.testing.Pair;
import org.junit.jupiter.api.function.Executable;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

import java.nio.ReadOnlyBufferException;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.FutureTask;

import static dev.fable.testing.Tasks.join;
import static dev.fable.testing.Tasks.spawn;
import static org.junit.jupiter.api.Assertions.*;

/** Who owns a buffer: a held buffer keeps its contents whatever is released around it, and every buffer is single-use. */
class BufferOwnershipContractTest extends ChannelContract {
    static void fill(Buffer b, long seq, int len) {
        for (int i = 0; i < len; i++) b.putByte(i, patternByte(seq, i));
    }

    static void check(Buffer b, long seq, int len, String what) {
        assertEquals(len, b.length(), what + ": length");
        for (int i = 0; i < len; i++) {
            byte got = b.getByte(i);
            if (got != patternByte(seq, i)) {
                fail(what + ": byte " + i + " is " + got + ", expected " + patternByte(seq, i));
            }
        }
    }

    // ---- typed access ----

    /** Every typed accessor round-trips over every transport, little-endian byte by byte, bounds checked; the NIO view is the message. */
    @ParameterizedTest(name = "{0}")
    @MethodSource("transports")
    void typedValuesArriveLittleEndianOverEveryTransport(String transport) throws Exception {
        try (Pair p = open(transport, "typed", ConnectOptions.trusted(), ConnectOptions.trusted())) {
            Buffer b = p.client().claim(64, WAIT);
            assertNotNull(b);
            b.length(31);
            b.putShort(0, (short) 0x0102);
            b.putInt(2, 0x03040506);
            b.putLong(6, 0x0708090A0B0C0D0EL);
            b.putFloat(14, 1.5f);
            b.putDouble(18, -2.25);
            b.putByte(26, (byte) 0x7F);
            b.putInt(27, -1);
            assertThrows(IndexOutOfBoundsException.class, () -> b.putInt(b.capacity() - 3, 0), "an int past capacity");
            b.commit();
            Buffer r = p.server().receive(WAIT);
            assertNotNull(r);
            assertEquals(31, r.length());
            assertEquals((short) 0x0102, r.getShort(0));
            assertEquals(0x02, r.getByte(0), "little-endian: the low byte first");
            assertEquals(0x03040506, r.getInt(2));
            assertEquals(0x06, r.getByte(2));
            assertEquals(0x0708090A0B0C0D0EL, r.getLong(6));
            assertEquals(0x0E, r.getByte(6));
            assertEquals(1.5f, r.getFloat(14));
            assertEquals(-2.25, r.getDouble(18));
            assertEquals(-1, r.getInt(27));
            assertThrows(IndexOutOfBoundsException.class, () -> r.getLong(-1));
            java.nio.ByteBuffer view = r.asByteBuffer();
            assertEquals(31, view.remaining(), "the view is the message's bytes");
            assertEquals(java.nio.ByteOrder.LITTLE_ENDIAN, view.order());
            assertEquals(0x03040506, view.getInt(2));
            assertTrue(view.isReadOnly(), "a read buffer's view is read-only");
            assertThrows(java.nio.ReadOnlyBufferException.class, () -> r.putInt(0, 1));
            r.release();
            assertThrows(IllegalStateException.class, () -> r.getInt(0), "a released buffer cannot be read");
        }
    }

    /** claim() of nothing is a mistake; claim() of too much grants what there is and says so; an empty message still goes. */
    @ParameterizedTest(name = "{0}")
    @MethodSource("transports")
    void claimSaysWhatItGrantsAndRefusesNothing(String transport) throws Exception {
        try (Pair p = open(transport, "grant", ConnectOptions.trusted(), ConnectOptions.trusted())) {
            Connection c = p.client();
            assertThrows(IllegalArgumentException.class, () -> c.claim(0));
            assertThrows(IllegalArgumentException.class, () -> c.claim(-1));
            Buffer b = c.claim(c.maxFragment() + 100_000, WAIT);
            assertNotNull(b);
            assertEquals(c.maxFragment(), b.length(), "granted: the largest fragment, and length() says so");
            IndexOutOfBoundsException e = assertThrows(IndexOutOfBoundsException.class, () -> b.length(b.capacity() + 1));
            assertTrue(e.getMessage().contains("send(byte[])"), "the message says what to do: " + e.getMessage());
            b.length(3).putByte(0, (byte) 1);
            b.commit();
            c.send(new byte[0]);
            Buffer r = p.server().receive(WAIT);
            assertNotNull(r);
            assertEquals(3, r.length());
            r.release();
            byte[] empty = p.server().receiveMessage(WAIT);
            assertNotNull(empty, "the empty message arrived");
            assertEquals(0, empty.length);
        }
    }

    // ---- out-of-order release ----

    @ParameterizedTest(name = "{0}")
    @MethodSource("transports")
    void buffersReleasedInShuffledOrderKeepTheirContents(String transport) throws Exception {
        final int held = 8;
        final int rounds = 500;
        final int len = 200;
        ConnectOptions writerOpts = ConnectOptions.trusted().slotSize(256).slotCount(16);
        try (Pair p = open(transport, "ooo", ConnectOptions.trusted(), writerOpts)) {
            FutureTask<Void> tx = spawn("ooo-tx", () -> {
                for (long seq = 0; seq < (long) held * rounds; seq++) {
                    Buffer b = p.client().claim(len, WAIT);
                    assertNotNull(b, "claim for message " + seq);
                    b.length(len);
                    fill(b, seq, len);
                    b.commit();
                }
                return null;
            });
            Random shuffle = new Random(42);
            long seq = 0;
            for (int round = 0; round < rounds; round++) {
                List<Buffer> bufs = new ArrayList<>();
                Map<Buffer, Long> seqOf = new HashMap<>();
                for (int k = 0; k < held; k++, seq++) {
                    Buffer b = p.server().receive(WAIT);
                    assertNotNull(b, "message " + seq + " never arrived");
                    check(b, seq, len, "message " + seq);
                    bufs.add(b);
                    seqOf.put(b, seq);
                }
                assertEquals(held, seqOf.size(), "round " + round + ": the same buffer object handed out twice while held");
                List<Buffer> order = new ArrayList<>(bufs);
                Collections.shuffle(order, shuffle);
                for (int k = 0; k < held; k++) {
                    order.get(k).release();
                    // the writer keeps writing into freed slots: the ones still held must not change
                    for (int j = k + 1; j < held; j++) {
                        Buffer still = order.get(j);
                        check(still, seqOf.get(still), len, "round " + round + ": held message " + seqOf.get(still)
                                + " after releasing " + (k + 1) + " of " + held + " out of order");
                    }
                }
            }
            join(tx);
            assertEquals((long) held * rounds, p.server().messagesReceived());
        }
    }

    // ---- single-use buffers ----

    private static void assertDead(Buffer b, String what) {
        Map<String, Executable> calls = new LinkedHashMap<>();
        calls.put("capacity()", b::capacity);
        calls.put("length()", b::length);
        calls.put("length(int)", () -> b.length(1));
        calls.put("more()", b::more);
        calls.put("segment()", b::segment);
        calls.put("getByte", () -> b.getByte(0));
        calls.put("getLong", () -> b.getLong(0));
        calls.put("putByte", () -> b.putByte(0, (byte) 1));
        calls.put("putLong", () -> b.putLong(0, 1));
        calls.put("put", () -> b.put(0, new byte[4], 0, 4));
        calls.put("get", () -> b.get(0, new byte[4], 0, 4));
        calls.put("commit()", b::commit);
        calls.put("commitFragment()", b::commitFragment);
        calls.put("release()", b::release);
        for (Map.Entry<String, Executable> e : calls.entrySet()) {
            assertThrows(IllegalStateException.class, e.getValue(), what + ": " + e.getKey() + " on a dead buffer");
        }
    }

    /** A write-side call on a read buffer: refused as a read-only buffer or as the wrong state, either is fine. */
    private static void assertRefused(Executable call, String what) {
        RuntimeException e = assertThrows(RuntimeException.class, call, what);
        if (!(e instanceof ReadOnlyBufferException) && !(e instanceof IllegalStateException)) {
            fail(what + " threw " + e + ", expected ReadOnlyBufferException or IllegalStateException");
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("transports")
    void buffersAreSingleUse(String transport) throws Exception {
        try (Pair p = open(transport, "single")) {
            Connection c = p.client();
            Connection s = p.server();

            Buffer w = c.claim(64, WAIT);
            assertNotNull(w);
            assertFalse(w.isReadOnly());
            assertSame(c, w.connection());
            assertThrows(IllegalStateException.class, w::release, "release() of a write buffer");
            w.length(16);
            w.putLong(0, 7);
            w.putLong(8, 8);
            w.commit();
            assertDead(w, "committed write buffer");

            Buffer f = c.claim(64, WAIT);
            assertNotNull(f);
            f.length(8);
            f.putLong(0, 9);
            f.commitFragment();
            assertDead(f, "write buffer after commitFragment");
            Buffer last = c.claim(64, WAIT);
            last.length(8);
            last.putLong(0, 10);
            last.commit();

            Buffer r = s.receive(WAIT);
            assertNotNull(r);
            assertTrue(r.isReadOnly());
            assertSame(s, r.connection());
            assertEquals(16, r.length());
            assertEquals(7, r.getLong(0));
            assertFalse(r.more());
            assertThrows(ReadOnlyBufferException.class, () -> r.putByte(0, (byte) 1), "putByte on a read buffer");
            assertThrows(ReadOnlyBufferException.class, () -> r.putLong(0, 1), "putLong on a read buffer");
            assertThrows(ReadOnlyBufferException.class, () -> r.put(0, new byte[4], 0, 4), "put on a read buffer");
            assertRefused(() -> r.length(1), "length(int) on a read buffer");
            assertRefused(r::commit, "commit() of a read buffer");
            assertRefused(r::commitFragment, "commitFragment() of a read buffer");
            assertEquals(7, r.getLong(0), "the refused writes changed nothing");
            assertEquals(8, r.getLong(8));
            r.release();
            assertDead(r, "released read buffer");

            Buffer r1 = s.receive(WAIT);
            assertNotNull(r1);
            assertTrue(r1.more(), "first fragment of a two-fragment message");
            assertEquals(9, r1.getLong(0));
            Buffer r2 = s.receive(WAIT);
            assertNotNull(r2);
            assertFalse(r2.more());
            assertEquals(10, r2.getLong(0));
            r2.release();
            r1.release();
            assertDead(r1, "read buffer released after a later one");
            assertDead(r2, "read buffer released before an earlier one");
        }
    }
}
