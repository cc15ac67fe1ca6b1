package dev.fable.naming;

import dev.fable.naming.protocol.Message;
import dev.fable.testing.Await;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

/**
 * STATS forces no garbage collection: a daemon whose JVM logs every GC ({@code -Xlog:gc:stderr})
 * answers 20 plain STATS requests without one collection that {@code System.gc()} caused; only the
 * request that asks to settle ({@link DaemonNameService#settledStats}, for capacity tests) gets its
 * two full GCs. The log is read once a later line (the client's close) shows it is complete up to there.
 */
class DaemonStatsTest {
    private static final Duration LIMIT = Duration.ofSeconds(10);
    private static final String FORCED = "(System.gc())";

    private static long forcedCollections(String log) {
        return log.lines().filter(l -> l.contains(FORCED)).count();
    }

    @Test
    void plainStatsForceNoGcAndOnlyASettledRequestDoes() throws Exception {
        try (TestDaemon d = TestDaemon.startJvm(TestDaemon.freshDir("st"), List.of("-Xlog:gc:stderr"))) {
            DaemonNameService ns = d.client();
            for (int i = 0; i < 20; i++) {
                Message.Stats s = ns.stats();
                assertTrue(s.usedHeapBytes() > 0, "used heap " + s.usedHeapBytes());
                assertEquals(1, s.clients());
            }
            Message.Stats settled = ns.settledStats();
            assertTrue(settled.usedHeapBytes() > 0);
            long pid = ProcessHandle.current().pid();
            ns.close();   // the daemon logs the close after everything it did for this client, GCs included
            Await.until(() -> d.log().contains("closed client pid " + pid), LIMIT, () -> "the daemon logged no close:\n" + d.log());
            assertEquals(2, forcedCollections(d.log()), "20 plain STATS and one settled one: only the settled one forces (two) GCs\n" + d.log());
        }
    }
}
