package dev.fable.endpoint;

import com.code_intelligence.jazzer.junit.FuzzTest;
import dev.fable.FableException;
import dev.fable.fuzz.Fuzzing;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;

/**
 * An endpoint's first frame from a stranger: a REJOIN through {@link LocalEndpoint#authenticate} and
 * {@link LocalEndpoint#rejoinRequest}. With the first byte odd the input gets a valid authenticator
 * (HMAC-SHA256 under the test's secret, "fable-rejoin-v1" first, as docs/security.md specifies), so
 * the fields behind it are reached. Only {@link FableException} (and its {@code Transport.Refused}) may come out.
 */
public class SessionFrameJazzer {
    private static final byte[] SECRET = new byte[32];

    @FuzzTest(maxExecutions = Fuzzing.SUITE)
    void session(byte[] input) throws Exception {
        fuzzerTestOneInput(input);
    }

    public static void fuzzerTestOneInput(byte[] input) throws Exception {
        if (input.length == 0) return;
        byte[] frame = Arrays.copyOfRange(input, 1, input.length);
        if ((input[0] & 1) == 1) frame = authenticated(frame);
        ByteBuffer b = ByteBuffer.wrap(frame);
        try {
            LocalEndpoint.authenticate(b, SECRET, 42);
            LocalEndpoint.rejoinRequest(b);
        } catch (FableException refused) {
            // refused or malformed: the documented outcomes
        }
    }

    private static byte[] authenticated(byte[] frame) throws Exception {
        javax.crypto.Mac m = javax.crypto.Mac.getInstance("HmacSHA256");
        m.init(new javax.crypto.spec.SecretKeySpec(SECRET, "HmacSHA256"));
        m.update("fable-rejoin-v1".getBytes(StandardCharsets.US_ASCII));
        m.update(frame);
        byte[] out = Arrays.copyOf(frame, frame.length + 32);
        System.arraycopy(m.doFinal(), 0, out, frame.length, 32);
        return out;
    }
}
