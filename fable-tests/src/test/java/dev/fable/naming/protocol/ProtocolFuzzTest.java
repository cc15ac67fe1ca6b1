package dev.fable.naming.protocol;

import dev.fable.naming.protocol.FlowEntry;
import dev.fable.naming.protocol.NameEntry;
import dev.fable.naming.protocol.Route;
import org.junit.jupiter.api.Test;

import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.*;

/**
 * Drives the frame decoder and message decoder with seeded random and mutated input: every input
 * either decodes or fails with a {@link ProtocolException}; nothing else is thrown and no buffer
 * larger than one frame is ever allocated.
 */
class ProtocolFuzzTest {
    private static final int INPUTS = 120_000;

    static List<ByteBuffer> samples() {
        Route route = new Route("shm", "same host, trusted peer", "svc", 42, "host-a", true, "/run/x.sock", "127.0.0.1", 9000, "ab".repeat(32));
        List<ByteBuffer> l = new ArrayList<>();
        for (Message m : List.<Message>of(new Message.Hello(1, 7, "java", ""), new Message.Welcome(2, "h", "127.0.0.1", "fp", 3),
                new Message.Register(3, "svc"), new Message.Ok(4), new Message.Fail(5, Wire.E_NOT_FOUND, "no"),
                new Message.Listening(6, "svc", "/p", "127.0.0.1", 80), new Message.Unregister(7, "svc"),
                new Message.Resolve(8, "svc", true, "tcp", 100), new Message.RouteReply(9, route), new Message.NamesRequest(10),
                new Message.FlowsRequest(11), new Message.FlowQuery(12), new Message.StatsRequest(13, false), new Message.StatsRequest(13, true), new Message.Stats(14, 1, 2, 3, 4),
                new Message.KnownHost(16, "fp"))) {
            l.add(Messages.encode(m));
        }
        l.addAll(Messages.encodeNames(17, List.of(new NameEntry("a", 1, "h", "/p", null), new NameEntry("b", 2, "h", null, "127.0.0.1:5"))));
        l.addAll(Messages.encodeFlows(Wire.FLOW_REPORT, 18, List.of(new FlowEntry(1, "a", "b", "shm", "r", 1, 2, 3, 4, 5, 6))));
        return l;
    }

    /** Feeds {@code input} in random slices; returns the number of messages decoded. */
    private static int feed(byte[] input, Random rnd) {
        FrameDecoder d = new FrameDecoder();
        ByteBuffer in = ByteBuffer.wrap(input);
        int decoded = 0;
        try {
            while (in.hasRemaining()) {
                int n = 1 + rnd.nextInt(Math.max(1, in.remaining()));
                ByteBuffer slice = in.slice(in.position(), n);
                ByteBuffer p;
                while ((p = d.next(slice)) != null) {
                    assertTrue(p.capacity() <= Wire.MAX_FRAME, "payload buffer of " + p.capacity());
                    Messages.decode(p);
                    decoded++;
                }
                assertTrue(d.bufferedCapacity() <= Wire.MAX_FRAME);
                in.position(in.position() + n);
            }
        } catch (ProtocolException expected) {
            assertNotNull(expected.getMessage());
        }
        return decoded;
    }

    @Test
    void seededRandomAndMutatedInputsOnlyEverDecodeOrFailCleanly() {
        Random rnd = new Random(0xFAB1EL);
        List<ByteBuffer> samples = samples();
        long start = System.nanoTime();
        int decoded = 0;
        for (int i = 0; i < INPUTS; i++) {
            byte[] input;
            switch (i % 4) {
                case 0 -> {   // pure noise
                    input = new byte[rnd.nextInt(64)];
                    rnd.nextBytes(input);
                }
                case 1 -> {   // noise behind a plausible small length
                    input = new byte[4 + rnd.nextInt(80)];
                    rnd.nextBytes(input);
                    ByteBuffer.wrap(input).putInt(0, input.length - 4);
                }
                default -> {   // a valid message with bytes flipped, cut or appended
                    ByteBuffer s = samples.get(rnd.nextInt(samples.size()));
                    input = new byte[s.remaining()];
                    s.duplicate().get(input);
                    int flips = 1 + rnd.nextInt(3);
                    for (int f = 0; f < flips; f++) {
                        int at = 4 + rnd.nextInt(input.length - 4);
                        input[at] = (byte) rnd.nextInt(256);
                    }
                    if (rnd.nextBoolean()) input = java.util.Arrays.copyOf(input, 4 + rnd.nextInt(input.length - 3));
                    ByteBuffer.wrap(input).putInt(0, input.length - 4);
                }
            }
            decoded += feed(input, rnd);
        }
        long ms = (System.nanoTime() - start) / 1_000_000;
        System.out.println("protocol fuzz: " + INPUTS + " inputs, " + decoded + " decoded, " + ms + " ms");
        assertTrue(decoded > 0, "mutations should leave some messages valid");
    }

