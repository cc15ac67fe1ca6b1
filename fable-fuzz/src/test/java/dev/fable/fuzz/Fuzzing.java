package dev.fable.fuzz;

import dev.fable.transport.ControlChannel;

import java.io.IOException;
import java.nio.channels.SocketChannel;

/** What the fuzz targets share: the suite's budget and a control channel to read handshake tails with. */
public final class Fuzzing {
    private Fuzzing() {}

    /** Executions per fuzz test when the suite runs (5 targets: 200,000 in all); offline runs use the standalone entry points. */
    public static final long SUITE = 40_000;

    private static ControlChannel control;

    /** A control channel over an unconnected socket: enough for {@link ControlChannel#takeSecret}, which only parses. */
    public static synchronized ControlChannel controlChannel() throws IOException {
        if (control == null) control = new ControlChannel(SocketChannel.open(), "fuzz");
        return control;
    }
}
