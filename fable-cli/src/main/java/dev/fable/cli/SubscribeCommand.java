package dev.fable.cli;

import dev.fable.Buffer;
import dev.fable.ConnectOptions;
import dev.fable.Connection;
import dev.fable.ConnectionClosedException;
import dev.fable.ConnectionEvent;
import dev.fable.Fable;
import dev.fable.FableException;
import dev.fable.NameNotFoundException;
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

/** {@code fable subscribe NAME}: every message the publisher {@code NAME} publishes to this subscriber, to stdout. */
@Command(name = "subscribe", mixinStandardHelpOptions = true, versionProvider = FableCli.Version.class,
        description = {"Subscribe to the publisher <name> ('fable publish <name>') and copy every message it sends here to "
                + "stdout, byte for byte, until it closes.",
                "Messages the publisher dropped for this subscriber (it fell too far behind: see 'fable publish --help') are "
                        + "reported on stderr when the publisher tells them (before the next message that arrives; at most a "
                        + "line a second, the total at the end). Exit codes as 'fable recv': 0 when the publisher closed after "
                        + "its last message, 3 when it went away before that."})
final class SubscribeCommand implements Callable<Integer> {
    @Parameters(index = "0", paramLabel = "<name>", description = "the publisher's name, xio://name or xio+shm|unix|tcp|tls://name")
    String name;

    @Option(names = "--wait", defaultValue = "10s", description = "how long to wait for the publisher to appear (e.g. 0s, 10s, 2m); default ${DEFAULT-VALUE}")
    String wait;

    @Option(names = "--untrusted", description = "take a private copy of every message (the publisher is not trusted)")
    boolean untrusted;

    @Override
    public Integer call() {
        Duration timeout;
        try {
            timeout = Duration.parse("PT" + wait.toUpperCase());
        } catch (RuntimeException e) {
            System.err.println("fable subscribe: --wait takes a duration like 10s or 2m, not '" + wait + "'");
            return FableCli.USAGE;
        }
        String uri = name.contains("://") ? name : "xio://" + name;
        Connection c;
        try {
            c = Fable.subscribe(uri, (untrusted ? ConnectOptions.untrusted() : ConnectOptions.trusted()).connectTimeout(timeout));
        } catch (NameNotFoundException e) {   // the library's text suggests 'fable recv', the wrong command here
            System.err.println("fable subscribe: no endpoint is registered as '" + uri.substring(uri.indexOf("://") + 3) + "' (waited " + wait
                    + "): start the publisher first ('fable publish NAME'), or wait longer (--wait); 'fable names' lists the names");
            return FableCli.SETUP;
        } catch (FableException e) {   // not a publisher, unreachable
            System.err.println("fable subscribe: " + e.getMessage());
            return FableCli.SETUP;
        } catch (IllegalArgumentException e) {
            System.err.println("fable subscribe: " + e.getMessage());
            return FableCli.USAGE;
        }
        try (Connection sub = c) {
            return copy(sub);
        }
    }

    private long dropsShown;        // drops reported on stderr so far
    private long dropsShownAtNanos;

    /** Copies every message to stdout until the publisher closes; the exit code says how it ended. */
    private int copy(Connection c) {
        long messages = 0;
        long bytes = 0;
        ByteBuffer pending = ByteBuffer.allocateDirect(64 * 1024);   // written out whenever no message is waiting
        try {
            FileChannel out = new FileOutputStream(FileDescriptor.out).getChannel();
            try {
                while (true) {
                    Buffer b = c.poll();
                    if (b == null) {
                        flush(out, pending);
                        b = c.receive(Duration.ofSeconds(-1));
                    }
                    toldDrops(c);
                    ByteBuffer bb = b.segment().asSlice(0, b.length()).asByteBuffer();
                    if (bb.remaining() > pending.remaining()) flush(out, pending);
                    if (bb.remaining() > pending.remaining()) {
                        while (bb.hasRemaining()) out.write(bb);
                    } else {
                        pending.put(bb);
                    }
                    bytes += b.length();
                    messages++;
                    b.release();
                }
            } catch (ConnectionClosedException e) {
                flush(out, pending);
                System.err.println("fable subscribe: received " + messages + " message(s) (" + bytes + " bytes) from '" + c.peerName() + "'"
                        + (c.messagesDropped() > 0 ? "; the publisher dropped " + c.messagesDropped() + " for this subscriber" : ""));
                return FableCli.OK;
            } catch (PeerGoneException e) {
                flush(out, pending);
                System.err.println("fable subscribe: the publisher went away before closing; output may be incomplete after " + messages
                        + " message(s) (" + bytes + " bytes): " + e.getMessage());
                return FableCli.INCOMPLETE;
            } catch (FableException e) {
                flush(out, pending);
                System.err.println("fable subscribe: after " + messages + " message(s) (" + bytes + " bytes): " + e.getMessage());
                return FableCli.INCOMPLETE;
            }
        } catch (IOException e) {
            System.err.println("fable subscribe: cannot write to stdout after " + bytes + " bytes: " + e);
            return FableCli.IO;
        }
    }

    private static void flush(FileChannel out, ByteBuffer pending) throws IOException {
        pending.flip();
        while (pending.hasRemaining()) out.write(pending);
        pending.clear();
    }

    /**
     * Reports the drops the publisher told before this message (DROPPED events): a line at once, then at most one a
     * second with what was told meanwhile (a subscriber that keeps falling behind is told before most of its messages).
     */
    private void toldDrops(Connection c) {
        boolean told = false;
        for (ConnectionEvent e; (e = c.pollEvent()) != null; ) told |= e.type() == ConnectionEvent.Type.DROPPED;
        long now = System.nanoTime();
        if (!told || (dropsShown > 0 && now - dropsShownAtNanos < 1_000_000_000L)) return;
        long all = c.messagesDropped();
        System.err.println("fable subscribe: the publisher dropped " + (all - dropsShown) + " message(s) for this subscriber because "
                + "its queue was full (" + all + " in all)");
        dropsShown = all;
        dropsShownAtNanos = now;
    }
}
