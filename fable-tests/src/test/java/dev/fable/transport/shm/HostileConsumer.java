package dev.fable.transport.shm;

import dev.fable.Buffer;
import dev.fable.ConnectOptions;
import dev.fable.Connection;
import dev.fable.ConnectionState;
import dev.fable.Endpoint;
import dev.fable.Fable;

import java.lang.foreign.MemorySegment;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.Arrays;
import java.util.Queue;
import java.util.Random;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.TimeUnit;

import static dev.fable.testing.Names.unique;
import static dev.fable.transport.shm.HostileAccess.*;
import static dev.fable.transport.shm.HostilePeer.*;
import static dev.fable.transport.shm.ShmLayout.*;
import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

/**
 * The {@link HostilePeer} as the consumer of the direction the victim writes: its READ register (and the
 * parked, request and ack words beside the victim's) meet the victim's RingWriter.claim (behind
 * ShmConnection.claim). It never polls that direction through its own RingReader: it reads the victim's
 * log itself.
 *
 * <p>The victim's claims follow a {@link Script} drawn from the plan's seed, so this side knows every
 * claim the victim will make, and with a {@link Model} of a correct writer it knows every record the
 * victim must publish (position, header, payload, a stamp in the message) and the moment the victim must
 * block for want of room or slots: a <em>sync point</em>. Only there does it move READ (any position on
 * the 16-byte grid up to what was published: the start of a record, the middle of one, everything), and
 * only once the victim has said it waits: this side sends PING on the other direction, the victim, blocked,
 * releases it (its READ on that direction moves), this side writes READ, then sends GO, and only then does
 * the victim claim again. A writer reads READ more than once in a claim (for the log, then for a slot), so
 * a READ that moved during a claim could send a small claim to a slot or the log; in lock step each value
 * has exactly one right outcome. This side checks that the victim then carries on exactly as the model
 * says, and that every slot it reuses was named by a SLOT record READ has passed. The fatal value, at the
 * last sync point, is a READ behind the one the victim last read, beyond what it published, or off the grid.
 */
final class HostileConsumer {
    private HostileConsumer() {}

    static final String[] KINDS = {"READ behind the one the writer read", "READ beyond what it published", "READ off the 16-byte grid",
            "random READ"};

    /** Messages on the other direction at a sync point (long type, long sync point): the victim acks PING by releasing it, then waits for GO. */
    static final long PING = 1, GO = 2;

    /**
     * What the run covered, printed with DONE: records checked by kind (KIND_INLINE .. KIND_REF), then sync points
     * where the victim was out of slots (with log room left) or out of log room, and benign READs at a record's start, inside
     * a record, or at the victim's position.
     */
    static final java.util.concurrent.atomic.AtomicLongArray COVERED = new java.util.concurrent.atomic.AtomicLongArray(11);
    private static final int SLOTS_OUT = 6, LOG_FULL = 7, AT_START = 8, INSIDE = 9, AT_END = 10;

    static void run(long seed) throws Exception {
        String echo = startEcho();
        String name = unique("hostile");
        Endpoint ep = Fable.register(name).listen(ConnectOptions.trusted().slotSize(128).slotCount(2));
        say("READY " + name + " " + echo);
        Queue<Case> fresh = new ConcurrentLinkedQueue<>();
        long[] stats = new long[4];   // finished, fatal written, clean, chaos
        Thread acceptor = new Thread(() -> {
            for (int i = 0; EXIT.getCount() > 0; ) {
                try {
                    Connection c = ep.accept(Duration.ofMillis(100));
                    if (c == null) continue;
                    long s = mix(seed, i);
                    fresh.add(new ConsumerCase(i, s, new Random(s), c));
                    i++;
                } catch (RuntimeException e) {
                    error("accept failed: " + e);
                }
            }
        }, "hostile-acceptor");
        acceptor.start();
        runCases(fresh, () -> acceptor.isAlive() || !fresh.isEmpty(), c -> {
            ConsumerCase k = (ConsumerCase) c;
            stats[0]++;
            if (k.fatalWritten) stats[1]++;
            if (k.fatal == -1) stats[2]++;
            if (k.fatal == CHAOS) stats[3]++;
        });
        ep.close();
        say("DONE finished=" + stats[0] + " fatal=" + stats[1] + " clean=" + stats[2] + " chaos=" + stats[3] + " errors=" + ERRORS.get()
                + " records checked: INLINE " + COVERED.get(KIND_INLINE) + ", SLOT " + COVERED.get(KIND_SLOT) + ", PAD " + COVERED.get(KIND_PAD)
                + ", HOLE " + COVERED.get(KIND_HOLE) + ", REF " + COVERED.get(KIND_REF) + "; victim blocked on slots " + COVERED.get(SLOTS_OUT)
                + ", on log room " + COVERED.get(LOG_FULL) + "; benign READ at a record's start " + COVERED.get(AT_START) + ", inside a record "
                + COVERED.get(INSIDE) + ", at the writer's position " + COVERED.get(AT_END));
    }

