package dev.fable.bench;

import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertTrue;

/** The same-run ratio table, on made-up rows (no processes). */
class SocketRatiosTest {
    static IpcBench.Row tput(String mode, String variant, double bytesPerSec) {
        return new IpcBench.Row(new IpcBench.Cell("tput", 65536, mode, variant), 60, 60,
                Map.of("bytesPerSec", Double.toString(bytesPerSec), "msgPerSec", "1", "msgs", "1", "allocBytes", "0"), Map.of(), 0, 0, null);
    }

    static IpcBench.Row lat(String mode, String variant, long p50) {
        return new IpcBench.Row(new IpcBench.Cell("lat", 64, mode, variant), 60, 60, Map.of(),
                Map.of("p50", Long.toString(p50), "p90", "1", "p99", Long.toString(2 * p50), "p999", "1", "rts", "1", "allocBytes", "0"), 0, 0, null);
    }

    @Test
    void ratiosAgainstTheBetterRawCell() {
        List<IpcBench.Row> rows = List.of(
                tput("spin", "nio-unix", 6e9), tput("block", "nio-unix", 5e9), tput("adaptive", "unix", 5.7e9),
                tput("spin", "nio-tcp", 3e9), tput("adaptive", "tcp", 2e9), tput("adaptive", "tls", 1.8e9),
                lat("spin", "nio-unix", 4000), lat("block", "nio-unix", 30000), lat("adaptive", "unix", 4200),
                lat("spin", "nio-tcp", 8000),
                new IpcBench.Row(new IpcBench.Cell("lat", 64, "adaptive", "tcp"), 60, 60, Map.of(), Map.of(), Double.NaN, Double.NaN, "unsupported"),
                new IpcBench.Row(new IpcBench.Cell("rdv", 64, "adaptive", "auto"), 60, 60, Map.of(),
                        Map.of("p50", "1500000", "p99", "3000000", "transport", "unix"), 0, 0, null));
        String s = IpcBench.summary(rows);
        assertTrue(s.contains("| unix 64 KiB throughput, Fable adaptive | 5.70 GB/s | raw NIO spin 6.00 GB/s | 0.95× | ≥ 0.9× raw | yes |"), s);
        assertTrue(s.contains("| tcp 64 KiB throughput, Fable adaptive | 2.00 GB/s | raw NIO spin 3.00 GB/s | 0.67× | ≥ 0.9× raw | **no** |"), s);
        assertTrue(s.contains("| unix 64 B RTT p50, Fable adaptive | 4200 ns | raw NIO spin 4000 ns | 1.05× | ≤ 1.1× raw | yes |"), s);
        assertTrue(s.contains("| tcp 64 B RTT p50, Fable adaptive | FAILED |"), s);
        assertTrue(s.contains("| tls / tcp 64 KiB throughput, Fable adaptive | 1.80 GB/s | tcp 2.00 GB/s | 0.90× | ≥ 0.8× tcp | yes |"), s);
        assertTrue(s.contains("| rendezvous auto (via unix): connect → first message p50 (p99 3.00 ms) | 1.50 ms | | | p50 ≤ 2 ms | yes |"), s);
    }
}
