package dev.fable.daemon;

import dev.fable.naming.protocol.FlowEntry;
import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The contention policy's vote and hysteresis on hand-made flow samples (the two-JVM test is ContentionPolicyTest). */
class ContentionVoteTest {
    private static final long ID = 0x1234;
    private final ContentionPolicy policy = new ContentionPolicy(new ContentionPolicy.Settings(true, TimeUnit.MILLISECONDS.toNanos(200), 4, 3, 0));

    private static FlowEntry end(boolean connector, String wait, boolean overridden, int cpu, long epoch) {
        return new FlowEntry(connector ? 10 : 20, connector ? "anon-10-1" : "svc", connector ? "svc" : "anon-10-1", "shm", "r", epoch,
                0, 0, 0, 0, 0, ID, connector, wait, overridden, -1, cpu);
    }

    /** One sample: the connector on CPU {@code c}, the acceptor on {@code a} (-1: did not wait). */
    private List<ContentionPolicy.Order> sample(String wait, boolean overridden, int c, int a) {
        return policy.observe(List.of(end(true, wait, overridden, c, 0), end(false, wait, overridden, a, 0)));
    }

    @Test
    void switchesToBlockAfterThreeTogetherVotesOfFourAndSkipsUnknownSamples() {
        assertTrue(sample("spin", false, 0, 0).isEmpty());
        assertTrue(sample("spin", false, 0, 1).isEmpty());
        assertTrue(sample("spin", false, 0, -1).isEmpty(), "an end that did not wait votes nothing");
        assertTrue(sample("spin", false, 1, 1).isEmpty(), "2 of 3 known");
        List<ContentionPolicy.Order> o = sample("spin", false, 1, 1);
        assertEquals(1, o.size(), "3 of the last 4 known samples together");
        assertEquals("block", o.get(0).waitMode());
        assertEquals(10, o.get(0).pid(), "the order goes to the connecting end");
        assertTrue(o.get(0).reason().startsWith("contention: both ends waited on CPU 1 in 3 of the last 4 samples"), o.get(0).reason());
        assertTrue(sample("spin", false, 1, 1).isEmpty(), "no second order while the first is on its way");
    }

    @Test
    void goesBackOnlyAfterAWholeWindowApartAndNeverFlapsWithinOne() {
        for (int i = 0; i < 3; i++) sample("spin", false, 0, 0);
        policy.answered(ID);   // switched: the vote starts afresh
        assertTrue(sample("block", true, 0, 1).isEmpty());
        assertTrue(sample("block", true, 0, 1).isEmpty());
        assertTrue(sample("block", true, 0, 0).isEmpty(), "one together vote in the window keeps it blocking");
        assertTrue(sample("block", true, 0, 1).isEmpty());
        assertTrue(sample("block", true, 0, 1).isEmpty());
        assertTrue(sample("block", true, 0, 1).isEmpty());
        List<ContentionPolicy.Order> o = sample("block", true, 0, 1);
        assertEquals(1, o.size(), "4 of the last 4 apart");
        assertEquals("own", o.get(0).waitMode());
        assertTrue(o.get(0).reason().startsWith("contention over: the ends waited on different CPUs (CPU 0 and CPU 1) in 4 of the last 4"), o.get(0).reason());
    }

    @Test
    void leavesAloneWhatItMustNot() {
        for (int i = 0; i < 5; i++) assertTrue(sample("adaptive", false, 0, 0).isEmpty(), "adaptive waits sleep soon enough by themselves");
        for (int i = 0; i < 5; i++) assertTrue(sample("block", false, 0, 0).isEmpty(), "the application's own block is not the policy's to undo");
        for (int i = 0; i < 5; i++) assertTrue(sample("spin fixed", false, 0, 0).isEmpty(), "fixedWaitMode: a benchmark spinning on one core on purpose");
        assertTrue(ContentionPolicy.watches(List.of(end(true, "spin", false, 0, 0))), "a spinning shm end is asked every period");
        assertTrue(!ContentionPolicy.watches(List.of(end(true, "spin fixed", false, 0, 0))), "a fixed one is not woken every period");
        for (int i = 0; i < 5; i++) {
            assertTrue(policy.observe(List.of(end(true, "spin", false, 0, 1), end(false, "spin", false, 0, 0))).isEmpty(), "mid-switch: epochs differ");
        }
        for (int i = 0; i < 5; i++) assertTrue(policy.observe(List.of(end(true, "spin", false, 0, 0))).isEmpty(), "the other end is not on this host");
    }
}
