package dev.fable.bench;

import java.lang.foreign.MemorySegment;

import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_LONG_UNALIGNED;

/**
 * What a bench message holds, for every row alike. A data message of {@code size} bytes carries its
 * sequence number (≥ 0) in its first 8 bytes, and every later byte is the sequence number's low
 * byte; the writer always writes all of it. The reader always checks the length and the sequence
 * number, and with {@code --verify} every byte. A control message is {@link #CONTROL_SIZE} bytes
 * whose first word is a negative code ({@link #STOP} ...) followed by up to seven argument words.
 *
 * <p>Offsets are unaligned on purpose: a stream transport's payload may start anywhere in its
 * receive buffer, and on x86 unaligned reads cost the same.
 */
final class Pattern {
    private Pattern() {}

    static final int MIN_SIZE = 8;
    static final int CONTROL_SIZE = 64;
    static final int ARGS = 7;
    /** Messages up to this size are filled with inline stores, larger ones with one memset. */
    private static final int SMALL = 256;

    /** End of a phase: the writer (or pinger) is done; the other side answers with {@link #RESULT}. */
    static final long STOP = -1;
    /** A command to the responder: args = op, size, cpu, verify (0/1), warm-up ns. */
    static final long COMMAND = -2;
    /** The responder's answer after STOP: args = messages, nanos, allocated bytes, process CPU ns. */
    static final long RESULT = -3;
    /** Sent by the responder on every new connection before anything else (the rendezvous' first message). */
    static final long HELLO = -4;

    /**
     * Self-test of the checks (tests only): {@code -Dfable.bench.corruptAt=N} makes the writer send
     * message N with its last byte wrong, {@code -Dfable.bench.skipAt=N} makes it skip sequence
     * number N. Off (-1) by default; static finals, so the JIT folds the tests away.
     */
    static final long CORRUPT_AT = Long.getLong("fable.bench.corruptAt", -1), SKIP_AT = Long.getLong("fable.bench.skipAt", -1);

    static long fillWord(long seq) {
        return (seq & 0xFF) * 0x0101010101010101L;
    }

    /** Writes message {@code seq} (data) or a control frame (seq < 0, arguments from {@code args}) at {@code off}. */
    static void write(MemorySegment s, long off, long seq, int size, long[] args) {
        MemorySegment m = off == 0 && s.byteSize() == size ? s : s.asSlice(off, size);   // Fable's buffer is the message itself
        if (seq < 0) {
            m.set(JAVA_LONG_UNALIGNED, 0, seq);
            for (int i = 0; i < ARGS; i++) m.set(JAVA_LONG_UNALIGNED, 8 + 8 * i, args[i]);
            return;
        }
        if (size <= SMALL) {   // a few stores inline: fill() calls the runtime's memset, which costs more than 64 bytes of stores
            long w = fillWord(seq);
            for (int i = 8; i + 8 <= size; i += 8) m.set(JAVA_LONG_UNALIGNED, i, w);
            for (int i = size & ~7; i < size; i++) m.set(JAVA_BYTE, i, (byte) seq);
        } else {
            m.fill((byte) seq);   // the runtime's memset: a loop of 8-byte stores at long offsets is 10x slower at 64 KiB
        }
        m.set(JAVA_LONG_UNALIGNED, 0, seq);
        if (seq == CORRUPT_AT) m.set(JAVA_BYTE, size - 1, (byte) ~seq);
    }

    /**
     * Reads the message at {@code off} of {@code len} bytes: returns its sequence number (or control
     * code, whose arguments go to {@code args}). Checks every payload byte when {@code verify}.
     */
    static long read(MemorySegment s, long off, int len, boolean verify, long[] args) {
        if (len < MIN_SIZE) throw new BenchFailure("a message of " + len + " bytes arrived (every bench message has ≥ 8)");
        long seq = s.get(JAVA_LONG_UNALIGNED, off);
        if (seq < 0) {
            if (len != CONTROL_SIZE) throw new BenchFailure("a control message of " + len + " bytes arrived, not " + CONTROL_SIZE);
            for (int i = 0; i < ARGS; i++) args[i] = s.get(JAVA_LONG_UNALIGNED, off + 8 + 8L * i);
        } else if (verify && !matches(off == 0 && s.byteSize() == len ? s : s.asSlice(off, len), len, fillWord(seq))) {
            throw new BenchFailure("message " + seq + " has wrong bytes");
        }
        return seq;
    }

    /** Every byte after the sequence number is the fill byte (an int-indexed loop: the JIT unrolls and vectorises it). */
    private static boolean matches(MemorySegment m, int len, long w) {
        long bad = 0;
        int i = 8;
        for (; i + 8 <= len; i += 8) bad |= m.get(JAVA_LONG_UNALIGNED, i) ^ w;
        for (; i < len; i++) bad |= (m.get(JAVA_BYTE, i) ^ w) & 0xFF;
        return bad == 0;
    }
}
