package dev.fable.testing;

import java.lang.management.ManagementFactory;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.HexFormat;
import java.util.List;
import java.util.Random;
import java.util.Set;
import java.util.function.LongUnaryOperator;
import java.util.function.UnaryOperator;

/**
 * A small mutation fuzzer for the parsers of peer input (docs/security.md, "Fuzzing"). Jazzer cannot
 * instrument Java 25 class files (its ASM stops at an older class-file version), so this one is
 * coverage-blind; it is guided instead by what each input <em>did</em>: a target returns a short label
 * (the message type it decoded, the refusal it raised with the numbers taken out), and an input whose
 * label is new joins the corpus that later inputs are mutated from. Mutations are the ones that find
 * parser bugs: bit and byte flips, interesting 8/16/32-bit values (length fields that lie by one, 0,
 * -1, 2^31-1, 0xFFFF, 4096), truncations, deleted, inserted and repeated chunks, splices of two inputs.
 *
 * <p>For every input: only the target's expected exceptions may come out; the input must finish within
 * {@link #HANG_NANOS}; and the bytes allocated on the target's thread must stay within the target's cap
 * for that input length (a decoder that trusts a count or a length allocates beyond it). A failing input
 * is shrunk and reported in hex with the seed that found it.
 *
 * <p>Inputs per target: the count given, times {@code -Dfable.fuzz.scale} (default 1; the long offline run
 * uses a larger one); seed: {@code -Dfable.fuzz.seed} (default fixed, so CI runs the same inputs;
 * {@code random} for a fresh one, printed).
 */
public final class Fuzz {
    /** An input that ran longer than this is a hang. */
    public static final long HANG_NANOS = 5_000_000_000L;
    private static final int MAX_CORPUS = 4096;

    /** One parser under test: runs one input and labels what it did; throws what it throws. */
    @FunctionalInterface
    public interface Target {
        String run(byte[] input) throws Exception;
    }

    /** What one run did. */
    public record Result(String name, long inputs, long nanos, int corpus, int labels, long maxAllocated, int maxAllocatedInputLength,
                         long seed) {
        public double perSecond() {
            return inputs / (nanos / 1e9);
        }

        @Override
        public String toString() {
            return String.format("fuzz %s: %,d inputs in %.1f s (%,.0f/s), %d labels, corpus %d, most allocated %,d B (input of %d B), seed %d",
                    name, inputs, nanos / 1e9, perSecond(), labels, corpus, maxAllocated, maxAllocatedInputLength, seed);
        }
    }

    private final String name;
    private final List<byte[]> corpus = new ArrayList<>();
    private final Set<String> labels = new HashSet<>();
    private long inputs;
    private List<Class<? extends Throwable>> expected = List.of();
    private LongUnaryOperator allocationCap = n -> Long.MAX_VALUE;
    private UnaryOperator<byte[]> fixup = null;
    private int maxLength = 8192;
    private long maxInputs = Long.MAX_VALUE;

    private Fuzz(String name) {
        this.name = name;
    }

    public static Fuzz target(String name) {
        return new Fuzz(name);
    }

    /** Valid inputs to start from (at least one). */
    public Fuzz seeds(List<byte[]> seeds) {
        for (byte[] s : seeds) corpus.add(s.clone());
        return this;
    }

    /** Inputs before scaling. */
    public Fuzz inputs(long n) {
        this.inputs = n;
        return this;
    }

    /** The exceptions a rejected input may raise (their subclasses too); anything else is a finding. */
    @SafeVarargs
    public final Fuzz expecting(Class<? extends Throwable>... types) {
        this.expected = List.of(types);
        return this;
    }

    /** Most bytes the target may allocate for an input of the given length. */
    public Fuzz allocationCap(LongUnaryOperator capForLength) {
        this.allocationCap = capForLength;
        return this;
    }

    /** Applied to half the mutated inputs before they run (e.g. re-computing a checksum the mutation broke). */
    public Fuzz fixup(UnaryOperator<byte[]> f) {
        this.fixup = f;
        return this;
    }

