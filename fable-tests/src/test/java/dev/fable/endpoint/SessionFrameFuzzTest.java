package dev.fable.endpoint;

import dev.fable.FableException;
import dev.fable.WaitMode;
import dev.fable.testing.Fuzz;
import dev.fable.transport.Frames;
import dev.fable.transport.Transport;
import org.junit.jupiter.api.Test;

import javax.crypto.Mac;
import javax.crypto.spec.SecretKeySpec;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

/**
 * Fuzzing of the first frame an endpoint reads from a connector ({@link LocalEndpoint}'s session): the
 * session frame (OPEN, or REJOIN with nonce, reason, wait mode and authenticator), or for a local
 * connector without one, the transport hello whose transport name the door reads. The parsing runs as
 * the endpoint runs it, minus the socket: the header fields, {@link LocalEndpoint#authenticate} with the
 * connection's secret, then {@link LocalEndpoint#rejoinRequest}. Half the mutated inputs get a valid
 * authenticator again, so that the fuzzer reaches the fields behind the MAC (what the connection's own
 * peer could send). Only {@link FableException} (of which {@link Transport.Refused}) may come out.
 */
class SessionFrameFuzzTest {
    static final int INPUTS = 20_000;
    private static final int MAGIC = 0x46534553;   // "FSES"
    private static final int HEADER = 4 + 1 + 8 + 8;
    private static final byte[] SECRET = "0123456789abcdef0123456789abcdef".getBytes(StandardCharsets.US_ASCII);

    /** HMAC-SHA256 with the connection's secret over "fable-rejoin-v1" and the frame before the authenticator (LocalEndpoint's javadoc). */
    static byte[] mac(byte[] bytes, int length) {
        try {
            Mac m = Mac.getInstance("HmacSHA256");
            m.init(new SecretKeySpec(SECRET, "HmacSHA256"));
            m.update("fable-rejoin-v1".getBytes(StandardCharsets.US_ASCII));
            m.update(bytes, 0, length);
            return m.doFinal();
        } catch (java.security.GeneralSecurityException e) {
            throw new AssertionError(e);
        }
    }

    /** The input with a valid authenticator in its last 32 bytes (if it is long enough to have one). */
    static byte[] signed(byte[] in) {
        if (in.length < 32) return in;
        byte[] out = in.clone();
        System.arraycopy(mac(out, out.length - 32), 0, out, out.length - 32, 32);
        return out;
    }

    static byte[] open(long id) {
        return ByteBuffer.allocate(HEADER).putInt(MAGIC).put((byte) 1).putLong(id).putLong(0).array();
    }

    static byte[] rejoin(long id, long epoch, String reason, int wait) {
        ByteBuffer b = ByteBuffer.allocate(HEADER + 16 + 2 + 4096 + 1 + 32).putInt(MAGIC).put((byte) 2).putLong(id).putLong(epoch);
        b.put(new byte[16]);
        Frames.putString(b, reason);
        b.put((byte) wait);
        b.put(new byte[32]);
        return signed(Arrays.copyOf(b.array(), b.position()));
    }

    static byte[] hello(String transport) {
        ByteBuffer b = ByteBuffer.allocate(64);
        Frames.putString(b, transport);
        b.putShort((short) 2);
        Frames.putString(b, "svc");
        return Arrays.copyOf(b.array(), b.position());
    }

    /** The endpoint's reading of a first frame; returns what it made of it. */
    static String session(byte[] input) {
        ByteBuffer first = ByteBuffer.wrap(input);
        if (first.remaining() < HEADER || first.getInt(0) != MAGIC) {
            String transport = Frames.getString(first.duplicate(), "transport");   // checkDoor: the hello's transport name
            assertTrue(transport.length() <= 4096);
            return "hello" + (List.of("shm", "unix", "tcp", "tls").contains(transport) ? " " + transport : "");
        }
        byte kind = first.get(4);
        long id = first.getLong(5);
        if (kind != 1 && kind != 2) throw new Transport.Refused("unknown session kind " + kind);
        if (kind == 1) return "open";
        int limit = first.limit();
        LocalEndpoint.authenticate(first, SECRET, id);
        assertEquals(limit - 32, first.limit(), "the authenticator is dropped from the frame");
        LocalEndpoint.Rejoin r = LocalEndpoint.rejoinRequest(first);
        assertTrue(r.reason().getBytes(StandardCharsets.UTF_8).length <= 4096 * 3);
        assertTrue(first.position() <= first.limit(), "read no further than the authenticated part");
        return "rejoin " + r.waitMode() + (first.hasRemaining() ? " with trailing bytes" : "");
    }

    static List<byte[]> seeds() {
        List<byte[]> l = new ArrayList<>();
        l.add(open(0x1234_5678_9ABC_DEF1L));
        for (int w = 0; w <= WaitMode.values().length; w++) l.add(rejoin(77, 1 + w, "policy: contention", w));
        l.add(rejoin(-1, Long.MAX_VALUE, "", 0));
        l.add(rejoin(5, 2, "ü".repeat(300), 1));
        for (String t : List.of("shm", "unix", "tcp", "tls")) l.add(hello(t));
        return l;
    }

    @Test
    void seedsAreReadAsTheEndpointReadsThem() {
        assertEquals("open", session(open(9)));
        assertEquals("rejoin null", session(rejoin(9, 1, "why", 0)));
        assertEquals("rejoin " + WaitMode.values()[0], session(rejoin(9, 1, "why", 1)));
        assertEquals("hello unix", session(hello("unix")));
        byte[] forged = rejoin(9, 1, "why", 0);
        forged[HEADER] ^= 1;   // the nonce changed after signing
        assertTrue(assertThrows(Transport.Refused.class, () -> session(forged)).getMessage().contains("wrong authenticator"));
        byte[] badWait = rejoin(9, 1, "why", WaitMode.values().length + 1);
        assertTrue(assertThrows(Transport.Refused.class, () -> session(badWait)).getMessage().contains("wait mode"));
    }

    @Test
    void sessionFramesOnlyEverParseOrRefuse() {
        Fuzz.Result r = Fuzz.target("endpoint: session frame and hello")
                .seeds(seeds())
                .inputs(INPUTS)
                .maxLength(4 * 1024 + 128)
                .fixup(SessionFrameFuzzTest::signed)
                .expecting(FableException.class)
                .allocationCap(n -> 16 * 1024 + 8 * n)
                .run(SessionFrameFuzzTest::session);
        assertTrue(r.labels() > 10, r.toString());
    }
}
