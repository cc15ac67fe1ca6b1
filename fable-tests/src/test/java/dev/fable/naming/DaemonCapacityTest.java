package dev.fable.naming;

import dev.fable.naming.protocol.ListenAddress;
import dev.fable.naming.protocol.RouteRequest;
import dev.fable.naming.protocol.Message;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

/**
 * The daemon holds 1,000 live endpoints and serves 10,000 register / listening / resolve / close
 * cycles with flat memory: its used heap after full GCs (a STATS request that asks to settle) differs by at most 10%.
 */
class DaemonCapacityTest {
    private static final int ENDPOINTS = 1_000;
    private static final int CYCLES = 10_000;

    @Test
    void thousandEndpointsAndTenThousandCyclesWithFlatMemory() throws Exception {
        try (TestDaemon d = TestDaemon.start(TestDaemon.freshDir("c"));
             DaemonNameService ns = d.client()) {
            List<NameService.Registration> held = new ArrayList<>();
            for (int i = 0; i < ENDPOINTS; i++) {
                NameService.Registration r = ns.register("held-" + i);
                r.listening(new ListenAddress("/run/fable/ep/held-" + i + ".sock", "127.0.0.1", 10_000 + i));
                held.add(r);
            }
            assertEquals(ENDPOINTS, ns.names().size());
            Message.Stats before = ns.settledStats();
            long[] resolveNanos = new long[CYCLES];
            long start = System.nanoTime();
            RouteRequest req = new RouteRequest(true, null);
            for (int i = 0; i < CYCLES; i++) {
                String name = "cycle-" + i;
                try (NameService.Registration r = ns.register(name)) {
                    r.listening(new ListenAddress("/run/fable/ep/" + name + ".sock", "127.0.0.1", 20_000 + i % 1000));
                    long t = System.nanoTime();
                    assertEquals("shm", ns.resolve(name, req, 0).transport());
                    resolveNanos[i] = System.nanoTime() - t;
                }
            }
            long elapsed = System.nanoTime() - start;
            Message.Stats after = ns.settledStats();
            Arrays.sort(resolveNanos);
            double ratio = (double) after.usedHeapBytes() / before.usedHeapBytes();
            System.out.printf("daemon capacity: %d endpoints; %d cycles in %d ms (%.1f us/cycle); resolve p50 %.1f us p99 %.1f us;"
                            + " used heap after GC %d -> %d bytes (%.3f); names %d -> %d, waiters %d%n",
                    ENDPOINTS, CYCLES, elapsed / 1_000_000, elapsed / 1e3 / CYCLES, resolveNanos[CYCLES / 2] / 1e3,
                    resolveNanos[CYCLES * 99 / 100] / 1e3, before.usedHeapBytes(), after.usedHeapBytes(), ratio,
                    before.names(), after.names(), after.waiters());
            assertEquals(ENDPOINTS, after.names());
            assertEquals(0, after.waiters());
            assertTrue(ratio <= 1.10 && ratio >= 0.90, "daemon heap not flat: " + before.usedHeapBytes() + " -> " + after.usedHeapBytes());
            for (NameService.Registration r : held) r.close();
            assertEquals(0, ns.names().size());
        }
    }
}
