package dev.fable.cli;

import dev.fable.Buffer;
import dev.fable.ConnectOptions;
import dev.fable.Fable;
import dev.fable.FableException;
import dev.fable.Publisher;
import dev.fable.Subscriber;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

import java.io.FileDescriptor;
import java.io.FileInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;

/**
 * {@code fable publish NAME}: one producer, many consumers from the command line. Each line of stdin is one
 * message (its newline included), to every subscriber ({@code fable subscribe NAME}), to one in turn, or to the
 * one its key hashes to.
 */
@Command(name = "publish", mixinStandardHelpOptions = true, versionProvider = FableCli.Version.class,
        description = {"Publish stdin as <name>, one message per line, to the subscribers of <name> ('fable subscribe <name>').",
                "A line is sent with its newline, so a subscriber prints exactly the bytes it was sent (a last line without "
                        + "a newline is sent without one); a line, its newline included, may be at most --slot-size bytes. "
                        + "Lines published before a subscriber joined do not reach it (--wait-subscribers).",
                "A subscriber on this host (shared memory) loses no line unless --max-held says so: the slowest sets the pace. "
                        + "One over a socket (another host, xio+unix|tcp|tls://) gets copies and loses lines when it falls more "
                        + "than 2 behind. Lines dropped are counted on stderr at exit, and told to their subscriber.",
                "At end of input the publisher waits (--drain) until every subscriber has released every line, then closes: "
                        + "they end cleanly."})
final class PublishCommand implements Callable<Integer> {
    @Parameters(index = "0", paramLabel = "<name>", description = "the name to publish as, or xio://name")
    String name;

    @Option(names = "--to", defaultValue = "all", paramLabel = "all|round-robin|key", description = {
            "all: every line to every subscriber (the default)",
            "round-robin: each line to one subscriber, in turn",
            "key: lines are KEY<TAB>PAYLOAD (no tab: the whole line is the key); all lines of a key go to one subscriber, "
                    + "the same one while the subscribers do not change (a hash of the key's bytes modulo the number of "
                    + "subscribers, in the order they joined). Lines are sent whole, key included"})
    String to;

    @Option(names = "--wait-subscribers", defaultValue = "0", paramLabel = "N",
            description = "wait until N subscribers joined before reading stdin (default: ${DEFAULT-VALUE}, start at once)")
    int waitSubscribers;

    @Option(names = "--slot-size", defaultValue = "" + ConnectOptions.DEFAULT_SLOT_SIZE, paramLabel = "BYTES",
            description = "the longest line, its newline included (default: ${DEFAULT-VALUE})")
    int slotSize;

    @Option(names = "--slots", defaultValue = "" + ConnectOptions.DEFAULT_SLOT_COUNT, paramLabel = "N",
            description = "lines in flight at once: published and not yet released by every subscriber they went to "
                    + "(default: ${DEFAULT-VALUE}); shared memory of --slots x --slot-size bytes")
    int slots;

    @Option(names = "--max-held", defaultValue = "0", paramLabel = "N",
            description = "lines one shared-memory subscriber may hold unreleased: a subscriber further behind loses lines "
                    + "(counted, and told to it) instead of holding the publisher back. Default: all --slots, none is lost")
    int maxHeld;

    @Option(names = "--drain", defaultValue = "10s", paramLabel = "DURATION",
            description = "at end of input, how long to wait for the subscribers to release every line (e.g. 0s, 10s, 2m); "
                    + "default ${DEFAULT-VALUE}")
    String drain;

    private enum To { ALL, ROUND_ROBIN, KEY }

    /** A line longer than a slot: bad input for these options. */
    private static final class LineTooLong extends Exception {
        LineTooLong(String message) {
            super(message, null, false, false);
        }
    }

    private Publisher pub;
    private To mode;
    private int turn;          // round-robin: the next subscriber's index
    private long lines;
    private long bytes;
    private long reachedNobody;

