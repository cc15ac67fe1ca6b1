package dev.fable.transport.shm;

import dev.fable.Buffer;
import dev.fable.ConnectOptions;
import dev.fable.Connection;
import dev.fable.ConnectionState;
import dev.fable.Fable;
import dev.fable.WaitMode;

import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Random;
import java.util.concurrent.TimeUnit;

import static dev.fable.transport.shm.HostileAccess.INT;
import static dev.fable.transport.shm.HostileAccess.LONG;
import static dev.fable.transport.shm.ShmLayout.*;
import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

/**
 * The hostile subscriber of {@link FanoutHostileFuzzTest}: a second JVM that subscribes to the test's publisher
 * through the normal API ({@link Fable#subscribe}) and then, told what to do over a control connection (an
 * ordinary one-to-one Fable connection to the test's {@code ctl} endpoint), writes into the words of its
 * subscription's ring that a consumer writes and the publisher may read: READ above all (any value, in lock step
 * with the test, which knows what the publisher must do with each), and beside it the parked word, the
 * fenced-signal request and ack words, the CPU/TID hints, and garbage in words and log bytes the publisher never
 * reads. It never writes into the fan-out pool: it maps it read-only (that is another test's subject).
 *
 * <p>Commands (the test's messages on the control connection, little-endian longs; every one but POKE is answered;
 * between commands that come in quick succession it waits with a yielding spin, not a futex wake-up):
 * <ul>
 *   <li>{@link #SUBSCRIBE} {@code flags, expectEnded, publisher name}: closes the previous subscription (when
 *       {@code expectEnded}, after checking that it ended: the publisher failed it), subscribes anew; answers the old
 *       subscription's state.</li>
 *   <li>{@link #POKE} {@code n, number, then n x (file, offset, width, value)}: first checks its log (every record the
 *       publisher wrote since the last look is a well-formed SLOT or DROPPED record naming a fan-out slot that holds
 *       the message it claims; every record at or above the READ word still does: the publisher never reuses a slot or
 *       log bytes this side still holds), then writes the values in order, then {@code number} into {@link #DONE}
 *       (no answer).</li>
 *   <li>{@link #POLL} {@code k, flags}: polls up to {@code k} messages through its real reader (so READ moves as a
 *       correct reader moves it), checks each (sequence order, length, bytes), holds up to two and releases them out
 *       of order, or none; answers READ, what it polled, the drops it was told, its reader's position.</li>
 *   <li>{@link #CHAOS} {@code millis, seed}: for that long writes plausible and implausible READ values and garbage
 *       at random moments, racing the publisher (no lock step); answers how many writes.</li>
 *   <li>{@link #CLOSE}: closes the subscription (a clean leave).</li>
 *   <li>{@link #EXIT}.</li>
 * </ul>
 * Anything it sees go wrong it prints as {@code ERROR ...} on stdout (a finding of the test).
 */
public final class FanoutHostileSubscriber {
    private FanoutHostileSubscriber() {}

    static final long SUBSCRIBE = 1, POKE = 2, POLL = 3, CHAOS = 4, CLOSE = 5, EXIT = 6;
    static final long OK = 100;

    /**
     * Where a POKE says it is done: a word of the ring's register page that no register uses (the publisher neither
     * reads nor writes it). The test waits on it instead of an answer: one wake-up per input instead of two.
     */
    static final long DONE = 2048;

    /** POKE targets: the ring the publisher writes (this side consumes), or the one this side writes (the publisher's incoming ring). */
    static final long RING_IN = 0, RING_OUT = 1;

    /** SUBSCRIBE flags. */
    static final long F_UNTRUSTED = 1, F_SPIN = 2, F_BLOCK = 4;
    /** POLL flags: hold nothing (release each at once); keep what it holds and poll nothing (READ stays). */
    static final long P_NO_HOLD = 1, P_STUCK = 2;

    /** The bytes of message {@code seq} (the publisher's sequence number): the sequence in the first 8, then a pattern. */
    static byte pattern(long seq, int i) {
        return (byte) (seq * 0x9E3779B1L + i * 13L + (seq >>> 7));
    }

    /** The length of message {@code seq} in a pool of {@code slotSize}-byte slots: 8 to slotSize. */
    static int lengthOf(long seq, int slotSize) {
        long z = HostilePeer.mix(0x5EED, seq);
        return 8 + (int) Long.remainderUnsigned(z, slotSize - 7);
    }

