package dev.fable.naming.protocol;

import dev.fable.naming.protocol.Message.*;
import dev.fable.testing.Fuzz;
import org.junit.jupiter.api.Test;

import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.*;

/**
 * Fuzzing of the daemon protocol's decoders ({@link Fuzz}): {@link Messages#decode} on arbitrary payloads
 * and the {@link FrameDecoder} on arbitrary byte streams. Only {@link ProtocolException} may come out; no
 * input allocates beyond a small multiple of its own length (plus one frame for the stream); every payload
 * that decodes encodes back to the same bytes, unless the encoder's documented clipping or list chunking
 * applies, and then decoding the re-encoding is a fixed point.
 */
class MessagesFuzzTest {
    static final int DECODE_INPUTS = 40_000;
    static final int STREAM_INPUTS = 15_000;

    private static final String FP = "ab".repeat(32);

    /** One message of every type, with strings of several kinds (null, empty, non-ASCII, long). */
    static List<Message> everyType() {
        Route route = new Route("shm", "same host", "svc", 42, "host-a", true, "/run/x.sock", null, 9000, FP);
        FlowEntry flow = new FlowEntry(7, "a", "b", "tcp", "policy", 3, 10, 20, 1, 2, 1000, 99, true, "SPIN", false, 1, -1);
        FlowEntry publishing = flow.withFanout(new FlowEntry.Fanout(true, 5, 3, 128, "relaxed"));
        FlowEntry subscribing = flow.withFanout(new FlowEntry.Fanout(false, 2, -1, -1, "strict"));
        return List.of(new Hello(1, 7, "java ünïcode ✓", null), new Welcome(2, "h", "127.0.0.1", FP, 3), new Register(3, "svc"),
                new Ok(4), new Fail(5, Wire.E_NOT_FOUND, "no such name"), new Listening(6, "svc", "/p", "127.0.0.1", 65535),
                new Unregister(7, ""), new Resolve(8, "svc", true, "tcp", 100), new RouteReply(9, route), new NamesRequest(10),
                new NameList(11, true, List.of(new NameEntry("a", 1, "h", "/p", null), new NameEntry("b", 2, null, null, "127.0.0.1:5"))),
                new FlowsRequest(12), new FlowList(13, true, List.of(flow)), new FlowQuery(14), new FlowReport(15, true, List.of(flow, publishing, flow, subscribing)),
                new StatsRequest(16, true), new Stats(17, 1L << 40, 2, 3, 4), new KnownHost(19, FP),
                new Reconfigure(20, 4242, "conn", "shm", null, 77, "PARK"), new Trust(21, "10.0.0.0/8", false),
                new PolicyChanged(22, "local policy", null), new TrustedAddress(24, "::1"),
                new Refused(25, "svc", "10.1.2.3", "bad proof", 9), new RefusalsRequest(26),
                new RefusalList(27, 12, List.of(new RefusalEntry("svc", "10.1.2.3", 3, "bad proof", 1700000000000L))));
    }

    /** The frames (length prefix included) of {@link #everyType}. */
    static List<byte[]> frames() {
        List<byte[]> l = new ArrayList<>();
        for (Message m : everyType()) l.add(bytes(Messages.encode(m)));
        return l;
    }

    private static byte[] bytes(ByteBuffer b) {
        byte[] a = new byte[b.remaining()];
        b.duplicate().get(a);
        return a;
    }

    /** The encoding of {@code m} as the daemon and the library write it: one frame, or the list's frames. */
    private static List<ByteBuffer> encodeAll(Message m) {
        return switch (m) {
            case NameList x -> Messages.encodeNames(x.id(), x.entries());
            case FlowList x -> Messages.encodeFlows(Wire.FLOW_LIST, x.id(), x.entries());
            case FlowReport x -> Messages.encodeFlows(Wire.FLOW_REPORT, x.id(), x.entries());
            default -> List.of(Messages.encode(m));
        };
    }

    private static Message decodeFrame(ByteBuffer frame) throws ProtocolException {
        ByteBuffer p = new FrameDecoder().next(frame.duplicate());
        assertNotNull(p, "an encoded frame is whole");
        return Messages.decode(p);
    }

