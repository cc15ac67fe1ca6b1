package dev.fable.sync;

import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

import static org.junit.jupiter.api.Assertions.*;

/**
 * The tripwire handshake with interleavings forced step by step. Both scenarios are deadlocks the
 * benchmark found in earlier versions (both ends of a channel asleep with messages waiting).
 */
class TripwireTest {
    private static final long PARKED = 128;

    @Test
    void aLateSignalCannotClearALaterArming() {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment m = arena.allocate(256, 128);
            Tripwire waiter = new Tripwire(m, PARKED);
            Tripwire signaller = new Tripwire(m, PARKED);

            waiter.arm();                                   // round N: the waiter advertises it will sleep
            int seen = signaller.parkedGeneration();        // a signaller reads the flag and is preempted here
            assertNotEquals(0, seen);

            waiter.disarm();                                // the waiter saw the data without sleeping
            waiter.arm();                                   // and arms for round N+1

            signaller.wake(seen);                           // the late signal resumes
            assertNotEquals(0, signaller.parkedGeneration(),
                    "a stale signal cleared the new arming: the next publication would not wake the sleeper");
        }
    }

    @Test
    void aWakeSpentBeforeTheSleepStillPreventsTheSleep() {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment m = arena.allocate(256, 128);
            Tripwire waiter = new Tripwire(m, PARKED);
            Tripwire signaller = new Tripwire(m, PARKED);

            waiter.arm();                                   // armed; its re-check found nothing yet
            signaller.wake(signaller.parkedGeneration());   // a signal clears the arming and wakes nobody (not asleep yet)
            long t0 = System.nanoTime();
            waiter.sleep(5_000_000_000L);                   // must not sleep: the signal for this arming was already sent
            long slept = System.nanoTime() - t0;
            waiter.disarm();
            assertTrue(slept < 1_000_000_000L, "slept " + slept / 1_000_000 + " ms after its wake-up was spent early (lost wake-up)");
        }
    }

    @Test
    void wakeAllReachesAWaiterThatIsAboutToSleep() {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment m = arena.allocate(256, 128);
            Tripwire waiter = new Tripwire(m, PARKED);
            waiter.arm();
            new Tripwire(m, PARKED).wakeAll();              // peer gone / close, before the waiter reached futex_wait
            long t0 = System.nanoTime();
            waiter.sleep(5_000_000_000L);
            assertTrue(System.nanoTime() - t0 < 1_000_000_000L, "wakeAll before the sleep was lost");
        }
    }

    /**
     * Fenced signals: a waiter that asked for them and saw the signaller's ack arms without the heavy
     * fence (the system call); without the ack, or after withdrawing the request, it pays it again.
     */
    @Test
    void anAckedRequestReplacesTheHeavyFenceAndAWithdrawalRestoresIt() {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment m = arena.allocate(256, 128);
            Tripwire waiter = new Tripwire(m, PARKED);
            Tripwire signaller = new Tripwire(m, PARKED);

            waiter.requestFencedSignals(true);
            long h = AsymmetricFence.heavyFences();
            waiter.arm();                                   // not acked yet: the heavy fence
            assertEquals(h + 1, AsymmetricFence.heavyFences(), "armed without an ack, but skipped the heavy fence");
            signaller.signal();                             // sees the request: acks and fences from now on; wakes the arming
            assertTrue(signaller.signalsFenced());
            assertEquals(0, signaller.parkedGeneration(), "the signal that acked did not wake the armed waiter");

            h = AsymmetricFence.heavyFences();
            waiter.arm();                                   // acked: a full fence only
            assertEquals(h, AsymmetricFence.heavyFences(), "the ack did not spare the heavy fence");
            waiter.disarm();

            waiter.requestFencedSignals(false);
            h = AsymmetricFence.heavyFences();
            waiter.arm();                                   // withdrawn: heavy again at once, whatever the ack says
            assertEquals(h + 1, AsymmetricFence.heavyFences());
            waiter.disarm();
            signaller.signal();                             // sees the withdrawal: revokes the ack, stops fencing
            assertFalse(signaller.signalsFenced());
        }
    }

    /**
     * The revocation race: the waiter withdraws and renews its request before the signaller looks, so
     * it relies on the old ack; the signaller, having never seen the withdrawal, still fences and its
     * next signal wakes the arming.
     */
    @Test
    void aRequestRenewedBeforeTheSignallerLookedStillGetsItsWakeUp() {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment m = arena.allocate(256, 128);
            Tripwire waiter = new Tripwire(m, PARKED);
            Tripwire signaller = new Tripwire(m, PARKED);
            waiter.requestFencedSignals(true);
            signaller.signal();                             // ack
            waiter.requestFencedSignals(false);
            waiter.requestFencedSignals(true);              // the signaller never saw the 0
            long h = AsymmetricFence.heavyFences();
            waiter.arm();
            assertEquals(h, AsymmetricFence.heavyFences(), "relies on the standing ack");
            signaller.signal();
            assertTrue(signaller.signalsFenced(), "the signaller stopped fencing while the waiter relied on its ack");
            assertEquals(0, signaller.parkedGeneration(), "the arming was not woken");
        }
    }
}