    /**
     * The victim writer's choices, drawn from the plan's seed in the same order on both sides: for each
     * claim its size ({@link #size}); once it got a buffer of some capacity, the length it commits, its MORE
     * bit and whether it holds the buffer across later commits (a held small claim becomes a HOLE when a
     * slot is committed after it, then a REF).
     */
    static final class Script {
        private final Random rnd;
        private final int slotSize;
        private final int inlineMax;
        private final int smallPercent;
        private final int holdOneIn;

        Script(long seed, int slotSize, int slotCount) {
            this.rnd = new Random(seed ^ 0x5CA1AB1EL);
            this.slotSize = slotSize;
            this.inlineMax = inlineMaxFor(slotSize);
            // With many slots the victim mostly sends small messages and seldom holds one (a held inline claim sends the
            // next small ones to slots): it runs out of log room before slots. With few, it runs out of slots.
            boolean fillsTheLog = slotCount >= 64;
            this.smallPercent = fillsTheLog ? 97 : 40;
            this.holdOneIn = fillsTheLog ? 40 : 6;
        }

        /** The next claim's maxBytes (at least 1: claim(0) is a usage error). */
        int size() {
            return rnd.nextInt(100) < smallPercent ? 1 + rnd.nextInt(inlineMax) : 1 + rnd.nextInt(slotSize + 100);
        }

        int length(int capacity) {
            return switch (rnd.nextInt(5)) {
                case 0 -> 0;
                case 1 -> capacity;
                default -> rnd.nextInt(capacity + 1);
            };
        }

        boolean more() {
            return rnd.nextInt(4) == 0;
        }

        /** 0: commit at once; k > 0: hold it until k later claims were committed (never two held at once). */
        int hold(boolean holding) {
            return !holding && rnd.nextInt(holdOneIn) == 0 ? 1 + rnd.nextInt(3) : 0;
        }

        /** The stamp the victim writes into message {@code m} of {@code length} bytes: m in the first 8 bytes, m's low byte last. */
        static void stamp(Buffer b, long m, int length) {
            if (length >= 8) b.putLong(0, m);
            if (length > 0 && length != 8) b.putByte(length - 1, (byte) m);
        }
    }

    /** One record the victim must publish, in order: {@code claim} is the message's stamp (-1: unknown), {@code hole} a REF's HOLE (a SLOT's MORE bit as 1/0). */
    record Expected(long at, long header, int kind, long claim, int length, long hole) {}

    /**
     * A correct writer's state as this side sees it: the victim's {@link Script} played through RingWriter's
     * rules (claim inline when the claim is small, no inline claim is out and the log has room for the record,
     * a PAD before it and a REF after it; else a slot when one is free and the log has room for its record),
     * with READ as this side last wrote it. It yields the records the victim must publish and, when the next
     * claim cannot be served, a sync point. Deterministic: played once ahead (to write the plan), once live.
     */
    static final class Model {
        static final int NONE = 0, INLINE = 1, HOLED = 2, SLOT = 3;
        final Script script;
        final Random choices;   // READ values at the sync points
        final int n, slotSize, logBytes, inlineMax;
        long position;          // the victim's next record
        long read;              // READ as this side last wrote it
        long reserved;          // log bytes promised to the held claim
        final ArrayDeque<Long> slotRecords = new ArrayDeque<>();   // SLOT records at or above READ (their slots are out)
        final ArrayDeque<Long> starts = new ArrayDeque<>();        // record starts above READ
        int held = NONE;
        long inlineAt;
        int inlineCapacity;
        long heldClaim;
        int heldLength;
        boolean heldMore;
        int holdLeft;
        boolean holePassed;     // READ went past the held claim's HOLE: the writer may have laid records over its bytes
        int pending;            // size of the claim the victim is making (0: draw the next)
        long claims;            // claims served
        long commits;           // fragments committed (the victim's fragmentsSent)
        final ArrayDeque<Expected> expected = new ArrayDeque<>();