    @Override
    public Integer call() {
        mode = switch (to) {
            case "all" -> To.ALL;
            case "round-robin" -> To.ROUND_ROBIN;
            case "key" -> To.KEY;
            default -> null;
        };
        if (mode == null) return usage("--to takes all, round-robin or key, not '" + to + "'");
        if (waitSubscribers < 0) return usage("--wait-subscribers takes a count, 0 or more, not " + waitSubscribers);
        if (slots < 1) return usage("--slots takes 1 or more, not " + slots);
        if (maxHeld < 0 || maxHeld > slots) return usage("--max-held takes 1 to --slots (" + slots + "), not " + maxHeld);
        Duration drainFor;
        try {
            drainFor = Duration.parse("PT" + drain.toUpperCase());
            if (drainFor.isNegative()) throw new IllegalArgumentException();
        } catch (RuntimeException e) {
            return usage("--drain takes a duration like 10s or 2m, not '" + drain + "'");
        }
        int scheme = name.indexOf("://");
        if (scheme >= 0 && !name.startsWith("xio://")) return usage("cannot publish as '" + name + "': give a name or xio://name");
        String endpoint = scheme < 0 ? name : name.substring(scheme + 3);
        ConnectOptions opts;
        try {
            // each subscriber's queue (its log) holds a record per slot it may hold, and a DROPPED record before each:
            // with the whole pool as quota, only the pool runs dry, and the publisher waits instead of dropping
            opts = ConnectOptions.trusted().slotSize(slotSize).slotCount(slots).readQuota(maxHeld == 0 ? slots : maxHeld)
                    .logBytes(logBytesFor(slots));
        } catch (IllegalArgumentException e) {
            return usage(e.getMessage());
        }
        try {
            pub = Fable.register(endpoint).publish(opts);
        } catch (FableException | IllegalStateException e) {
            System.err.println("fable publish: " + e.getMessage());
            return FableCli.SETUP;
        } catch (IllegalArgumentException e) {
            return usage(e.getMessage());
        }
        try (Publisher p = pub) {
            System.err.println("fable publish: publishing as '" + endpoint + "'" + (waitSubscribers > 0
                    ? ", waiting for " + waitSubscribers + " subscriber(s)" : ""));
            while (!p.awaitSubscribers(waitSubscribers, Duration.ofHours(1))) {
                // waits as long as it takes (Ctrl-C to give up)
            }
            try (InputStream in = new FileInputStream(FileDescriptor.in)) {
                publishLines(in);
            } catch (LineTooLong e) {
                System.err.println("fable publish: " + e.getMessage() + "; the lines before it were published");
                report();
                return FableCli.USAGE;
            } catch (IOException e) {
                System.err.println("fable publish: cannot read stdin after " + lines + " lines: " + e);
                report();
                return FableCli.IO;
            }
            drain(drainFor);
            report();
            return FableCli.OK;
        }
    }

    private static int usage(String why) {
        System.err.println("fable publish: " + why + " (see 'fable publish --help')");
        return FableCli.USAGE;
    }

    /** The default log, or a larger one when it would hold fewer than two 16-byte records per slot. */
    static int logBytesFor(int slots) {
        long need = 32L * slots;
        if (need <= ConnectOptions.DEFAULT_LOG_BYTES) return ConnectOptions.DEFAULT_LOG_BYTES;
        return (int) Math.min(ConnectOptions.MAX_LOG_BYTES, Long.highestOneBit(need - 1) << 1);
    }

    /**
     * Reads stdin in chunks and copies each line into a slot as it comes (a line is published at its newline, so a
     * pipe that pauses is published line by line); a last line without a newline at end of input.
     */
    private void publishLines(InputStream in) throws IOException, LineTooLong {
        byte[] chunk = new byte[64 * 1024];
        Buffer line = null;   // the slot the current line is copied into
        int length = 0;
        int n;
        while ((n = in.read(chunk)) >= 0) {
            int off = 0;
            while (off < n) {
                int nl = off;
                while (nl < n && chunk[nl] != '\n') nl++;
                int end = nl < n ? nl + 1 : n;
                if (length + end - off > slotSize) {
                    throw new LineTooLong("line " + (lines + 1) + " is longer than a slot (" + slotSize + " bytes, its newline "
                            + "included): give a larger --slot-size");
                }
                if (line == null) line = claim();
                line.put(length, chunk, off, end - off);
                length += end - off;
                off = end;
                if (nl < n) {
                    publish(line, length);
                    line = null;
                    length = 0;
                }
            }
        }
        if (line != null) publish(line, length);   // the last line, without a newline
    }

