package dev.fable.transport.stream;

import com.code_intelligence.jazzer.junit.FuzzTest;
import dev.fable.FableException;
import dev.fable.fuzz.Fuzzing;
import dev.fable.transport.ControlChannel;
import dev.fable.transport.Frames;

import java.io.IOException;
import java.nio.ByteBuffer;

/**
 * The unix/tcp/tls handshake as either side reads the other's: the acceptor a HELLO (target name,
 * {@code Side}), the connector an ACCEPT ({@code Side}, then the connection secret and the door
 * ticket). The first byte chooses. Only {@link FableException} may come out.
 */
public class StreamHelloJazzer {

    @FuzzTest(maxExecutions = Fuzzing.SUITE)
    void hello(byte[] input) throws Exception {
        fuzzerTestOneInput(input);
    }

    public static void fuzzerTestOneInput(byte[] input) throws IOException {
        ControlChannel control = Fuzzing.controlChannel();
        if (input.length == 0) return;
        ByteBuffer b = ByteBuffer.wrap(input, 1, input.length - 1);
        try {
            if ((input[0] & 1) == 0) {
                Frames.getString(b, "target name");
                StreamTransport.Side.read(b);
            } else {
                StreamTransport.Side.read(b);
                control.takeSecret(b);
            }
        } catch (FableException refused) {
            // malformed: the documented outcome
        }
    }
}