        Model(long seed, Rings r) {
            this.script = new Script(seed, r.slotSize(), r.slotCount());
            this.choices = new Random(seed ^ 0xC401CE5L);
            this.n = r.slotCount();
            this.slotSize = r.slotSize();
            this.logBytes = r.logBytes();
            this.inlineMax = r.inlineMax();
        }

        private void expect(int kind, long header, long claim, int length, long hole, int size) {
            expected.add(new Expected(position, header, kind, claim, length, hole));
            starts.add(position);
            position += size;
        }

        private int outstandingSlots() {
            while (!slotRecords.isEmpty() && slotRecords.peekFirst() < read) slotRecords.pollFirst();
            return slotRecords.size() + (held == SLOT ? 1 : 0);
        }

        /** Plays the next claim: its records (if any) join {@link #expected}. False: the victim cannot be served (a sync point). */
        boolean nextClaim() {
            if (pending == 0) pending = script.size();
            int s = pending;
            if (s <= inlineMax && held != INLINE && held != HOLED) {
                int record = recordBytes(s);
                int toEnd = logBytes - (int) (position & (logBytes - 1));
                int pad = record > toEnd ? toEnd : 0;
                if (position + reserved + pad + record + RECORD_ALIGN + RECORD_HEADER <= read + logBytes) {
                    pending = 0;
                    long m = claims++;
                    if (pad > 0) expect(KIND_PAD, header(position, KIND_PAD, pad - RECORD_HEADER, false), -1, 0, -1, pad);
                    int length = script.length(s);
                    boolean more = script.more();
                    int hold = script.hold(held != NONE);
                    if (hold > 0) {
                        held = INLINE;
                        inlineAt = position;
                        inlineCapacity = s;
                        hold(m, length, more, hold, recordBytes(s) + RECORD_ALIGN);
                    } else {
                        expect(KIND_INLINE, header(position, KIND_INLINE, length, more), m, length, -1, recordBytes(length));
                        committed();
                    }
                    return true;
                }
            }
            if (outstandingSlots() < n && position + reserved + RECORD_ALIGN + RECORD_HEADER <= read + logBytes) {
                pending = 0;
                long m = claims++;
                int length = script.length(slotSize);
                boolean more = script.more();
                int hold = script.hold(held != NONE);
                if (hold > 0) {
                    held = SLOT;
                    hold(m, length, more, hold, RECORD_ALIGN);
                } else {
                    commitSlot(m, length, more);
                    committed();
                }
                return true;
            }
            return false;
        }

        private void hold(long m, int length, boolean more, int commits, int bytes) {
            heldClaim = m;
            heldLength = length;
            heldMore = more;
            holdLeft = commits;
            reserved += bytes;
        }

        private void commitSlot(long m, int length, boolean more) {
            if (held == INLINE) {   // the held inline claim's record becomes a HOLE: the slot must not wait for it
                expect(KIND_HOLE, header(position, KIND_HOLE, inlineCapacity, false), -1, inlineCapacity, -1, recordBytes(inlineCapacity));
                reserved -= recordBytes(inlineCapacity);
                held = HOLED;
            }
            slotRecords.add(position);
            expect(KIND_SLOT, header(position, KIND_SLOT, RECORD_HEADER, false), m, length, more ? 1 : 0, RECORD_ALIGN);
        }

        /** After a commit of a claim that was not held: the held one goes once its count is down. */
        private void committed() {
            commits++;
            if (held == NONE || --holdLeft > 0) return;
            switch (held) {
                case INLINE -> {
                    expect(KIND_INLINE, header(position, KIND_INLINE, heldLength, heldMore), heldClaim, heldLength, -1, recordBytes(heldLength));
                    reserved -= recordBytes(inlineCapacity) + RECORD_ALIGN;
                }
                case HOLED -> {   // its stamp is known only if READ never passed the HOLE (a correct reader never does)
                    expect(KIND_REF, header(position, KIND_REF, heldLength, heldMore), holePassed ? -1 : heldClaim, heldLength, inlineAt, RECORD_ALIGN);
                    reserved -= RECORD_ALIGN;
                    holePassed = false;
                }
                default -> {
                    slotRecords.add(position);
                    expect(KIND_SLOT, header(position, KIND_SLOT, RECORD_HEADER, false), heldClaim, heldLength, heldMore ? 1 : 0, RECORD_ALIGN);
                    reserved -= RECORD_ALIGN;
                }
            }
            held = NONE;
            commits++;
        }