    /** A whole slot, waiting as long as every slot is held by subscribers that have not released it. */
    private Buffer claim() {
        long start = System.nanoTime();
        boolean told = false;
        while (true) {
            Buffer b = pub.claim(slotSize, Duration.ofMillis(500));
            if (b != null) return b;
            if (!told && System.nanoTime() - start > 5_000_000_000L) {
                told = true;
                System.err.println("fable publish: waiting for subscribers to release lines (all " + slots + " slots are held; "
                        + "--max-held lets a slow subscriber lose lines instead)");
            }
        }
    }

    private void publish(Buffer line, int length) {
        line.length(length);
        lines++;
        bytes += length;
        switch (mode) {
            case ALL -> {
                if (pub.subscribers().isEmpty()) reachedNobody++;
                pub.publish(line);
            }
            case ROUND_ROBIN -> publishToOne(line, turn++);
            case KEY -> publishToOne(line, keyHash(line, length));
        }
    }

    /**
     * Publishes to the subscriber at {@code index} modulo their number, in the order they joined; to the next one if
     * that one left meanwhile; to nobody if there is none (the line is counted as reaching nobody).
     */
    private void publishToOne(Buffer line, int index) {
        for (int attempt = 0; attempt < 8; attempt++) {
            List<Subscriber> subs = pub.subscribers();
            if (subs.isEmpty()) break;
            try {
                pub.publish(line, subs.get(Integer.remainderUnsigned(index + attempt, subs.size())));   // 0 if dropped: counted
                return;
            } catch (IllegalArgumentException left) {
                // it left between the snapshot and the publish: the buffer stays claimed; try the next one
            }
        }
        pub.publish(line, (s, m) -> false);   // to nobody: the slot is free again
        reachedNobody++;
    }

    /**
     * The hash of the line's key (its bytes before the first tab, else the whole line without its newline): FNV-1a,
     * 32 bits, with MurmurHash3's finaliser, so that its low bits (the subscriber, modulo their number) depend on every byte.
     */
    static int keyHash(Buffer line, int length) {
        int end = length > 0 && line.getByte(length - 1) == '\n' ? length - 1 : length;
        int h = 0x811c9dc5;
        for (int i = 0; i < end; i++) {
            byte c = line.getByte(i);
            if (c == '\t') break;
            h = (h ^ (c & 0xff)) * 0x01000193;
        }
        h ^= h >>> 16;
        h *= 0x85ebca6b;
        h ^= h >>> 13;
        h *= 0xc2b2ae35;
        return h ^ (h >>> 16);
    }

    /**
     * End of input: waits until every slot is free again, that is every subscriber released every line it got (or
     * left), by claiming them all; then the publisher closes and its subscribers see a clean end.
     */
    private void drain(Duration limit) {
        long deadline = System.nanoTime() + limit.toNanos();
        List<Buffer> free = new ArrayList<>(Math.min(slots, 1 << 16));
        while (free.size() < slots) {
            long left = deadline - System.nanoTime();
            Buffer b = pub.claim(1, Duration.ofNanos(Math.max(0, left)));
            if (b == null) {
                System.err.println("fable publish: after " + limit.toMillis() / 1000.0 + " s, subscribers still hold " + (slots - free.size())
                        + " of " + slots + " slots (lines they have not released); closing: they read the rest, then end");
                return;
            }
            free.add(b);   // never published: closing the publisher ends them
        }
    }

    private void report() {
        List<Subscriber> subs = pub.subscribers();
        StringBuilder s = new StringBuilder("fable publish: published " + lines + " line(s) (" + bytes + " bytes) as '" + pub.name() + "'"
                + (mode == To.ALL ? "" : " " + (mode == To.KEY ? "by key" : "round-robin")) + "; " + subs.size() + " subscriber(s) now");
        if (reachedNobody > 0) s.append("; ").append(reachedNobody).append(" line(s) published while there was no subscriber");
        System.err.println(s);
        long dropped = pub.dropped();
        if (dropped > 0) {
            StringBuilder d = new StringBuilder("fable publish: " + dropped + " line(s) dropped for subscribers whose queue was full");
            List<String> who = new ArrayList<>();
            for (Subscriber x : subs) if (x.dropped() > 0) who.add(x.name() + " " + x.dropped());
            if (!who.isEmpty()) d.append(" (").append(String.join(", ", who)).append(")");
            System.err.println(d);
        }
    }
}
