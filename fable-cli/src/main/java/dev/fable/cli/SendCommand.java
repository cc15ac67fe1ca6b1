package dev.fable.cli;

import dev.fable.Buffer;
import dev.fable.ConnectOptions;
import dev.fable.Connection;
import dev.fable.Fable;
import dev.fable.FableException;
import dev.fable.PeerGoneException;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

import java.io.FileDescriptor;
import java.io.FileInputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.time.Duration;
import java.util.concurrent.Callable;

@Command(name = "send", mixinStandardHelpOptions = true, versionProvider = FableCli.Version.class,
        description = {"Connect to <target> and send stdin through the channel until end of file.",
                "What stdin has given is sent whenever it pauses (a pipe such as 'tail -f log | fable send x' streams), "
                        + "at the latest when a buffer is full. <target>: a name, xio://name, xio+shm|unix|tcp|tls://name, "
                        + "or tcp://host:port for a plain TCP peer."})
final class SendCommand implements Callable<Integer> {
    @Parameters(index = "0", paramLabel = "<target>", description = "endpoint name, xio:// URI or tcp://host:port to send to")
    String target;

    @Option(names = "--wait", defaultValue = "10s", description = "how long to wait for the listener to appear (e.g. 0s, 10s, 2m); default ${DEFAULT-VALUE}")
    String wait;

    @Override
    public Integer call() {
        String uri = target.contains("://") ? target : "xio://" + target;
        Duration timeout;
        try {
            timeout = Duration.parse("PT" + wait.toUpperCase());
        } catch (RuntimeException e) {
            System.err.println("fable send: --wait takes a duration like 10s or 2m, not '" + wait + "'");
            return FableCli.USAGE;
        }
        long bytes = 0;
        Connection connected;
        try {
            connected = Fable.connect(uri, ConnectOptions.trusted().connectTimeout(timeout));
        } catch (FableException e) {   // nothing sent yet: the receiver was never reached
            System.err.println("fable send: " + e.getMessage());
            return FableCli.SETUP;
        } catch (IllegalArgumentException e) {
            System.err.println("fable send: " + e.getMessage());
            return FableCli.USAGE;
        }
        try (Connection c = connected;
             FileInputStream stdin = new FileInputStream(FileDescriptor.in)) {
            FileChannel in = stdin.getChannel();
            boolean eof = false;
            while (!eof) {
                Buffer b = c.claim(c.maxFragment(), Duration.ofSeconds(-1));
                ByteBuffer bb = b.segment().asByteBuffer();
                // block for the first bytes, then take only what is there already: a pause in the input sends what came
                do {
                    if (in.read(bb) < 0) {
                        eof = true;
                        break;
                    }
                } while (bb.hasRemaining() && stdin.available() > 0);
                if (bb.position() == 0) {
                    b.length(0);
                    if (eof) {
                        b.commit();   // an empty final message is harmless; keeps the buffer single-use
                        break;
                    }
                }
                b.length(bb.position());
                bytes += bb.position();
                b.commit();
            }
            System.err.println("fable send: sent " + bytes + " bytes to '" + c.peerName() + "'");
            return FableCli.OK;
        } catch (PeerGoneException e) {
            System.err.println("fable send: the receiver went away after " + bytes + " bytes: " + e.getMessage());
            return FableCli.INCOMPLETE;
        } catch (IOException e) {
            System.err.println("fable send: cannot read stdin after " + bytes + " bytes: " + e);
            return FableCli.IO;
        } catch (FableException e) {
            System.err.println("fable send: " + e.getMessage());
            return bytes > 0 ? FableCli.INCOMPLETE : FableCli.SETUP;
        } catch (IllegalArgumentException e) {
            System.err.println("fable send: " + e.getMessage());
            return FableCli.USAGE;
        }
    }
}
