package dev.fable.daemon;

import dev.fable.naming.protocol.FlowEntry;
import org.junit.jupiter.api.Test;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;

/** The accepting end of a connection shows the reason its connector's daemon gave, when both ends report. */
class FlowReasonsTest {
    private static FlowEntry flow(long pid, String local, String peer, String transport, String reason) {
        return new FlowEntry(pid, local, peer, transport, reason, 0, 1, 2, 3, 4, 5);
    }

    @Test
    void acceptingEndBorrowsTheConnectorsReasonAndKeepsItsOwnOtherwise() {
        List<FlowEntry> out = FlowCollector.withAcceptorReasons(List.of(
                flow(1, "anon-1", "ledger", "shm", "same host, trusted peer"),
                flow(2, "ledger", "anon-1", "shm", FlowCollector.ACCEPTED),
                flow(2, "ledger", "anon-9", "tcp", FlowCollector.ACCEPTED),          // its connector is on another host: no row here
                flow(3, "billing", "anon-1", "unix", FlowCollector.ACCEPTED)));      // same peer name, other endpoint: no match
        assertEquals("same host, trusted peer", out.get(0).reason());
        assertEquals("same host, trusted peer (accepting side)", out.get(1).reason());
        assertEquals(FlowCollector.ACCEPTED, out.get(2).reason());
        assertEquals(FlowCollector.ACCEPTED, out.get(3).reason());
        assertEquals(2, out.get(1).pid());
        assertEquals(3, out.get(1).messagesSent());
    }
}