        @Override
        public String toString() {
            return "model at " + position + ", READ " + read + ", claim " + claims + " (size " + pending + "), commits " + commits + ", held "
                    + held + (held == NONE ? "" : " claim " + heldClaim + " for " + holdLeft) + ", reserved " + reserved + ", slots out " + outstandingSlots();
        }

        /** A benign READ at a sync point: on the grid, past READ, at most what was published; a record's start, the middle of one or all. */
        long benignRead() {
            while (!starts.isEmpty() && starts.peekFirst() <= read) starts.pollFirst();
            long span = (position - read) / RECORD_ALIGN;   // >= 1: a writer blocked with READ at its position could always take a slot
            long v = switch (choices.nextInt(4)) {
                case 0 -> position;
                case 1 -> starts.isEmpty() ? position : starts.stream().skip(choices.nextInt(starts.size())).findFirst().orElseThrow();
                default -> read + RECORD_ALIGN * (1 + choices.nextLong(span));   // often inside a record
            };
            read = v;
            if (held == HOLED && v > inlineAt) holePassed = true;
            return v;
        }
    }

    /**
     * One connection. The plan is the first message on the other direction; then this side follows the
     * victim's log record by record and acts at sync points only (see the class comment).
     */
    static final class ConsumerCase extends Case {
        final int index;
        final long seed;
        final Random rnd;   // garbage and the fatal value (the model has its own)
        final Rings r;
        final MemorySegment ring;
        final int n;
        final long fatal;   // fragments the victim sent when its claim must fail, -1 (clean close) or CHAOS
        final long clean;   // fragments it sent in the end when the connection closes cleanly, or -1
        final int kind;
        final int benignSyncs;
        final Model model;
        final long[] slotAt;   // by slot: the position of the SLOT record that last named it
        final MemorySegment back;   // the ring of the other direction (this side writes it): the victim's READ there is its ack
        final Object backWriter;    // this side's RingWriter of that direction: its position after the PING
        int phase;             // RUN, or at a sync point: PING to send, waiting for the ack, GO to send
        long pingEnd;          // the log position after the PING: the victim acked once its READ there is past it
        int sync;              // sync points passed
        long chaosRead;        // chaos: the last in-range READ written
        boolean fatalWritten;
        long fatalRead;
        String lastSync = "none";   // the model at the last sync point, for a report

        ConsumerCase(int index, long seed, Random rnd, Connection c) {
            super(c);
            this.index = index;
            this.seed = seed;
            this.rnd = rnd;
            this.r = Rings.incoming(c);
            this.ring = r.ring();
            this.n = r.slotCount();
            this.back = Rings.outgoing(c).ring();
            this.backWriter = field(((dev.fable.flow.LiveConnection) c).leg(), "out");
            slotAt = new long[n];
            Arrays.fill(slotAt, -1);
            benignSyncs = rnd.nextInt(rnd.nextBoolean() ? 20 : 200);
            int shape = rnd.nextInt(10);
            boolean isClean = shape == 0;
            boolean chaos = shape == 1;
            kind = isClean || chaos ? -1 : rnd.nextInt(KINDS.length);
            long sent = chaos ? 0 : playAhead();
            fatal = isClean ? -1 : chaos ? CHAOS : sent;
            clean = isClean ? sent : -1;
            model = new Model(seed, r);
            Buffer plan = c.claim(PLAN_BYTES);
            if (plan == null || plan.capacity() < PLAN_BYTES) throw new IllegalStateException("no room for the plan: " + plan);
            plan.putLong(0, PLAN_MAGIC);
            plan.putLong(PLAN_INDEX, index);
            plan.putLong(PLAN_SEED, seed);
            plan.putLong(PLAN_FATAL, fatal);
            plan.putLong(PLAN_CLEAN, clean);
            plan.putLong(PLAN_EXPECT, fatal >= 0 || chaos ? EXPECT_READ_REGISTER : EXPECT_NONE);
            plan.putLong(PLAN_KIND, ((long) (chaos ? 0 : benignSyncs) << 32) | (kind & 0xFFFF_FFFFL));   // benign cases, kind
            plan.putLong(PLAN_GEOMETRY, ((long) r.slotSize() << 32) | n);
            plan.length(PLAN_BYTES);
            plan.commit();
        }