    /** Most inputs whatever the scale (for a slow target). */
    public Fuzz maxInputs(long n) {
        this.maxInputs = n;
        return this;
    }

    /** Longest input the mutator builds. */
    public Fuzz maxLength(int n) {
        this.maxLength = n;
        return this;
    }

    public static double scale() {
        return Double.parseDouble(System.getProperty("fable.fuzz.scale", "1"));
    }

    private static long seedFor(String name) {
        String s = System.getProperty("fable.fuzz.seed", "");
        if (s.equals("random")) return new java.security.SecureRandom().nextLong();
        if (!s.isEmpty()) return Long.parseLong(s);
        return 0xFAB1EL * 31 + name.hashCode();
    }

    /** Runs the target; throws an {@link AssertionError} for the first finding. */
    public Result run(Target target) {
        if (corpus.isEmpty()) throw new IllegalArgumentException("no seeds");
        long seed = seedFor(name);
        long n = Math.max(1, Math.min(maxInputs, (long) (inputs * scale())));
        Random rnd = new Random(seed);
        com.sun.management.ThreadMXBean threads = (com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean();
        Finding[] found = new Finding[1];
        java.util.concurrent.atomic.AtomicLongArray progress = new java.util.concurrent.atomic.AtomicLongArray(3);   // inputs done, start of the current one, max allocated
        int[] maxAllocLength = new int[1];
        java.util.concurrent.atomic.AtomicReference<byte[]> current = new java.util.concurrent.atomic.AtomicReference<>();
        Thread worker = Thread.ofPlatform().daemon().name("fuzz-" + name).unstarted(() -> {
            try {
                for (byte[] s : List.copyOf(corpus)) {   // warm-up: the seeds, so that class loading is not counted
                    Throwable t = runOne(target, s);
                    if (t != null) {
                        found[0] = new Finding("seed input failed", s, t);
                        return;
                    }
                }
                for (long i = 0; i < n; i++) {
                    byte[] input = mutate(rnd);
                    if (fixup != null && rnd.nextBoolean()) input = fixup.apply(input);
                    current.set(input);
                    progress.set(1, System.nanoTime());
                    long before = threads.getCurrentThreadAllocatedBytes();
                    Throwable t = runOne(target, input);
                    long allocated = threads.getCurrentThreadAllocatedBytes() - before;
                    if (t != null) {
                        found[0] = new Finding("input " + i + " threw", shrink(target, input, t), t);
                        return;
                    }
                    if (allocated > allocationCap.applyAsLong(input.length)) {
                        // once more: a first pass through a path loads classes and links call sites on this thread
                        before = threads.getCurrentThreadAllocatedBytes();
                        runOne(target, input);
                        allocated = threads.getCurrentThreadAllocatedBytes() - before;
                        if (allocated > allocationCap.applyAsLong(input.length)) {
                            found[0] = new Finding("input " + i + " allocated " + allocated + " B, more than the cap of "
                                    + allocationCap.applyAsLong(input.length) + " B for " + input.length + " B", input, null);
                            return;
                        }
                    }
                    if (allocated > progress.get(2)) {
                        progress.set(2, allocated);
                        maxAllocLength[0] = input.length;
                    }
                    progress.set(0, i + 1);
                }
            } catch (Throwable t) {   // the harness itself (or an OutOfMemoryError outside runOne)
                found[0] = new Finding("harness failed", current.get() == null ? new byte[0] : current.get(), t);
            }
        });
        long start = System.nanoTime();
        worker.start();
        while (true) {
            try {
                worker.join(100);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new AssertionError("interrupted", e);
            }
            if (!worker.isAlive()) break;
            long began = progress.get(1);
            if (began != 0 && System.nanoTime() - began > HANG_NANOS) {
                byte[] in = current.get();
                if (in != null && progress.get(1) == began) {
                    throw new AssertionError("fuzz " + name + " (seed " + seed + "): an input has run for more than "
                            + HANG_NANOS / 1_000_000_000 + " s (a hang): " + hex(in) + "\n" + stack(worker));
                }
            }
        }
        long nanos = System.nanoTime() - start;
        if (found[0] != null) {
            Finding f = found[0];
            AssertionError e = new AssertionError("fuzz " + name + " (seed " + seed + ", reproduce with -Dfable.fuzz.seed=" + seed + "): "
                    + f.what + (f.error == null ? "" : ": " + f.error) + "\ninput (" + f.input.length + " B): " + hex(f.input));
            if (f.error != null) e.initCause(f.error);
            throw e;
        }
        Result r = new Result(name, n, nanos, corpus.size(), labels.size(), progress.get(2), maxAllocLength[0], seed);
        System.out.println(r);
        return r;
    }

    private record Finding(String what, byte[] input, Throwable error) {}

    /** Null if the input was handled as expected (its label noted), else what came out. */
    private Throwable runOne(Target target, byte[] input) {
        String label;
        try {
            label = "ok " + target.run(input);
        } catch (Throwable t) {
            if (!isExpected(t)) return t;
            String m = String.valueOf(t.getMessage());
            label = t.getClass().getSimpleName() + " " + m.replaceAll("/\\S*", "/_").replaceAll("[0-9a-fA-F]{2,}|[0-9]+", "#").replaceAll("'[^']*'", "'_'");
            if (label.length() > 56) label = label.substring(0, 56);   // the reason, not the peer's bytes it quotes
        }
        if (labels.add(label) && corpus.size() < MAX_CORPUS) corpus.add(input);
        return null;
    }

    private boolean isExpected(Throwable t) {
        for (Class<? extends Throwable> c : expected) if (c.isInstance(t)) return true;
        return false;
    }

    /** A smaller input that still throws the same class of exception. */
    private byte[] shrink(Target target, byte[] input, Throwable original) {
        byte[] best = input;
        for (int chunk = Math.max(1, best.length / 2); chunk >= 1; chunk /= 2) {
            for (int at = 0; at + chunk <= best.length; ) {
                byte[] cut = new byte[best.length - chunk];
                System.arraycopy(best, 0, cut, 0, at);
                System.arraycopy(best, at + chunk, cut, at, best.length - at - chunk);
                Throwable t;
                try {
                    target.run(cut);
                    t = null;
                } catch (Throwable e) {
                    t = e;
                }
                if (t != null && !isExpected(t) && t.getClass() == original.getClass()) best = cut;
                else at += chunk;
            }
        }
        return best;
    }

    // ---- mutation -------------------------------------------------------------------------------------

    private static final int[] INTERESTING_8 = {0, 1, 2, 0x7F, 0x80, 0xFE, 0xFF};
    private static final int[] INTERESTING_16 = {0, 1, 2, 0x7F, 0x80, 0xFF, 0x100, 4095, 4096, 4097, 0x7FFF, 0x8000, 0xFFFE, 0xFFFF};
    private static final int[] INTERESTING_32 = {0, 1, 2, 63, 64, 65, 4096, 65535, 65536, 65537, 1 << 24, (1 << 24) + 1, 1 << 30,
            Integer.MAX_VALUE, Integer.MIN_VALUE, -1, -2};

    private byte[] mutate(Random rnd) {
        byte[] b = corpus.get(rnd.nextInt(corpus.size())).clone();
        int k = 1 + Integer.numberOfTrailingZeros(rnd.nextInt() | 0x10);   // 1..5, mostly 1 or 2
        for (int i = 0; i < k; i++) b = mutateOnce(b, rnd);
        return b.length > maxLength ? Arrays.copyOf(b, maxLength) : b;
    }

    private byte[] mutateOnce(byte[] b, Random rnd) {
        int len = b.length;
        switch (rnd.nextInt(len == 0 ? 3 : 13)) {
            case 0 -> {   // append random bytes
                byte[] more = new byte[1 + rnd.nextInt(16)];
                rnd.nextBytes(more);
                return concat(b, more);
            }
            case 1 -> {   // splice: a prefix of this one, a suffix of another
                byte[] o = corpus.get(rnd.nextInt(corpus.size()));
                int a = len == 0 ? 0 : rnd.nextInt(len + 1);
                int c = o.length == 0 ? 0 : rnd.nextInt(o.length + 1);
                return concat(Arrays.copyOf(b, a), Arrays.copyOfRange(o, c, o.length));
            }
            case 2 -> {   // noise, rarely
                if (rnd.nextInt(8) != 0) return b;
                byte[] r = new byte[rnd.nextInt(64)];
                rnd.nextBytes(r);
                return r;
            }
            case 3 -> b[rnd.nextInt(len)] ^= (byte) (1 << rnd.nextInt(8));
            case 4 -> b[rnd.nextInt(len)] = (byte) rnd.nextInt(256);
            case 5 -> b[rnd.nextInt(len)] = (byte) INTERESTING_8[rnd.nextInt(INTERESTING_8.length)];
            case 6 -> {   // a 16-bit field that lies (big-endian, as the protocols write it)
                if (len < 2) return b;
                int at = rnd.nextInt(len - 1);
                int v = rnd.nextInt(4) == 0 ? len - at - 2 + rnd.nextInt(3) - 1 : INTERESTING_16[rnd.nextInt(INTERESTING_16.length)];
                b[at] = (byte) (v >>> 8);
                b[at + 1] = (byte) v;
            }
            case 7 -> {   // a 32-bit field that lies
                if (len < 4) return b;
                int at = rnd.nextInt(len - 3);
                int v = rnd.nextInt(4) == 0 ? len - at - 4 + rnd.nextInt(3) - 1 : INTERESTING_32[rnd.nextInt(INTERESTING_32.length)];
                if (rnd.nextBoolean()) v = Integer.reverseBytes(v);   // the shm headers are little-endian
                for (int j = 0; j < 4; j++) b[at + j] = (byte) (v >>> (24 - 8 * j));
            }
            case 8 -> {   // truncate
                return Arrays.copyOf(b, rnd.nextInt(len));
            }
            case 9 -> {   // delete a chunk
                int at = rnd.nextInt(len);
                int n = 1 + rnd.nextInt(Math.min(len - at, 32));
                return concat(Arrays.copyOf(b, at), Arrays.copyOfRange(b, at + n, len));
            }
            case 10 -> {   // insert random bytes
                int at = rnd.nextInt(len + 1);
                byte[] ins = new byte[1 + rnd.nextInt(16)];
                rnd.nextBytes(ins);
                return concat(concat(Arrays.copyOf(b, at), ins), Arrays.copyOfRange(b, at, len));
            }
            case 11 -> {   // repeat a chunk in place
                int at = rnd.nextInt(len);
                int n = 1 + rnd.nextInt(Math.min(len - at, 64));
                byte[] chunk = Arrays.copyOfRange(b, at, at + n);
                int times = 1 + rnd.nextInt(4);
                byte[] out = Arrays.copyOf(b, at + n);
                for (int t = 0; t < times; t++) out = concat(out, chunk);
                return concat(out, Arrays.copyOfRange(b, at + n, len));
            }
            default -> {   // overwrite a chunk with bytes from elsewhere in the input
                int from = rnd.nextInt(len);
                int to = rnd.nextInt(len);
                int n = 1 + rnd.nextInt(Math.min(Math.min(len - from, len - to), 32));
                System.arraycopy(b.clone(), from, b, to, n);
            }
        }
        return b;
    }

    private static byte[] concat(byte[] a, byte[] b) {
        byte[] r = Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, r, a.length, b.length);
        return r;
    }

    public static String hex(byte[] b) {
        String h = HexFormat.of().formatHex(b, 0, Math.min(b.length, 512));
        return b.length > 512 ? h + "… (" + b.length + " B)" : h;
    }

    private static String stack(Thread t) {
        StringBuilder sb = new StringBuilder();
        for (StackTraceElement e : t.getStackTrace()) sb.append("\tat ").append(e).append('\n');
        return sb.toString();
    }
}
