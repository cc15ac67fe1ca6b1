package dev.fable.bench;

import io.aeron.Aeron;
import io.aeron.FragmentAssembler;
import io.aeron.Publication;
import io.aeron.Subscription;
import io.aeron.driver.MediaDriver;
import io.aeron.driver.ThreadingMode;
import io.aeron.logbuffer.BufferClaim;
import io.aeron.logbuffer.FragmentHandler;
import org.agrona.BufferUtil;
import org.agrona.DirectBuffer;
import org.agrona.MutableDirectBuffer;
import org.agrona.concurrent.SleepingMillisIdleStrategy;
import org.agrona.concurrent.UnsafeBuffer;

/**
 * Baseline, not Fable: Aeron IPC ({@code aeron:ipc}), the peer to beat, used as Aeron's own samples
 * do for low latency: {@code tryClaim} and write in place for messages that fit one frame
 * ({@code offer} from a scratch buffer above that, which Aeron fragments), the default 64 MiB term, a busy-spin poll of one
 * fragment at a time, reassembly by a {@link FragmentAssembler}, bounds checks off
 * ({@code agrona.disable.bounds.checks}), log buffers pre-touched and not sparse.
 *
 * <p>The media driver is embedded in the responder process. Aeron's low-latency samples run it
 * {@code DEDICATED} with busy-spinning threads; on two vCPUs that would take both CPUs from the
 * pinned peers, and for IPC the driver is not on the data path (publisher and subscriber share the
 * log buffer), so it runs {@code SHARED} with a sleeping idle strategy here.
 */
final class AeronLink extends Link {
    /**
     * Aeron's default IPC term (64 MiB). Its publisher may run half a term ahead of the subscriber,
     * and with the driver asleep between duty cycles that window bounds throughput: an 8 MiB term
     * held Aeron to about 1.5-2 GB/s at 4 and 64 KiB, the default gives about 5 GB/s.
     */
    private static final String CHANNEL = "aeron:ipc";
    private final Aeron aeron;
    private final MediaDriver driver;
    private final Publication pub;
    private final Subscription sub;
    private final BufferClaim claim = new BufferClaim();
    private final UnsafeBuffer scratch;
    private final FragmentHandler assembler;
    private boolean got;
    private BenchFailure failed;
    private boolean verify;
    private long seq;

    /** The responder's end: launches the media driver in {@code dir}. */
    static MediaDriver launchDriver(String dir) {
        System.setProperty("aeron.pre.touch.mapped.memory", "true");
        return MediaDriver.launch(new MediaDriver.Context().aeronDirectoryName(dir).dirDeleteOnStart(true).dirDeleteOnShutdown(true)
                .termBufferSparseFile(false).threadingMode(ThreadingMode.SHARED).sharedIdleStrategy(new SleepingMillisIdleStrategy(1)));
    }

    AeronLink(String dir, boolean responder, MediaDriver driver, int maxSize) {
        this.driver = driver;
        this.aeron = Aeron.connect(new Aeron.Context().aeronDirectoryName(dir));
        this.pub = aeron.addPublication(CHANNEL, responder ? 1002 : 1001);
        this.sub = aeron.addSubscription(CHANNEL, responder ? 1001 : 1002);
        this.scratch = new UnsafeBuffer(BufferUtil.allocateDirectAligned(Math.max(maxSize, Pattern.CONTROL_SIZE), 64));
        this.assembler = new FragmentAssembler((DirectBuffer buf, int off, int len, io.aeron.logbuffer.Header h) -> onMessage(buf, off, len));
    }

    /** Waits until both directions are connected (the peer's publication and subscription exist). */
    void awaitConnected() {
        while (!pub.isConnected() || !sub.isConnected()) Thread.onSpinWait();
    }

    private static void write(MutableDirectBuffer b, int off, long seq, int size, long[] args) {
        b.putLong(off, seq);
        if (seq < 0) {
            for (int i = 0; i < Pattern.ARGS; i++) b.putLong(off + 8 + 8 * i, args[i]);
        } else {
            b.setMemory(off + 8, size - 8, (byte) seq);
            if (seq == Pattern.CORRUPT_AT) b.putByte(off + size - 1, (byte) ~seq);
        }
    }

    @Override
    void send(long seq, int size) {
        if (size <= pub.maxPayloadLength()) {
            long r;
            while ((r = pub.tryClaim(size, claim)) < 0) backOff(r);
            write(claim.buffer(), claim.offset(), seq, size, args);
            claim.commit();
        } else {
            write(scratch, 0, seq, size, args);
            long r;
            while ((r = pub.offer(scratch, 0, size)) < 0) backOff(r);
        }
    }

    private static void backOff(long r) {
        if (r == Publication.CLOSED || r == Publication.NOT_CONNECTED || r == Publication.MAX_POSITION_EXCEEDED) {
            throw new BenchFailure("aeron publication failed: " + r);
        }
        Thread.onSpinWait();   // BACK_PRESSURED or ADMIN_ACTION: retry, as the samples do
    }

    /**
     * The handler of {@link #assembler}. It must not throw: Aeron's {@code Image.poll} passes a
     * handler's exception to its error handler and consumes the fragment, so a wrong message would
     * vanish. It records the failure instead, which {@link #receive} throws.
     */
    private void onMessage(DirectBuffer b, int off, int len) {
        got = true;
        length = len;
        if (len < Pattern.MIN_SIZE) {
            failed = new BenchFailure("aeron: a message of " + len + " bytes arrived");
            return;
        }
        long s = b.getLong(off);
        if (s < 0) {
            for (int i = 0; i < Pattern.ARGS; i++) args[i] = b.getLong(off + 8 + 8 * i);
        } else if (verify) {
            long w = Pattern.fillWord(s), bad = 0;
            int i = 8;
            for (; i + 8 <= len; i += 8) bad |= b.getLong(off + i) ^ w;
            for (; i < len; i++) bad |= (b.getByte(off + i) ^ w) & 0xFF;
            if (bad != 0) failed = new BenchFailure("message " + s + " has wrong bytes");
        }
        seq = s;
    }

    @Override
    long receive(boolean verify) {
        if (!preloaded) {
            this.verify = verify;
            got = false;
            while (!got) {
                if (sub.poll(assembler, 1) == 0) Thread.onSpinWait();
            }
        }
        preloaded = false;
        if (failed != null) throw failed;
        return seq;
    }

    private boolean preloaded;   // awaitQuietly received the next message already

    @Override
    void awaitQuietly() {
        if (preloaded) return;
        verify = false;   // what arrives between cells is a command frame
        got = false;
        while (!got) {
            if (sub.poll(assembler, 1) == 0) java.util.concurrent.locks.LockSupport.parkNanos(QUIET_POLL_NANOS);
        }
        preloaded = true;
    }

    @Override
    String transport() {
        return "aeron-ipc";
    }

    @Override
    public void close() {
        aeron.close();
        if (driver != null) driver.close();
    }
}
