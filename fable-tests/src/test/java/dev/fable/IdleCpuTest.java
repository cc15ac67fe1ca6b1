package dev.fable;

import dev.fable.testing.Await;
import dev.fable.testing.PeerProcess;
import dev.fable.testing.ProcFs;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

import java.time.Duration;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

import static dev.fable.testing.Names.unique;
import static org.junit.jupiter.api.Assertions.*;

/**
 * A receiver blocked on an idle channel costs no CPU: the whole receiving process (a real second JVM)
 * uses less than 20 ms of CPU in 2 idle seconds, and still wakes for the next message. The timed
 * waits below are the measurement windows themselves, not synchronisation.
 */
class IdleCpuTest {
    private static final Duration WINDOW = Duration.ofSeconds(2);
    private static final long IDLE_BUDGET_NANOS = TimeUnit.MILLISECONDS.toNanos(20);

    /**
     * Listens as {@code args[0]} with wait mode {@code args[1]}, accepts, prints "BLOCKING tid" and blocks
     * in receive(30 s); prints "GOT v" (or "TIMEOUT") and exits.
     */
    public static final class IdleReceiver {
        public static void main(String[] args) throws Exception {
            WaitMode mode = WaitMode.valueOf(args[1]);
            try (Endpoint ep = Fable.register(args[0]).listen(ConnectOptions.trusted().waitMode(mode))) {
                System.out.println("READY");
                try (Connection c = ep.accept(Duration.ofSeconds(30))) {
                    System.out.println("BLOCKING " + ProcFs.currentTid());
                    Buffer b = c.receive(Duration.ofSeconds(30));
                    if (b == null) {
                        System.out.println("TIMEOUT");
                    } else {
                        System.out.println("GOT " + b.getLong(0));
                        b.release();
                    }
                }
            }
        }
    }

    private static void window(Duration d) throws InterruptedException {
        new CountDownLatch(1).await(d.toNanos(), TimeUnit.NANOSECONDS);
    }

    private static void send(Connection c, long value) {
        Buffer b = c.claim(8, Duration.ofSeconds(5));
        assertNotNull(b);
        b.putLong(0, value);
        b.commit();
    }

    @ParameterizedTest
    @EnumSource(value = WaitMode.class, names = {"ADAPTIVE", "BLOCK"})
    void blockedReceiverUsesNoCpuWhileIdleAndWakesForTheNextMessage(WaitMode mode) throws Exception {
        String name = unique("idle");
        try (PeerProcess child = PeerProcess.start(IdleReceiver.class, name, mode.name())) {
            child.expectLine("READY");
            try (Connection c = Fable.connect("xio+shm://" + name, ConnectOptions.trusted())) {
                long tid = Long.parseLong(child.expectLine("BLOCKING ").substring("BLOCKING ".length()));
                long pid = child.pid();
                Await.until(() -> ProcFs.inSharedFutexWait(pid, tid), Duration.ofSeconds(10),
                        () -> "the child's receiving thread never slept on the channel's futex: " + ProcFs.syscall(pid, tid));

                long cpu0 = ProcFs.processCpuNanos(pid);
                long rx0 = ProcFs.liveThreadsCpuNanos(pid);
                window(WINDOW);
                long cpu = ProcFs.processCpuNanos(pid) - cpu0;
                long rx = ProcFs.liveThreadsCpuNanos(pid) - rx0;

                assertTrue(cpu < IDLE_BUDGET_NANOS, mode + ": the idle receiving JVM used " + TimeUnit.NANOSECONDS.toMillis(cpu)
                        + " ms CPU in " + WINDOW.toMillis() + " ms (budget " + TimeUnit.NANOSECONDS.toMillis(IDLE_BUDGET_NANOS) + " ms)");
                assertTrue(rx < IDLE_BUDGET_NANOS, mode + ": the idle receiving JVM's threads used " + rx / 1_000_000.0 + " ms CPU");
                assertTrue(ProcFs.inSharedFutexWait(pid, tid), "still asleep on the channel after the window: " + ProcFs.syscall(pid, tid));

                send(c, 4242);
                child.expectLine("GOT 4242", Duration.ofSeconds(10));
                assertEquals(0, child.waitFor(30), child.stderr());
            }
        }
    }

    /** Control: a spinning receiver does burn a core, so the measurement above can tell the difference. */
    @Test
    void spinningReceiverIsVisibleToTheSameMeasurement() throws Exception {
        String name = unique("spin");
        try (PeerProcess child = PeerProcess.start(IdleReceiver.class, name, WaitMode.SPIN.name())) {
            child.expectLine("READY");
            try (Connection c = Fable.connect("xio+shm://" + name, ConnectOptions.trusted())) {
                child.expectLine("BLOCKING ");
                long pid = child.pid();
                long cpu0 = ProcFs.processCpuNanos(pid);
                window(Duration.ofSeconds(1));
                long cpu = ProcFs.processCpuNanos(pid) - cpu0;
                // Half the idle window, yet well over the idle budget even when other processes share the cores.
                assertTrue(cpu > 2 * IDLE_BUDGET_NANOS, "a spinning receiver used only "
                        + TimeUnit.NANOSECONDS.toMillis(cpu) + " ms CPU in 1 s");
                send(c, 7);
                child.expectLine("GOT 7", Duration.ofSeconds(10));
            }
        }
    }
}
