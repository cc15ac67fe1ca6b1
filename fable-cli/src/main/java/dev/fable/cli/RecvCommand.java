package dev.fable.cli;

import dev.fable.Buffer;
import dev.fable.ConnectOptions;
import dev.fable.Connection;
import dev.fable.ConnectionClosedException;
import dev.fable.Endpoint;
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

@Command(name = "recv", description = "Listen as <name>, accept one connection and copy everything received to stdout.")
final class RecvCommand implements Callable<Integer> {
    @Parameters(index = "0", description = "endpoint name to listen as")
    String name;

    @Option(names = "--untrusted", description = "take a private copy of every buffer (the sender is not trusted)")
    boolean untrusted;

    @Override
    public Integer call() {
        ConnectOptions opts = untrusted ? ConnectOptions.untrusted() : ConnectOptions.trusted();
        long bytes = 0;
        try (Endpoint ep = Fable.register(name).listen(opts);
             FileChannel out = new FileOutputStream(FileDescriptor.out).getChannel()) {
            System.err.println("fable recv: listening as '" + name + "'");
            try (Connection c = ep.accept()) {
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
            }
        } catch (PeerGoneException e) {
            System.err.println("fable recv: the sender went away before finishing; output is incomplete after " + bytes + " bytes: " + e.getMessage());
            return FableCli.INCOMPLETE;
        } catch (IOException e) {
            System.err.println("fable recv: cannot write to stdout after " + bytes + " bytes: " + e);
            return FableCli.IO;
        } catch (FableException e) {
            System.err.println("fable recv: " + e.getMessage());
            return bytes > 0 ? FableCli.INCOMPLETE : FableCli.SETUP;
        } catch (IllegalArgumentException e) {
            System.err.println("fable recv: " + e.getMessage());
            return FableCli.USAGE;
        }
    }
}
