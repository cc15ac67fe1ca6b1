package dev.fable.bench;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.*;

/** The fan-out report from made-up samples: which rounds count, the figures, the verdict against the target, the files. */
class FanoutReportTest {
    @TempDir
    Path dir;

    private static FanoutRun.Settings settings(List<Integer> n, List<Integer> sizes) {
        return new FanoutRun.Settings(n, sizes, FanoutBench.FAMILIES, 0, 1, 3, new long[] {1, 2, 3}, 4, new long[] {1, 2, 3}, 200_000, 16 << 20,
                1 << 20, 0, false, 1000);
    }

    /** A flat-out sample: every consumer got {@code msgs} messages in 1 s; probe before/after as given. */
    private static FanoutSample tput(String family, int n, int size, int round, long msgs, double probe) {
        List<Map<String, String>> c = new ArrayList<>();
        for (int k = 0; k < n; k++) c.add(Map.of("msgs", Long.toString(msgs), "nanos", "1000000000", "told", "0"));
        return new FanoutSample(family, n, size, "tput", round, 0, FanoutRun.Settings.consumerCpus(n, 0, 1, 2), probe, probe, 0, 0,
                Map.of("msgs", Long.toString(msgs * 2), "nanos", "1000000000", "dropped", Long.toString(msgs * n / 2)), c, null);
    }

    @Test
    void consumersGoOnEveryCpuButTheProducersFromTheSecondOn() {
        assertEquals(List.of(1, 1, 1, 1), FanoutRun.Settings.consumerCpus(4, 0, 1, 2));
        assertEquals(List.of(3, 1, 2, 3, 1), FanoutRun.Settings.consumerCpus(5, 0, 3, 4));
        assertEquals(List.of(0, 0), FanoutRun.Settings.consumerCpus(2, 0, 0, 1), "one CPU: everything on it");
        assertEquals(List.of(1, 2, 4, 8), FanoutRun.parseConsumers("auto", false));
        assertEquals(List.of(1, 2), FanoutRun.parseConsumers("auto", true));
        assertEquals(List.of(3, 1), FanoutRun.parseConsumers("3,1,3", false));
        assertThrows(IllegalArgumentException.class, () -> FanoutRun.parseConsumers("0", false));
        assertThrows(IllegalArgumentException.class, () -> FanoutRun.parseConsumers("x", false));
    }

    @Test
    void theFigureIsTheMedianOfTheNearRoundsAndTheVerdictUsesTheTarget() throws Exception {
        List<FanoutSample> s = new ArrayList<>();
        int k = 4096;
        // fan-out N=2: two near rounds (2.5 and 3 GB/s aggregate) and a far one (0.5 GB/s, ignored)
        s.add(tput(FanoutBench.FANOUT, 2, k, 1, 305_176, 100));
        s.add(tput(FanoutBench.FANOUT, 2, k, 2, 366_211, 100));
        s.add(tput(FanoutBench.FANOUT, 2, k, 3, 61_035, 400));
        for (int r = 1; r <= 3; r++) s.add(tput(FanoutBench.AERON, 2, k, r, 122_070, 100));   // 1 GB/s
        for (int r = 1; r <= 3; r++) s.add(tput(FanoutBench.ONE_TO_ONE, 2, k, r, 61_035, 100));
        s.add(new FanoutSample(FanoutBench.FANOUT, 2, k, "lat", 1, 0, List.of(1, 1), 100, 100, 0, 0, Map.of(), List.of(), "consumer0: boom"));
        FanoutReport rep = new FanoutReport(settings(List.of(2), List.of(k)), s);

        Stat f = rep.throughput(FanoutBench.FANOUT, 2, k);
        assertEquals(2, f.n(), "the far round does not count");
        assertEquals((305_176 + 366_211) / 2.0 * 2 * k, f.median(), 1e3);
        assertEquals("near 2/3", rep.placementOf(FanoutBench.FANOUT, 2, k, "tput"));
        assertEquals(2.75, rep.ratio(2, k), 0.01);
        assertTrue(rep.verdict().contains("4 KiB: fable-fanout ÷ aeron-fanout = 2.75× for N = 2 (target ≥ 2×): **met for every N**"), rep.verdict());
        assertEquals(25.0, rep.stat(FanoutBench.FANOUT, 2, k, "tput", FanoutSample::droppedPct).median(), 1e-9, "dropped: msgs*n/2 of msgs*2*n");
        assertEquals("consumer0: boom", rep.failure(FanoutBench.FANOUT, 2, k, "lat"));

        String md = rep.write(dir);
        assertTrue(md.contains("| 4 KiB | 2 |") && md.contains("2.75×") && md.contains("≥ 2×: met"), md);
        assertTrue(md.contains("## Failed cells") && md.contains("consumer0: boom"), md);
        for (String f2 : new String[] {"fanout.md", "fanout-samples.csv", "fanout-summary.csv", "fanout.png"}) assertTrue(Files.size(dir.resolve(f2)) > 0, f2);
    }

    @Test
    void belowTheTargetTheVerdictNamesTheN() {
        List<FanoutSample> s = new ArrayList<>();
        for (int n : new int[] {1, 8}) {
            s.add(tput(FanoutBench.FANOUT, n, 64, 1, n == 1 ? 2_000_000 : 500_000, 100));
            s.add(tput(FanoutBench.AERON, n, 64, 1, 1_000_000, 100));
        }
        FanoutReport rep = new FanoutReport(settings(List.of(1, 8), List.of(64)), s);
        assertTrue(rep.verdict().contains("= 2.00×, 0.50× for N = 1, 8 (target ≥ 1×): not met for N = 8"), rep.verdict());
    }
}
