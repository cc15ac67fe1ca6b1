package dev.fable.bench;

import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.nio.file.Path;
import java.time.Duration;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A row whose peers wait between cells must not spin: the rows run one after another on the same two
 * CPUs, so an idle busy-polling responder would take half a CPU from every row measured after it
 * (measured: adaptive rows at 4 and 64 KiB looked 1.5-2x slower than spin rows for that reason alone).
 * Real peer JVMs, one real cell, then the CPU time the row's processes use while idle.
 */
class IdlePeersTest {
    @TempDir
    Path errDir;

    @ParameterizedTest
    @ValueSource(strings = {"fable-shm-spin", "aeron-ipc", "raw-ring"})
    void anIdleSpinningRowLeavesTheCpusAlone(String id) throws Exception {
        Row row = Row.ALL.get(id);
        int peerCpu = Runtime.getRuntime().availableProcessors() > 1 ? 1 : 0;
        try (RowPeers peers = new RowPeers(row, errDir)) {
            peers.start("idle-" + ProcessHandle.current().pid() + "-" + id, List.of(64), 60_000);
            assertNotNull(peers.command("OPEN 64", 60_000), () -> "open: " + peers.failure);
            assertNotNull(peers.command("TPUT 64 0 " + peerCpu + " 20 50 0", 60_000), () -> "one cell: " + peers.failure);
            Thread.sleep(300);   // let the JIT finish what the cell started
            long before = cpuNanos(peers), t0 = System.nanoTime();
            Thread.sleep(500);
            long used = cpuNanos(peers) - before, wall = System.nanoTime() - t0;
            assertTrue(used < wall / 4, id + ": the idle row's processes used " + used / 1_000_000 + " ms of CPU in "
                    + wall / 1_000_000 + " ms (a spinning peer uses about all of it)");
        }
    }

    private static long cpuNanos(RowPeers peers) {
        long sum = 0;
        for (ProcessHandle h : peers.handles()) sum += h.info().totalCpuDuration().orElse(Duration.ZERO).toNanos();
        return sum;
    }
}