    /** Null when {@code length} bytes at {@code offset} of {@code m} are message {@code seq}, else what is wrong. */
    static String checkMessage(MemorySegment m, long offset, int length, long seq, int slotSize) {
        if (length != lengthOf(seq, slotSize)) return "length " + length + ", message " + seq + " has " + lengthOf(seq, slotSize);
        long got = m.get(JAVA_LONG, offset);
        if (got != seq) return "sequence " + got + ", expected " + seq;
        for (int i = 8; i < length; i++) {
            if (m.get(JAVA_BYTE, offset + i) != pattern(seq, i)) return "byte " + i + " of message " + seq + " differs";
        }
        return null;
    }

    static byte[] longs(long... v) {
        ByteBuffer b = ByteBuffer.allocate(v.length * 8).order(ByteOrder.LITTLE_ENDIAN);
        for (long x : v) b.putLong(x);
        return b.array();
    }

    static long[] longs(byte[] m) {
        ByteBuffer b = ByteBuffer.wrap(m).order(ByteOrder.LITTLE_ENDIAN);
        long[] v = new long[m.length / 8];
        for (int i = 0; i < v.length; i++) v[i] = b.getLong();
        return v;
    }

    static synchronized void say(String line) {
        System.out.println(line);
        System.out.flush();
    }

    private static long errors;

    static void error(String what) {
        if (++errors <= 20) say("ERROR " + what.replace('\n', ' '));
    }

    // ---- the current subscription ----
    private static Connection sub;
    private static MemorySegment ring;       // its incoming ring (this side writes READ and the words beside it)
    private static MemorySegment outRing;    // its own outgoing ring (the publisher maps it; reads only PRODUCER_STATE, at the end)
    private static MemorySegment fanout;     // the publisher's fan-out pool, read-only
    private static int fanoutSlotSize;
    private static int fanoutSlotCount;
    private static int logBytes;
    private static Object reader;            // its RingReader
    private static long scanned;             // the log read up to here (lock step)
    // the records read (lock step), by position / 16 modulo the log's records: every one between READ and `scanned` is here
    private static byte[] recKind;
    private static int[] recSlot;
    private static int[] recLength;
    private static long[] recSeq;
    private static final Random sample = new Random(1);
    private static long scanSeq = -1;        // the last message seen in the log scan
    private static long lastSeq = -1;        // the last message polled
    private static final List<Buffer> held = new ArrayList<>();
    private static long polled;

    public static void main(String[] args) throws Exception {
        String ctlName = args[0];
        Connection ctl = Fable.connect("xio+shm://" + ctlName, ConnectOptions.trusted().slotSize(4096).slotCount(8));
        say("READY");
        try {
            long idleSince = System.nanoTime();
            while (true) {
                // Lock step: the test waits for each input, so commands are looked for with a yielding spin (a futex wake-up
                // per input would dominate the run); after 20 ms without one, by a blocking wait.
                byte[] m = ctl.receiveMessage(Duration.ZERO);
                if (m == null) {
                    if (System.nanoTime() - idleSince < TimeUnit.MILLISECONDS.toNanos(20)) {
                        Thread.yield();
                        continue;
                    }
                    m = ctl.receiveMessage(Duration.ofSeconds(120));
                    if (m == null) {
                        error("no command for 120 s");
                        break;
                    }
                }
                idleSince = System.nanoTime();
                long[] c = longs(m);
                long op = c[0];
                if (op == EXIT) break;
                if (op == POKE) {
                    try {
                        poke(c);
                    } catch (RuntimeException | Error e) {
                        error("POKE threw " + e);   // no DONE: the test stops on this ERROR line
                    }
                    continue;
                }
                long[] reply;
                try {
                    reply = switch ((int) op) {
                        case (int) SUBSCRIBE -> subscribe(c, new String(m, 32, m.length - 32, StandardCharsets.UTF_8));
                        case (int) POLL -> poll((int) c[1], c[2]);
                        case (int) CHAOS -> chaos(c[1], c[2]);
                        case (int) CLOSE -> close();
                        default -> throw new IllegalArgumentException("command " + op);
                    };
                } catch (RuntimeException | Error e) {
                    error("command " + op + " threw " + e);
                    reply = new long[] {-1};
                }
                ctl.send(longs(reply));
            }
        } finally {
            if (sub != null) sub.close();
            ctl.close();
        }
        say("DONE errors=" + errors);
        System.exit(0);
    }

