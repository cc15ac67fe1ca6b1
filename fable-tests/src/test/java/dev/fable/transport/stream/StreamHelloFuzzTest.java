package dev.fable.transport.stream;

import dev.fable.FableException;
import dev.fable.testing.Fuzz;
import dev.fable.transport.ControlChannel;
import dev.fable.transport.Frames;
import dev.fable.transport.Transport;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

/**
 * Fuzzing of the stream transports' handshake (unix, tcp, and tls inside its TLS session): the connector's
 * HELLO as the acceptor reads it (version, target name, {@link StreamTransport.Side}) and the acceptor's
 * ACCEPT or REJECT as the connector reads it (with the connection secret). Only {@link FableException}
 * may come out, and what is read stays within the announced bounds.
 */
class StreamHelloFuzzTest {
    static final int INPUTS = 10_000;
    private static final short VERSION = 1;
    private static SocketChannel unconnected;
    private static ControlChannel control;

    @BeforeAll
    static void channel() throws IOException {
        unconnected = SocketChannel.open();
        control = new ControlChannel(unconnected, "fuzz");
    }

    @AfterAll
    static void close() throws IOException {
        if (unconnected != null) unconnected.close();
    }

    static byte[] hello(String target, long pid, String name, int maxFragment) {
        ByteBuffer b = ByteBuffer.allocate(16 * 1024).putShort(VERSION);
        Frames.putString(b, target);
        b.putLong(pid);
        Frames.putString(b, name);
        b.putInt(maxFragment);
        return Arrays.copyOf(b.array(), b.position());
    }

    static byte[] reply(long pid, String name, int maxFragment, boolean secret) {
        ByteBuffer b = ByteBuffer.allocate(16 * 1024).put((byte) 2);
        b.putLong(pid);
        Frames.putString(b, name);
        b.putInt(maxFragment);
        if (secret) b.put((byte) ControlChannel.SECRET_BYTES).put(new byte[ControlChannel.SECRET_BYTES]);
        return Arrays.copyOf(b.array(), b.position());
    }

    /** Either side's reading: a HELLO (starts with the version) or, with a leading 0xFF marker byte, a reply. */
    static String read(byte[] input) {
        ByteBuffer b = ByteBuffer.wrap(input);
        if (input.length > 0 && input[0] == (byte) 0xFF) {   // the connector reading a reply
            b.get();
            byte type = Frames.getByte(b, "reply type");
            if (type == Transport.REJECT) return "refused " + Frames.getString(b, "reason").isEmpty();
            if (type != 2) return "other type";
            StreamTransport.Side s = StreamTransport.Side.read(b);
            assertTrue(s.maxFragment() >= 1 && s.maxFragment() <= StreamFrame.MAX_FRAGMENT);
            control.takeSecret(b);
            return "accepted" + (b.hasRemaining() ? " with trailing bytes" : "");
        }
        short version = b.remaining() >= 2 ? b.getShort() : -1;
        if (version != VERSION) return "other version";
        String wanted = Frames.getString(b, "target name");
        StreamTransport.Side s = StreamTransport.Side.read(b);
        assertTrue(s.maxFragment() >= 1 && s.maxFragment() <= StreamFrame.MAX_FRAGMENT, "largest fragment " + s.maxFragment());
        assertTrue(s.name().length() <= 4096 && wanted.length() <= 4096);
        return "hello" + (b.hasRemaining() ? " with trailing bytes" : "");
    }

    private static byte[] marked(byte[] reply) {
        byte[] r = new byte[reply.length + 1];
        r[0] = (byte) 0xFF;
        System.arraycopy(reply, 0, r, 1, reply.length);
        return r;
    }

    @Test
    void seedsParse() {
        assertEquals("hello", read(hello("svc", 1, "client", 65536)));
        assertEquals("accepted", read(marked(reply(2, "svc", 1, true))));
        assertThrows(FableException.class, () -> read(hello("svc", 1, "client", StreamFrame.MAX_FRAGMENT + 1)));
        assertThrows(FableException.class, () -> read(marked(Arrays.copyOf(reply(2, "svc", 1, true), 20))));
    }

    @Test
    void hellosAndRepliesOnlyEverParseOrRefuse() {
        List<byte[]> seeds = new ArrayList<>();
        seeds.add(hello("svc", 4242, "client", 1 << 20));
        seeds.add(hello("", -1, "ü✓", StreamFrame.MAX_FRAGMENT));
        seeds.add(hello("x".repeat(300), Long.MAX_VALUE, "y", 1));
        seeds.add(marked(reply(4243, "svc", 1 << 20, true)));
        seeds.add(marked(reply(4243, "svc", 64, false)));
        ByteBuffer refused = ByteBuffer.allocate(64).put((byte) 0xFF).put(Transport.REJECT);
        Frames.putString(refused, "this endpoint is 'a', not 'b'");
        seeds.add(Arrays.copyOf(refused.array(), refused.position()));
        Fuzz.target("stream: HELLO and ACCEPT")
                .seeds(seeds)
                .inputs(INPUTS)
                .maxLength(2 * 4096 + 64)
                .expecting(FableException.class)
                .allocationCap(n -> 16 * 1024 + 8 * n)
                .run(StreamHelloFuzzTest::read);
    }
}
