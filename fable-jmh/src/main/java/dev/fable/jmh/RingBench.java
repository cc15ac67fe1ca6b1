package dev.fable.jmh;

import dev.fable.CorruptChannelException;
import dev.fable.buffer.LeakDetector;
import dev.fable.buffer.SlotBuffer;
import dev.fable.transport.shm.Faults;
import dev.fable.transport.shm.RingReader;
import dev.fable.transport.shm.RingWriter;
import dev.fable.transport.shm.ShmLayout;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OperationsPerInvocation;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.concurrent.TimeUnit;

/**
 * The shared-memory ring alone: one {@link RingWriter} and one {@link RingReader} over an
 * {@link Arena}-allocated pool and ring (no files, no connection, no daemon), driven by one
 * thread. Each message is claim → write a long → commit (slot pointer, release-stored stamp,
 * WRITE register, wake check) and poll (stamp acquire, pointer checks) → read → release (READ
 * register, wake check); the writer takes released slots back lazily, when its free list runs out.
 *
 * <ul>
 *   <li>{@code publishConsume}: one message at a time; the writer reclaims one slot per message
 *       once the free list is empty.</li>
 *   <li>{@code batch}: {@value #BATCH} publishes, then {@value #BATCH} consumes; figures per
 *       message. Shows what pipelining through the ring (and reclaiming in runs) saves.</li>
 * </ul>
 *
 * <p>The ring classes are public for this benchmark only (their package is exported to Fable's own
 * modules alone); it is compiled into the benchmark jar only. Slots are 64 B and 128 per pool, as a small-message
 * connection would configure. {@code trusted=false} adds the reader's private copy of the 64 B.
 * Compare with {@code ConnectionOpsBench.roundTrip}: the difference is the {@code Connection}
 * layer (state checks, interface calls).
 */
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = {"--enable-native-access=ALL-UNNAMED", "--sun-misc-unsafe-memory-access=allow"})
@State(Scope.Thread)
public class RingBench {
    static final int SLOT_SIZE = 64;
    static final int SLOTS = 128;
    static final int BATCH = 64;
    static final int LOG_BYTES = 1 << 20;

    @Param({"true", "false"})
    public boolean trusted;

    private Arena arena;
    private RingWriter writer;
    private RingReader reader;
    private long sequence;

    private LeakDetector leaks;

    @Setup(Level.Trial)
    public void open() {
        arena = Arena.ofShared();
        MemorySegment pool = arena.allocate(ShmLayout.poolBytes(SLOT_SIZE, SLOTS), 4096);
        MemorySegment ring = arena.allocate(ShmLayout.ringBytes(LOG_BYTES), 4096);
        RingWriter.initialise(pool, ring, SLOT_SIZE, SLOTS, LOG_BYTES);
        leaks = new LeakDetector(LeakDetector.Level.SIMPLE);   // as a connection's buffers are tracked by default
        Faults faults = detail -> { throw new CorruptChannelException("ring benchmark: " + detail); };
        // peers "may park" (the default ADAPTIVE mode): every commit and release pays the wake check
        writer = new RingWriter(pool, ring, SLOT_SIZE, SLOTS, LOG_BYTES, null, 0, faults, true, "jmh ring (sending)", leaks);
        reader = new RingReader(pool.asReadOnly(), ring, SLOT_SIZE, SLOTS, LOG_BYTES, trusted, 0, null, 0, faults, true,
                "jmh ring (receiving)", leaks);
        String bad = RingReader.validateHeaders(pool, ring, SLOT_SIZE, SLOTS, LOG_BYTES);
        if (bad != null) throw new IllegalStateException(bad);
    }

    @TearDown(Level.Trial)
    public void close() {
        writer.untrackAll();
        reader.untrackAll();
        arena.close();
    }

    private void publish(long value) {
        SlotBuffer b = writer.claim(SLOT_SIZE);
        b.putLong(0, value);
        b.commit();
    }

    private long consume() {
        SlotBuffer r = reader.poll();
        long v = r.getLong(0);
        r.release();
        return v;
    }

    @Benchmark
    public long publishConsume() {
        publish(++sequence);
        return consume();
    }

    @Benchmark
    @OperationsPerInvocation(BATCH)
    public long batch() {
        for (int i = 0; i < BATCH; i++) publish(i);
        long sum = 0;
        for (int i = 0; i < BATCH; i++) sum += consume();
        return sum;
    }
}