    private static long[] subscribe(long[] c, String publisher) throws InterruptedException {
        long flags = c[1];
        boolean expectEnded = c[2] != 0;
        ConnectionState old = ConnectionState.CLOSED;
        if (sub != null) {
            long until = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
            while (expectEnded && sub.state() == ConnectionState.OPEN && System.nanoTime() < until) Thread.sleep(1);
            old = sub.state();
            if (expectEnded && old == ConnectionState.OPEN) error("the publisher failed our subscription, but it is still OPEN here after 10 s");
            releaseHeld();
            sub.close();
            sub = null;
        }
        ConnectOptions o = ((flags & F_UNTRUSTED) != 0 ? ConnectOptions.untrusted() : ConnectOptions.trusted())
                .slotSize(64).slotCount(2).logBytes(MIN_LOG_BYTES)   // this side sends nothing: its own direction as small as it gets
                .waitMode((flags & F_SPIN) != 0 ? WaitMode.SPIN : (flags & F_BLOCK) != 0 ? WaitMode.BLOCK : WaitMode.ADAPTIVE);
        sub = Fable.subscribe("xio+shm://" + publisher, o);
        Object leg = ((dev.fable.flow.LiveConnection) sub).leg();
        reader = HostileAccess.field(leg, "in");
        ring = (MemorySegment) HostileAccess.field(reader, "ring");
        outRing = (MemorySegment) HostileAccess.field(HostileAccess.field(leg, "out"), "ring");
        fanout = (MemorySegment) HostileAccess.field(reader, "fanout");
        fanoutSlotSize = (int) HostileAccess.field(reader, "fanoutSlotSize");
        fanoutSlotCount = (int) HostileAccess.field(reader, "fanoutSlotCount");
        logBytes = (int) HostileAccess.field(reader, "logBytes");
        scanned = 0;
        int n = logBytes / RECORD_ALIGN;
        recKind = new byte[n];
        recSlot = new int[n];
        recLength = new int[n];
        recSeq = new long[n];
        lastSeq = -1;
        scanSeq = -1;
        polled = 0;
        return new long[] {OK, old.ordinal()};
    }

    private static MemorySegment file(long which) {
        return which == RING_OUT ? outRing : ring;
    }

    private static long log(long position) {
        return logOffset(position, logBytes - 1);
    }

    private static void poke(long[] c) {
        checkLog();
        int n = (int) c[1];
        for (int i = 0; i < n; i++) {
            MemorySegment f = file(c[3 + 4 * i]);
            long offset = c[4 + 4 * i];
            long width = c[5 + 4 * i];
            long value = c[6 + 4 * i];
            if (offset == READ && f == ring) {
                putReadRegisterRelease(ring, value);   // release, as a reader publishes it
            } else if (width == 8) {
                LONG.setVolatile(f, offset, value);
            } else {
                INT.setVolatile(f, offset, (int) value);
            }
        }
        LONG.setRelease(ring, DONE, c[2]);   // release: after the writes
    }

