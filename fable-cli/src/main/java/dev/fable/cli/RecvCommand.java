package dev.fable.cli;

import dev.fable.Buffer;
import dev.fable.ConnectOptions;
import dev.fable.Connection;
import dev.fable.ConnectionClosedException;
import dev.fable.Endpoint;
import dev.fable.ExternalListener;
import dev.fable.Fable;
import dev.fable.FableException;
import dev.fable.PeerGoneException;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

import java.io.FileDescriptor;
import java.io.FileOutputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.time.Duration;
import java.util.concurrent.Callable;

@Command(name = "recv", mixinStandardHelpOptions = true, versionProvider = FableCli.Version.class,
        description = {"Listen as <name>, accept one connection and copy everything received to stdout.",
                "<name> may be a bare name or xio://name (the listener takes every transport); tcp://host:port listens "
                        + "there for one plain TCP peer that does not speak Fable (socat, nc, curl) and copies its bytes."})
final class RecvCommand implements Callable<Integer> {
    @Parameters(index = "0", paramLabel = "<name>", description = "endpoint name or xio://name to listen as, or tcp://host:port")
    String name;

    @Option(names = "--untrusted", description = "take a private copy of every buffer (the sender is not trusted)")
    boolean untrusted;

    @Override
    public Integer call() {
        ConnectOptions opts = untrusted ? ConnectOptions.untrusted() : ConnectOptions.trusted();
        int scheme = name.indexOf("://");
        if (scheme >= 0 && !name.startsWith("xio") && !name.startsWith("tcp://")) {
            System.err.println("fable recv: cannot listen on '" + name + "': give a name, xio://name or tcp://host:port");
            return FableCli.USAGE;
        }
        try {
            if (name.startsWith("tcp://")) {   // one plain peer's bytes, as they come
                try (ExternalListener l = Fable.listenExternal(name, opts)) {
                    System.err.println("fable recv: listening on " + name + " (port " + l.port() + ") for a plain TCP peer");
                    try (Connection c = l.accept(Duration.ofSeconds(-1))) {
                        return copy(c);
                    }
                }
            }
            String endpoint = scheme < 0 ? name : name.substring(scheme + 3);   // xio+shm://x listens as x too: it takes every transport
            try (Endpoint ep = Fable.register(endpoint).listen(opts)) {
                System.err.println("fable recv: listening as '" + endpoint + "'");
                try (Connection c = ep.accept()) {
                    return copy(c);
                }
            }
        } catch (FableException e) {
            System.err.println("fable recv: " + e.getMessage());
            return FableCli.SETUP;
        } catch (IllegalArgumentException e) {
            System.err.println("fable recv: " + e.getMessage());
            return FableCli.USAGE;
        }
    }

    /** Copies every buffer to stdout until the peer closes; the exit code says how it ended. */
    private static int copy(Connection c) {
        long bytes = 0;
        try {
            FileChannel out = new FileOutputStream(FileDescriptor.out).getChannel();
            while (true) {
                Buffer b;
                try {
                    b = c.receive(Duration.ofSeconds(-1));
                } catch (ConnectionClosedException e) {
                    System.err.println("fable recv: received " + bytes + " bytes from '" + c.peerName() + "'");
                    return FableCli.OK;
                }
                ByteBuffer bb = b.segment().asSlice(0, b.length()).asByteBuffer();
                while (bb.hasRemaining()) out.write(bb);
                bytes += b.length();
                b.release();
            }
        } catch (PeerGoneException e) {
            System.err.println("fable recv: the sender went away before finishing; output is incomplete after " + bytes + " bytes: " + e.getMessage());
            return FableCli.INCOMPLETE;
        } catch (IOException e) {
            System.err.println("fable recv: cannot write to stdout after " + bytes + " bytes: " + e);
            return FableCli.IO;
        } catch (FableException e) {
            System.err.println("fable recv: after " + bytes + " bytes: " + e.getMessage());
            return FableCli.INCOMPLETE;
        }
    }
}
