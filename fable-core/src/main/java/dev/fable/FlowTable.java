package dev.fable;

import dev.fable.naming.NameService;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ConcurrentLinkedQueue;

/**
 * This process's live connections, as the daemon's flow table shows them ({@code fable flows}).
 * Connections are added when made and dropped once closed: on every report and, so that a process
 * that nobody asks cannot pile up dead entries, whenever a new one is added past a bound.
 */
final class FlowTable {
    private FlowTable() {}

    private record Flow(Connection connection, String reason, long openedAtMillis) {}

    private static final ConcurrentLinkedQueue<Flow> FLOWS = new ConcurrentLinkedQueue<>();
    private static final int PRUNE_AT = 256;

    static void add(Connection c, String reason) {
        FLOWS.add(new Flow(c, reason, System.currentTimeMillis()));
        if (FLOWS.size() > PRUNE_AT) FLOWS.removeIf(f -> f.connection().state() == ConnectionState.CLOSED);
    }

    static List<NameService.FlowEntry> report() {
        long pid = ProcessHandle.current().pid();
        List<NameService.FlowEntry> out = new ArrayList<>();
        FLOWS.removeIf(f -> f.connection().state() == ConnectionState.CLOSED);
        for (Flow f : FLOWS) {
            Connection c = f.connection();
            out.add(new NameService.FlowEntry(pid, c.localName(), c.peerName(), c.transport(), f.reason(), c.epoch(),
                    c.bytesSent(), c.bytesReceived(), c.messagesSent(), c.messagesReceived(), f.openedAtMillis()));
        }
        return out;
    }
}