    /**
     * Lock step (the publisher is not writing now): reads the records the publisher wrote since the last look, then
     * checks that every one this side still holds (at or above the READ word, which the publisher has read by now, or
     * not yet if a real reader moved it since) is intact: its header, and its slot's message. A publisher that freed
     * a slot or log bytes too early shows here.
     */
    private static void checkLog() {
        long lastRead = readRegisterAcquire(ring);   // what the publisher read last (lock step), or newer: what it must not touch
        if (scanned < lastRead) scanned = lastRead;   // released before this side looked (a real reader read them): the publisher may reuse them
        int mask = recKind.length - 1;
        while (true) {
            long h = headerAcquire(ring, log(scanned));
            if (h == 0) break;
            if (headerTag(h) != headerTagFor(scanned) || headerLength(h) != RECORD_HEADER) {
                error("the publisher wrote header 0x" + Long.toHexString(h) + " at " + scanned + " (READ " + lastRead + ")");
                scanned = Long.MAX_VALUE / 2;   // stop looking at this subscription
                return;
            }
            long word = logWordPlain(ring, log(scanned) + RECORD_HEADER);
            int at = (int) (scanned / RECORD_ALIGN) & mask;
            recKind[at] = (byte) headerKind(h);
            if (headerKind(h) == KIND_DROPPED) {
                if (word <= 0 || word > Integer.MAX_VALUE) error("a DROPPED count of " + word + " at " + scanned);
            } else if (headerKind(h) == KIND_SLOT) {
                int slot = pointerSlot(word);
                int length = (int) pointerLength(word);
                if (pointerPool(word) != POOL_FANOUT || pointerMore(word) || slot >= fanoutSlotCount || length > fanoutSlotSize || length < 8) {
                    error("the publisher wrote pointer 0x" + Long.toHexString(word) + " at " + scanned);
                    recKind[at] = 0;
                } else {
                    long seq = fanout.get(JAVA_LONG, slotOffset(slot, fanoutSlotSize));
                    String bad = checkMessage(fanout, slotOffset(slot, fanoutSlotSize), length, seq, fanoutSlotSize);
                    if (bad != null) error("the message in fan-out slot " + slot + " named at " + scanned + ": " + bad);
                    if (seq <= scanSeq) error("message " + seq + " at " + scanned + " after message " + scanSeq);
                    scanSeq = seq;
                    recSlot[at] = slot;
                    recLength[at] = length;
                    recSeq[at] = seq;
                }
            } else {
                error("the publisher wrote a record of kind " + headerKind(h) + " at " + scanned);
                recKind[at] = 0;
            }
            scanned += RECORD_ALIGN;
        }
        // the records still held: all of them when few, else the 16 oldest, the 16 newest and 32 others
        long held = (scanned - lastRead) / RECORD_ALIGN;
        for (long i = 0; i < Math.min(held, 64); i++) {
            long k = held <= 64 || i < 16 ? i : i < 32 ? held - 1 - (i - 16) : 16 + sample.nextLong(held - 32);
            checkHeld(lastRead + k * RECORD_ALIGN, lastRead);
        }
    }

    /** The record at {@code p}, above READ: its header is still there, and so is its slot's message. */
    private static void checkHeld(long p, long read) {
        int at = (int) (p / RECORD_ALIGN) & (recKind.length - 1);
        long h = headerAcquire(ring, log(p));
        if (headerTag(h) != headerTagFor(p) || headerKind(h) != recKind[at]) {
            error("the record at " + p + ", above READ " + read + ", was overwritten: header 0x" + Long.toHexString(h));
            return;
        }
        if (recKind[at] != KIND_SLOT) return;
        String bad = checkMessage(fanout, slotOffset(recSlot[at], fanoutSlotSize), recLength[at], recSeq[at], fanoutSlotSize);
        if (bad != null) error("fan-out slot " + recSlot[at] + ", still held by the record at " + p + " (READ " + read + "), was reused: " + bad);
    }

    /** Polls up to {@code k} messages through the real reader; READ moves as that reader moves it. */
    private static long[] poll(int k, long flags) {
        Random rnd = new Random(polled * 31 + k);
        if ((flags & P_STUCK) == 0) {
            for (int i = 0; i < k; i++) {
                if (held.size() == 2) held.remove(rnd.nextInt(2)).release();   // the reader lends two buffers at most
                Buffer b = sub.poll();
                if (b == null) break;
                polled++;
                long seq = b.getLong(0);
                String bad = checkMessage(b.segment(), 0, b.length(), seq, fanoutSlotSize);
                if (bad != null) error("polled " + bad);
                if (seq <= lastSeq) error("polled message " + seq + " after " + lastSeq);
                lastSeq = seq;
                if ((flags & P_NO_HOLD) == 0 && held.size() < 2 && rnd.nextInt(3) != 0) {
                    held.add(b);
                } else {
                    b.release();
                }
                if (!held.isEmpty() && rnd.nextInt(4) == 0) held.remove(rnd.nextInt(held.size())).release();   // out of order
            }
            if ((flags & P_NO_HOLD) != 0) releaseHeld();
        }
        long position = (long) HostileAccess.field(reader, "position");
        return new long[] {OK, readRegisterAcquire(ring), polled, sub.messagesDropped(), position, lastSeq, held.size()};
    }

