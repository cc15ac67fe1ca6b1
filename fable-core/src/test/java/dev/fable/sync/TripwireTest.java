package dev.fable.sync;

import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

import static java.lang.foreign.ValueLayout.JAVA_INT;
import static org.junit.jupiter.api.Assertions.*;

/** The tripwire handshake, with interleavings forced step by step. */
class TripwireTest {
    private static final long WORD = 0, PARKED = 128;

    @Test
    void aLateSignalCannotClearALaterArming() {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment m = arena.allocate(256, 128);
            Tripwire waiter = new Tripwire(m, WORD, PARKED);
            Tripwire signaller = new Tripwire(m, WORD, PARKED);

            waiter.observe();
            waiter.arm();                                   // round N: the waiter advertises it will sleep
            m.set(JAVA_INT, WORD, 1);                       // the signaller publishes ...
            int seen = signaller.parkedGeneration();        // ... reads the flag, and is preempted here
            assertNotEquals(0, seen);

            waiter.disarm();                                // the waiter saw the data without sleeping,
            waiter.observe();                               // consumed it, and arms for round N+1
            waiter.arm();

            signaller.wake(seen);                           // the late signal resumes
            assertNotEquals(0, signaller.parkedGeneration(),
                    "a stale signal cleared the new arming: the next publication would not wake the sleeper");

            m.set(JAVA_INT, WORD, 2);                       // the next publication must find the sleeper
            int now = signaller.parkedGeneration();
            assertNotEquals(0, now);
            signaller.wake(now);
            assertEquals(0, signaller.parkedGeneration(), "a current signal clears the flag it woke");
        }
    }

    @Test
    void sleepReturnsAtOnceWhenTheWordAlreadyChanged() {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment m = arena.allocate(256, 128);
            Tripwire t = new Tripwire(m, WORD, PARKED);
            int observed = t.observe();
            m.set(JAVA_INT, WORD, observed + 1);
            long t0 = System.nanoTime();
            t.sleep(observed, 5_000_000_000L);              // futex compares the word: EAGAIN, no sleep
            assertTrue(System.nanoTime() - t0 < 1_000_000_000L, "slept although the word had changed");
        }
    }
}
