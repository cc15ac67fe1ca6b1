package dev.fable;

import dev.fable.naming.NameService;

import java.lang.ref.WeakReference;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ConcurrentLinkedQueue;

/**
 * This process's live connections, as the daemon's flow table shows them ({@code fable flows}).
 * Entries hold their connection weakly and are dropped once it is closed or collected, on every add
 * and every report: the table must never keep a closed connection (and its buffers: a socket
 * connection's direct memory goes back only when the connection is collected) alive.
 */
final class FlowTable {
    private FlowTable() {}

    private record Flow(WeakReference<Connection> ref, String reason, long openedAtMillis) {
        boolean gone() {
            Connection c = ref.get();
            return c == null || c.state() == ConnectionState.CLOSED;
        }
    }

    private static final ConcurrentLinkedQueue<Flow> FLOWS = new ConcurrentLinkedQueue<>();

    static void add(Connection c, String reason) {
        FLOWS.removeIf(Flow::gone);   // O(live connections), once per connection made
        FLOWS.add(new Flow(new WeakReference<>(c), reason, System.currentTimeMillis()));
    }

    static List<NameService.FlowEntry> report() {
        long pid = ProcessHandle.current().pid();
        List<NameService.FlowEntry> out = new ArrayList<>();
        FLOWS.removeIf(Flow::gone);
        for (Flow f : FLOWS) {
            Connection c = f.ref().get();
            if (c == null) continue;
            out.add(new NameService.FlowEntry(pid, c.localName(), c.peerName(), c.transport(), f.reason(), c.epoch(),
                    c.bytesSent(), c.bytesReceived(), c.messagesSent(), c.messagesReceived(), f.openedAtMillis()));
        }
        return out;
    }
}