    private static void releaseHeld() {
        for (Iterator<Buffer> it = held.iterator(); it.hasNext(); ) {
            Buffer b = it.next();
            it.remove();
            try {
                b.release();
            } catch (RuntimeException e) {
                // the subscription ended and took its buffers with it
            }
        }
    }

    private static long[] close() {
        releaseHeld();
        if (sub != null) sub.close();
        sub = null;
        return new long[] {OK};
    }

    /**
     * Writes READ values and garbage at random moments for {@code millis}, racing the publisher: mostly READ moved
     * forward to a record it finds in its log, sometimes behind, beyond, off the grid, or random; the parked, request,
     * ack, hint and header words; the log past what it has seen; its own outgoing ring's words.
     */
    private static long[] chaos(long millis, long seed) {
        Random rnd = new Random(seed);
        long end = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(millis);
        long seen = scanned;   // records found so far (racing: a header not yet written reads 0)
        long valid = readRegisterAcquire(ring);
        long writes = 0;
        while (System.nanoTime() < end) {
            for (int i = 0; i < 64; i++) {   // follow the publisher's records
                long h = headerAcquire(ring, log(seen));
                if (h == 0 || headerTag(h) != headerTagFor(seen)) break;
                seen += RECORD_ALIGN;
            }
            int c = rnd.nextInt(100);
            long v;
            if (c < 45) {
                v = valid + RECORD_ALIGN * (seen <= valid ? 0 : rnd.nextLong((seen - valid) / RECORD_ALIGN + 1));
                valid = v;
            } else if (c < 47) {
                v = rnd.nextLong();
            } else if (c < 49) {
                v = valid - RECORD_ALIGN;
            } else if (c < 51) {
                v = seen + RECORD_ALIGN * (1 + rnd.nextInt(1000));
            } else if (c < 53) {
                v = valid + 1 + rnd.nextInt(RECORD_ALIGN - 1);
            } else {
                garbage(rnd, seen);
                writes++;
                pause(rnd);
                continue;
            }
            putReadRegisterRelease(ring, v);
            writes++;
            pause(rnd);
        }
        return new long[] {OK, writes};
    }

    private static void pause(Random rnd) {
        switch (rnd.nextInt(4)) {
            case 0 -> Thread.yield();
            case 1 -> {
                long until = System.nanoTime() + rnd.nextInt(20_000);
                while (System.nanoTime() < until) Thread.onSpinWait();
            }
            default -> { }
        }
    }

    /** One garbage write where the publisher either never looks or only takes a hint. */
    private static void garbage(Random rnd, long seen) {
        switch (rnd.nextInt(12)) {
            case 0 -> INT.setVolatile(ring, CONSUMER_PARKED, rnd.nextBoolean() ? rnd.nextInt(3) : rnd.nextInt());
            case 1 -> INT.setVolatile(ring, CONSUMER_PARKED + dev.fable.sync.Tripwire.REQUEST, rnd.nextBoolean() ? rnd.nextInt(3) : rnd.nextInt());
            case 2 -> INT.setVolatile(ring, PRODUCER_PARKED, rnd.nextInt());
            case 3 -> INT.setVolatile(ring, PRODUCER_PARKED + dev.fable.sync.Tripwire.ACK, rnd.nextBoolean() ? rnd.nextInt(3) : rnd.nextInt());
            case 4 -> putConsumerCpuOpaque(ring, rnd.nextLong());
            case 5 -> putConsumerTidOpaque(ring, rnd.nextInt());
            case 6 -> putWriteRegisterRelease(ring, rnd.nextLong());
            case 7 -> putProducerStateRelease(ring, rnd.nextInt());
            case 8 -> INT.setVolatile(ring, new long[] {HDR_MAGIC, HDR_VERSION, HDR_LOG_BYTES, HDR_SLOT_SIZE, HDR_SLOT_COUNT}[rnd.nextInt(5)], rnd.nextInt());
            case 9 -> LONG.setVolatile(ring, log(seen + RECORD_ALIGN * (2 + rnd.nextInt(64))) + 8L * rnd.nextInt(2), rnd.nextLong());
            case 10 -> putProducerStateRelease(outRing, rnd.nextInt(3));   // the publisher reads it when our control socket closes
            default -> LONG.setVolatile(outRing, LOG + 8L * rnd.nextInt(64), rnd.nextLong());   // records in our own direction, never polled
        }
    }
}