    @Test
    void everySampleRoundTrips() throws ProtocolException {
        for (ByteBuffer f : samples()) {
            FrameDecoder d = new FrameDecoder();
            ByteBuffer p = d.next(f.duplicate());
            assertNotNull(p);
            Message m = Messages.decode(p);
            if (!(m instanceof Message.NameList) && !(m instanceof Message.FlowReport)) assertEquals(f, Messages.encode(m));
        }
    }

    private static ProtocolException frameError(int length) {
        ByteBuffer b = ByteBuffer.allocate(8).putInt(length).putInt(0).flip();
        return assertThrows(ProtocolException.class, () -> new FrameDecoder().next(b));
    }

    @Test
    void hostileLengthsFailBeforeAllocating() {
        assertTrue(frameError(Integer.MAX_VALUE).getMessage().contains("2147483647"));
        assertTrue(frameError(Integer.MIN_VALUE).getMessage().contains("-2147483648"));
        frameError(-1);
        frameError(0);
        frameError(Wire.MAX_FRAME + 1);
    }

    @Test
    void unknownVersionIsRefusedWithItsOwnCode() {
        ByteBuffer p = ByteBuffer.allocate(6).put((byte) 99).put((byte) Wire.HELLO).putInt(1).flip();
        ProtocolException e = assertThrows(ProtocolException.class, () -> Messages.decode(p));
        assertEquals(Wire.E_VERSION, e.code());
        assertTrue(e.getMessage().contains("version 99"), e.getMessage());
    }

    @Test
    void truncatedAndOversizedStringsAndCountsAreRefused() {
        // REGISTER whose name claims 200 bytes but carries 3
        ByteBuffer p = ByteBuffer.allocate(11).put((byte) Wire.VERSION).put((byte) Wire.REGISTER).putInt(1).putShort((short) 200).put(new byte[3]).flip();
        assertTrue(assertThrows(ProtocolException.class, () -> Messages.decode(p)).getMessage().contains("truncated"));
        // a string longer than MAX_STRING
        ByteBuffer q = ByteBuffer.allocate(8 + 5000).put((byte) Wire.VERSION).put((byte) Wire.REGISTER).putInt(1).putShort((short) 5000).flip();
        q.limit(q.capacity());
        assertTrue(assertThrows(ProtocolException.class, () -> Messages.decode(q)).getMessage().contains("more than"));
        // a NAME_LIST claiming 2^31-1 entries
        ByteBuffer r = ByteBuffer.allocate(11).put((byte) Wire.VERSION).put((byte) Wire.NAME_LIST).putInt(1).put((byte) 1).putInt(Integer.MAX_VALUE).flip();
        assertTrue(assertThrows(ProtocolException.class, () -> Messages.decode(r)).getMessage().contains("does not fit"));
        // invalid UTF-8
        ByteBuffer u = ByteBuffer.allocate(10).put((byte) Wire.VERSION).put((byte) Wire.REGISTER).putInt(1).putShort((short) 2)
                .put((byte) 0xC3).put((byte) 0x28).flip();
        assertTrue(assertThrows(ProtocolException.class, () -> Messages.decode(u)).getMessage().contains("UTF-8"));
    }

    @Test
    void largeListsAreSplitIntoFramesThatFit() throws ProtocolException {
        List<NameEntry> many = new ArrayList<>();
        for (int i = 0; i < 3000; i++) many.add(new NameEntry("name-" + i, i, "host", "/run/fable/ep/name-" + i + ".sock", "127.0.0.1:" + i));
        List<ByteBuffer> frames = Messages.encodeNames(5, many);
        assertTrue(frames.size() > 1);
        List<NameEntry> back = new ArrayList<>();
        for (int i = 0; i < frames.size(); i++) {
            ByteBuffer p = new FrameDecoder().next(frames.get(i));
            Message.NameList l = (Message.NameList) Messages.decode(p);
            assertEquals(i == frames.size() - 1, l.last());
            back.addAll(l.entries());
        }
        assertEquals(many, back);
    }
}
