package dev.fable.naming.protocol;

import com.code_intelligence.jazzer.junit.FuzzTest;
import dev.fable.fuzz.Fuzzing;

import java.nio.ByteBuffer;

/**
 * The daemon protocol as a client can feed it: the first byte chooses a payload for
 * {@link Messages#decode} or a byte stream for the {@link FrameDecoder} (each frame it yields then
 * decoded). Only {@link ProtocolException} may come out.
 */
public class ProtocolJazzer {
    @FuzzTest(maxExecutions = Fuzzing.SUITE)
    void protocol(byte[] input) throws Exception {
        fuzzerTestOneInput(input);
    }

    /** The target, also for a standalone run ({@code com.code_intelligence.jazzer.Jazzer --target_class=...}). */
    public static void fuzzerTestOneInput(byte[] input) {
        if (input.length == 0) return;
        ByteBuffer rest = ByteBuffer.wrap(input, 1, input.length - 1);
        try {
            if ((input[0] & 1) == 0) {
                Messages.decode(rest);
            } else {
                FrameDecoder d = new FrameDecoder();
                for (ByteBuffer frame; (frame = d.next(rest)) != null; ) Messages.decode(frame);
            }
        } catch (ProtocolException refused) {
            // the one documented outcome of bad input
        }
    }
}