        /** Plays the model to the last sync point: the fragments the victim has sent when it blocks there. */
        private long playAhead() {
            Model m = new Model(seed, r);
            for (int s = 0; ; ) {
                while (m.nextClaim()) m.expected.clear();
                if (s++ == benignSyncs) return m.commits;
                m.benignRead();
            }
        }

        /** Checks the stamp Script.stamp wrote into message {@code claim} of {@code length} bytes at {@code offset} of {@code memory}. */
        private boolean stampIntact(MemorySegment memory, long offset, long claim, int length) {
            if (length >= 8 && memory.get(JAVA_LONG, offset) != claim) return false;
            return length == 0 || length == 8 || memory.get(JAVA_BYTE, offset + length - 1) == (byte) claim;
        }

        /** What the victim's record at {@code at} holds (its message's stamp), for a report. */
        private String describe(long at, long h) {
            long word = logWordPlain(ring, r.log(at) + RECORD_HEADER);
            return switch (headerKind(h)) {
                case KIND_SLOT -> "names slot " + pointerSlot(word) + " of " + pointerLength(word) + " B, stamp "
                        + (pointerSlot(word) < n && pointerLength(word) >= 8 ? r.slots()[pointerSlot(word)].get(JAVA_LONG, 0) : -1);
                case KIND_INLINE, KIND_HOLE -> "of " + headerLength(h) + " B, stamp " + (headerLength(h) >= 8 ? word : -1);
                case KIND_REF -> "names " + word;
                default -> "0x" + Long.toHexString(h);
            };
        }

        /** Checks the record at {@code e.at()}; false while it is not published yet. */
        private boolean verify(Expected e) {
            long h = headerAcquire(ring, r.log(e.at()));
            if (h == 0) return false;
            if (h != e.header()) {
                throw new IllegalStateException("the victim published header 0x" + Long.toHexString(h) + " at " + e.at()
                        + ", a correct writer 0x" + Long.toHexString(e.header()) + " (" + e + "; " + model + "; the victim's record "
                        + describe(e.at(), h) + "; at the last sync point: " + lastSync + ")");
            }
            long word = logWordPlain(ring, r.log(e.at()) + RECORD_HEADER);
            switch (e.kind()) {
                case KIND_INLINE -> {
                    if (!stampIntact(ring, r.log(e.at()) + RECORD_HEADER, e.claim(), e.length())) {
                        throw new IllegalStateException("message " + e.claim() + " at " + e.at() + " lost its stamp");
                    }
                }
                case KIND_REF -> {
                    if (word != e.hole() || (e.claim() >= 0 && !stampIntact(ring, r.log(e.hole()) + RECORD_HEADER, e.claim(), e.length()))) {
                        throw new IllegalStateException("the REF at " + e.at() + " names " + word + " (its HOLE is at " + e.hole()
                                + ") or message " + e.claim() + " lost its stamp there");
                    }
                }
                case KIND_SLOT -> {
                    int s = pointerSlot(word);
                    if (pointerPool(word) != POOL_SLOTS || s >= n || pointerLength(word) != e.length() || pointerMore(word) != (e.hole() == 1)) {
                        throw new IllegalStateException("the SLOT record at " + e.at() + " holds pointer 0x" + Long.toHexString(word)
                                + ", expected " + e.length() + " B" + (e.hole() == 1 ? " with MORE" : ""));
                    }
                    // the slot must have come back: READ (as this side wrote it) passed the SLOT record that last named it
                    if (slotAt[s] >= model.read) {
                        throw new IllegalStateException("the victim reused slot " + s + " at " + e.at() + " while its SLOT record at "
                                + slotAt[s] + " was at or above READ " + model.read);
                    }
                    slotAt[s] = e.at();
                    if (!stampIntact(r.slots()[s], 0, e.claim(), e.length())) {
                        throw new IllegalStateException("message " + e.claim() + " in slot " + s + " lost its stamp");
                    }
                }
                default -> { }   // PAD, HOLE: the header says it all
            }
            COVERED.incrementAndGet(e.kind());
            return true;
        }

