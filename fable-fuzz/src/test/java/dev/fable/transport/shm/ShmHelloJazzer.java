package dev.fable.transport.shm;

import com.code_intelligence.jazzer.junit.FuzzTest;
import dev.fable.FableException;
import dev.fable.fuzz.Fuzzing;
import dev.fable.transport.ControlChannel;

import java.io.IOException;
import java.nio.ByteBuffer;

/**
 * The shm handshake's fields as either side reads them ({@code ShmTransport.Side}: pid, name, wait
 * mode, geometry, descriptors), then the connector's secret and ticket, then the caps check against
 * the default limits. Mapping is not fuzzed here (it needs a live peer's memfds; fable-tests'
 * ShmHandshakeFuzzTest maps real ones). Only {@link FableException} may come out.
 */
public class ShmHelloJazzer {
    private static final dev.fable.transport.PeerLimits LIMITS = dev.fable.transport.PeerLimits.DEFAULTS;

    @FuzzTest(maxExecutions = Fuzzing.SUITE)
    void hello(byte[] input) throws Exception {
        fuzzerTestOneInput(input);
    }

    public static void fuzzerTestOneInput(byte[] input) throws IOException {
        ControlChannel control = Fuzzing.controlChannel();
        ByteBuffer b = ByteBuffer.wrap(input);
        try {
            ShmTransport.Side peer = ShmTransport.Side.read(b);
            ShmTransport.tooLarge(peer, null, null, LIMITS);
            control.takeSecret(b);
        } catch (FableException refused) {
            // malformed or too large: the documented outcomes
        }
    }
}