    /** Decodes {@code payload}; if it decodes, checks the round trip. Returns the label. */
    static String decodeAndRoundTrip(byte[] payload) throws ProtocolException {
        Message m = Messages.decode(ByteBuffer.wrap(payload));
        List<ByteBuffer> again = encodeAll(m);
        if (again.size() == 1) {
            byte[] reencoded = Arrays.copyOfRange(bytes(again.getFirst()), 4, again.getFirst().remaining());
            if (Arrays.equals(payload, reencoded)) return m.getClass().getSimpleName();
        }
        // Not the same bytes: only the encoder's clipping of long free text, or a list's `last` flag and chunking explain that.
        List<Message> decoded = new ArrayList<>();
        for (ByteBuffer f : again) decoded.add(decodeFrame(f));
        switch (m) {
            case NameList x -> {
                assertFalse(x.last() && again.size() == 1, "a one-frame name list re-encodes to other bytes: " + m);
                assertEquals(x.entries(), decoded.stream().flatMap(d -> ((NameList) d).entries().stream()).toList());
            }
            case FlowList x -> {
                assertFalse(x.last() && again.size() == 1 && !clipsFlows(x.entries()), "a flow list re-encodes to other bytes: " + m);
                assertEquals(clipFlows(x.entries()), decoded.stream().flatMap(d -> ((FlowList) d).entries().stream()).toList());
            }
            case FlowReport x -> {
                assertFalse(x.last() && again.size() == 1 && !clipsFlows(x.entries()), "a flow report re-encodes to other bytes: " + m);
                assertEquals(clipFlows(x.entries()), decoded.stream().flatMap(d -> ((FlowReport) d).entries().stream()).toList());
            }
            default -> {
                assertEquals(1, again.size());
                Message back = decoded.getFirst();
                assertNotEquals(m, back, "the same message re-encodes to other bytes (two encodings of one message): " + m);
                assertTrue(clips(m), "re-encoding changed a message whose fields the encoder does not clip: " + m + " became " + back);
                assertEquals(bytes(again.getFirst()), bytes(Messages.encode(back)), "clipping is not a fixed point: " + m);
            }
        }
        return m.getClass().getSimpleName() + " re-encoded";
    }

    private static boolean longer(String s, int n) {
        return s != null && s.length() > n;
    }

    /** Does the encoder clip one of {@code m}'s free-text fields ({@link Messages#clip}, {@link Messages#clipShort})? */
    private static boolean clips(Message m) {
        return switch (m) {
            case Fail x -> longer(x.text(), 1000);
            case Reconfigure x -> longer(x.reason(), 1000);
            case PolicyChanged x -> longer(x.what(), 1000);
            case Refused x -> longer(x.endpoint(), 240) || longer(x.address(), 240) || longer(x.reason(), 240);
            case RefusalList x -> x.entries().stream().anyMatch(e -> longer(e.endpoint(), 240) || longer(e.address(), 240)
                    || longer(e.lastReason(), 240));
            default -> false;
        };
    }

    private static boolean clipsFlows(List<FlowEntry> l) {
        return !clipFlows(l).equals(l);
    }

    private static List<FlowEntry> clipFlows(List<FlowEntry> l) {
        return l.stream().map(e -> new FlowEntry(e.pid(), Messages.clip(e.localName()), Messages.clip(e.peerName()),
                Messages.clip(e.transport()), Messages.clip(e.reason()), e.epoch(), e.bytesSent(), e.bytesReceived(), e.messagesSent(),
                e.messagesReceived(), e.openedAtMillis(), e.connectionId(), e.connector(), e.waitMode(), e.waitOverridden(),
                e.sendCpu(), e.recvCpu()).withFanout(e.fanout())).toList();
    }

    @Test
    void decodeOnlyEverDecodesOrRefusesAndRoundTrips() {
        List<byte[]> payloads = frames().stream().map(f -> Arrays.copyOfRange(f, 4, f.length)).toList();
        Fuzz.Result r = Fuzz.target("daemon protocol: Messages.decode")
                .seeds(payloads)
                .inputs(DECODE_INPUTS)
                .maxLength(Wire.MAX_FRAME)
                .expecting(ProtocolException.class)
                // strings decode through a CharBuffer and a String (~3 B per input byte), list entries are records
                .allocationCap(n -> 16 * 1024 + 24 * n)
                .run(MessagesFuzzTest::decodeAndRoundTrip);
        assertTrue(r.labels() > everyType().size(), "the fuzzer reached more than the seeds: " + r);
    }