        /** Garbage where the writer must not look, or may only be woken early by: registers, words it never reads, the log no record occupies. */
        private void harmlessGarbage() {
            switch (rnd.nextInt(10)) {
                case 0 -> putWriteRegisterRelease(ring, rnd.nextLong());                  // monitoring only: the writer never reads it
                case 1 -> INT.setRelease(ring, CONSUMER_PARKED, rnd.nextInt(3));           // it CASes it to 0 and wakes nobody
                case 2 -> INT.setRelease(ring, CONSUMER_PARKED + dev.fable.sync.Tripwire.REQUEST, rnd.nextInt(3));   // it fences its signals, or stops
                case 3 -> INT.setRelease(ring, PRODUCER_PARKED, rnd.nextInt());           // its own parked word: it wakes early
                case 4 -> INT.setRelease(ring, PRODUCER_PARKED + dev.fable.sync.Tripwire.ACK, rnd.nextInt(3));      // a false ack: it may sleep late
                case 5 -> putProducerStateRelease(ring, rnd.nextInt());
                case 6 -> {
                    if (rnd.nextBoolean()) putConsumerCpuOpaque(ring, rnd.nextLong()); else putConsumerTidOpaque(ring, rnd.nextInt());   // hints
                }
                case 7 -> {
                    long[] at = {HDR_MAGIC, HDR_VERSION, HDR_LOG_BYTES, HDR_SLOT_SIZE, HDR_SLOT_COUNT};
                    ring.set(JAVA_INT, at[rnd.nextInt(at.length)], rnd.nextInt());
                }
                default -> {   // the log past the victim's records and its held inline claim, below READ + logBytes: the writer never reads it
                    long from = model.position + (model.held == Model.INLINE ? recordBytes(model.inlineCapacity) : 0) + RECORD_HEADER;
                    long free = model.read + r.logBytes() - RECORD_HEADER - from;
                    if (free > 0) ring.set(JAVA_LONG, r.log(from + (rnd.nextLong(free) & -8L)), rnd.nextLong());
                }
            }
        }

        /** The fatal READ: one the writer must refuse, having read {@code model.read} last (lock step). */
        private long fatalRead() {
            long p = model.position;
            long floor = model.read;
            return switch (kind) {
                case 0 -> switch (rnd.nextInt(4)) {
                    case 0 -> -RECORD_ALIGN * (1 + rnd.nextInt(1000));
                    case 1 -> Long.MIN_VALUE;
                    case 2 -> floor - RECORD_ALIGN * (1 + rnd.nextLong(Math.max(1, floor / RECORD_ALIGN)));   // 0 when floor is 16: still behind
                    default -> floor - 1;
                };
                case 1 -> switch (rnd.nextInt(5)) {
                    case 0 -> p + RECORD_ALIGN;
                    case 1 -> p + r.logBytes();
                    case 2 -> p + (1L << 32);
                    case 3 -> Long.MAX_VALUE & -RECORD_ALIGN;
                    default -> p + RECORD_ALIGN + ((rnd.nextLong() & Long.MAX_VALUE) % (Long.MAX_VALUE - p - RECORD_ALIGN) & -RECORD_ALIGN);
                };
                case 2 -> {
                    long v;
                    do {
                        v = floor + 1 + rnd.nextLong(p - floor);
                    } while ((v & (RECORD_ALIGN - 1)) == 0);
                    yield v;
                }
                default -> {
                    long v;
                    do {
                        v = rnd.nextLong();
                    } while ((v & (RECORD_ALIGN - 1)) == 0 && v >= floor && v <= p);
                    yield v;
                }
            };
        }

        /** Chaos: READ values, plausible or not, written without waiting for the victim (WRITE, published lazily, says how far it got at least). */
        private void chaos() {
            long w = (long) LONG.getAcquire(ring, WRITE);
            long next = switch (rnd.nextInt(8)) {
                case 0 -> rnd.nextLong();
                case 1 -> chaosRead - RECORD_ALIGN;
                case 2 -> w + RECORD_ALIGN;
                case 3 -> chaosRead + 1 + rnd.nextInt(RECORD_ALIGN - 1);
                default -> w <= chaosRead ? chaosRead : chaosRead + RECORD_ALIGN * rnd.nextLong((w - chaosRead) / RECORD_ALIGN + 1);
            };
            if (rnd.nextInt(4) == 0) harmlessGarbage();
            putReadRegisterRelease(ring, next);
            if (next >= chaosRead && next <= w && (next & (RECORD_ALIGN - 1)) == 0) chaosRead = next;
        }