    /** Feeds {@code stream} to a FrameDecoder in slices (sizes from the stream's own hash) and decodes every frame. */
    static String stream(byte[] stream) throws ProtocolException {
        FrameDecoder d = new FrameDecoder();
        Random slices = new Random(Arrays.hashCode(stream));
        ByteBuffer in = ByteBuffer.wrap(stream);
        int frames = 0;
        while (in.hasRemaining()) {
            int n = 1 + slices.nextInt(Math.max(1, Math.min(in.remaining(), 1 + slices.nextInt(64))));
            ByteBuffer slice = in.slice(in.position(), n);
            ByteBuffer p;
            while ((p = d.next(slice)) != null) {
                assertTrue(p.capacity() <= Wire.MAX_FRAME, "a payload buffer of " + p.capacity() + " B");
                Messages.decode(p);
                frames++;
            }
            assertFalse(slice.hasRemaining(), "the decoder left bytes of a slice unread");
            assertTrue(d.bufferedCapacity() <= Wire.MAX_FRAME, "buffered " + d.bufferedCapacity());
            in.position(in.position() + n);
        }
        return frames + " frames" + (d.midFrame() ? ", mid-frame" : "");
    }

    @Test
    void frameStreamOnlyEverDecodesOrRefuses() {
        List<byte[]> f = frames();
        List<byte[]> seeds = new ArrayList<>(f);
        for (int i = 0; i + 2 < f.size(); i += 3) {   // streams of three frames
            seeds.add(concat(concat(f.get(i), f.get(i + 1)), f.get(i + 2)));
        }
        Fuzz.target("daemon protocol: FrameDecoder stream")
                .seeds(seeds)
                .inputs(STREAM_INPUTS)
                .maxLength(16 * 1024)
                .expecting(ProtocolException.class)
                // one frame in progress at most (a header may claim MAX_FRAME before its bytes come), the rest as for decode
                .allocationCap(n -> Wire.MAX_FRAME + 32 * 1024 + 32 * n)
                .run(MessagesFuzzTest::stream);
    }

    private static byte[] concat(byte[] a, byte[] b) {
        byte[] r = Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, r, a.length, b.length);
        return r;
    }

    /**
     * A flow list's fan-out section is a suffix of the frame, only in frames with a subscription's row: a list
     * without one is the bytes older daemons and clients read, and theirs decode here.
     */
    @Test
    void theFanoutSectionIsAnOptionalSuffix() throws ProtocolException {
        FlowEntry plain = new FlowEntry(7, "a", "b", "shm", "r", 0, 1, 2, 3, 4, 5, 6, true, "spin", false, -1, -1);
        byte[] without = bytes(Messages.encodeFlows(Wire.FLOW_REPORT, 9, List.of(plain, plain)).getFirst());
        byte[] with = bytes(Messages.encodeFlows(Wire.FLOW_REPORT, 9, List.of(plain, plain.withFanout(new FlowEntry.Fanout(true, 1, 2, 3, "early"))))
                .getFirst());
        assertEquals(without.length + 4 + 21 + 2 + "early".length(), with.length, "the section: a count and one row's part");
        assertArrayEquals(Arrays.copyOfRange(without, 4, without.length), Arrays.copyOfRange(with, 4, without.length), "rows unchanged");
        FlowReport r = (FlowReport) Messages.decode(ByteBuffer.wrap(with, 4, with.length - 4));
        assertEquals(List.of(plain, plain.withFanout(new FlowEntry.Fanout(true, 1, 2, 3, "early"))), r.entries());
        byte[] badRow = with.clone();
        badRow[without.length + 7] = 2;   // the low byte of the section's row index (after its count): past the two rows
        assertThrows(ProtocolException.class, () -> Messages.decode(ByteBuffer.wrap(badRow, 4, badRow.length - 4)));
    }

    @Test
    void everySeedRoundTripsToItsOwnBytes() throws ProtocolException {
        for (byte[] f : frames()) {
            byte[] payload = Arrays.copyOfRange(f, 4, f.length);
            assertFalse(decodeAndRoundTrip(payload).contains("re-encoded"), "seed " + Fuzz.hex(payload));
        }
        assertEquals(Wire.REFUSAL_LIST - 2, everyType().size(), "a seed for every message type (18 and 23 are retired)");
    }

    /** The retired peer-daemon messages (PEER_RESOLVE 18, PEER_LISTENING 23) are unknown types now, refused as such. */
    @Test
    void theRetiredPeerMessagesAreUnknownTypes() {
        for (int type : new int[] {18, 23}) {
            // version, type, id, then what PEER_LISTENING carried (two strings)
            ByteBuffer b = ByteBuffer.allocate(64).put((byte) Wire.VERSION).put((byte) type).putInt(1).putShort((short) 3).put("svc".getBytes()).putShort((short) 1).put((byte) 'h').flip();
            ProtocolException e = assertThrows(ProtocolException.class, () -> Messages.decode(b));
            assertTrue(e.getMessage().contains(Integer.toString(type)), e.getMessage());
        }
    }
}