        private static final int RUN = 0, SEND_PING = 1, AWAIT_ACK = 2, SEND_GO = 3;

        /** Sends a PING or GO for this sync point on the other direction; false while it has no room. */
        private boolean send(long type) {
            Buffer b = c.claim(16);
            if (b == null) return false;
            b.putLong(0, type);
            b.putLong(8, sync);
            b.length(16);
            b.commit();
            return true;
        }

        /** At a sync point: PING, the victim's ack, then READ (benign or fatal) or the clean close, then GO. */
        private boolean syncPoint(long now) {
            if (phase == SEND_PING) {
                if (!send(PING)) return overdue(now);
                pingEnd = (long) field(backWriter, "position");   // the log position after the PING (WRITE is published lazily)
                phase = AWAIT_ACK;
            }
            if (phase == AWAIT_ACK) {
                if (readRegisterAcquire(back) < pingEnd) return overdue(now);   // the victim has not released the PING yet
                since = now;
                if (sync == benignSyncs) {
                    if (fatal < 0) return finish();   // clean close: the victim's next claim sees PEER_CLOSED
                    fatalRead = fatalRead();
                    putReadRegisterRelease(ring, fatalRead);
                    fatalWritten = true;
                } else {
                    for (int g = rnd.nextInt(3); g > 0; g--) harmlessGarbage();
                    COVERED.incrementAndGet(model.outstandingSlots() == n ? SLOTS_OUT : LOG_FULL);
                    long v = model.benignRead();
                    COVERED.incrementAndGet(v == model.position ? AT_END : model.starts.contains(v) ? AT_START : INSIDE);
                    putReadRegisterRelease(ring, v);
                }
                phase = SEND_GO;
            }
            if (!send(GO)) return overdue(now);
            sync++;
            phase = RUN;
            return false;
        }

        private boolean overdue(long now) {
            if (now - since <= TimeUnit.SECONDS.toNanos(20)) return false;
            error(this + ": the victim did not answer at sync point " + sync + " (phase " + phase + ") for 20 s");
            return finish();
        }

        @Override
        public boolean step(long now) {
            if (fatalWritten) {
                if (phase == SEND_GO && send(GO)) phase = RUN;   // the victim claims again on GO, and fails
                if (headerAcquire(ring, r.log(model.position)) != 0) {
                    error(this + ": the victim published at " + model.position + " after the fatal READ " + fatalRead);
                    return finish();
                }
                return victimEndedOrOverdue(now, "the victim did not fail the connection within 20 s of the fatal READ " + fatalRead);
            }
            if (fatal == CHAOS) {
                if (victimEndedOrOverdue(now, "the victim survived 20 s of chaos")) return true;
                if (rnd.nextInt(4) == 0) chaos();
                return false;
            }
            if (c.state() != ConnectionState.OPEN) {
                error(this + ": the victim ended the connection at sync point " + sync + " of " + benignSyncs
                        + " before the " + (fatal >= 0 ? "fatal READ" : "clean close") + ": " + c.state() + " " + c.failure());
                return finish();
            }
            try {
                if (phase != RUN) return syncPoint(now);
                for (int i = 0; i < 256; i++) {
                    Expected e = model.expected.peekFirst();
                    if (e != null) {
                        if (!verify(e)) break;
                        model.expected.pollFirst();
                        since = now;
                        continue;
                    }
                    if (model.nextClaim()) continue;
                    // A sync point: every record the victim may publish is checked, and its next claim cannot be served.
                    if (headerAcquire(ring, r.log(model.position)) != 0) {
                        throw new IllegalStateException("the victim published at " + model.position + ", past what READ " + model.read
                                + " leaves a correct writer room for");
                    }
                    since = now;
                    lastSync = model.toString();
                    phase = SEND_PING;
                    return syncPoint(now);
                }
            } catch (IllegalStateException e) {
                error(this + " at sync point " + sync + ": " + e.getMessage());
                return finish();
            }
            if (now - since > TimeUnit.SECONDS.toNanos(20)) {
                Expected e = model.expected.peekFirst();
                error(this + ": the victim did not publish " + (e == null ? "anything" : "the record " + e) + " for 20 s (READ " + model.read + ")");
                return finish();
            }
            return false;
        }

        @Override
        public String toString() {
            return "consumer connection #" + index + " (seed " + seed + ", " + n + " x " + r.slotSize() + " B, log " + r.logBytes() + " B)";
        }
    }
}
