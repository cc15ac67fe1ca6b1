package dev.fable.daemon;

import dev.fable.naming.NameService;
import dev.fable.naming.protocol.FlowEntry;
import dev.fable.naming.protocol.Message.FlowQuery;
import dev.fable.naming.protocol.Message.FlowReport;
import dev.fable.naming.protocol.Message.FlowsRequest;
import dev.fable.naming.protocol.Messages;
import dev.fable.naming.protocol.Wire;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.function.Predicate;

import static java.lang.System.Logger.Level.WARNING;

/**
 * Flow tables: the daemon holds no flows, it asks its clients (FLOW_QUERY) and collects their answers
 * (FLOW_REPORT), for {@code fable flows} ({@link #request}) or for a contention round ({@link #sample},
 * {@link SwitchOrders}). A table is done when every asked client answered or after
 * {@link #FLOW_QUERY_NANOS}, whatever came by then. A client's rows count only if they are its own (its
 * pid, both names, a transport); one that pushes a table past {@link #MAX_FLOW_ROWS} rows is closed.
 * The accepting end of a connection whose two ends are both in the table shows the connector's reason.
 *
 * <p>Loop thread only.
 */
final class FlowCollector {
    private static final System.Logger LOG = System.getLogger(FlowCollector.class.getName());

    static final long FLOW_QUERY_NANOS = TimeUnit.MILLISECONDS.toNanos(300);
    /** Flow rows one table may collect from all clients; a client that pushes it past this is a flood. */
    static final int MAX_FLOW_ROWS = 1 << 16;
    static final String ACCEPTED = NameService.ACCEPTED_REASON;

    /** Takes a contention round's table (on the loop thread). */
    interface Sampled {
        void take(FlowCollection c) throws IOException;
    }

    /** A table being collected: who asked, which clients still owe an answer. */
    static final class FlowCollection {
        final Session requester;   // null: the contention policy's own sample
        final Sampled sampled;     // the contention round's, with requester null
        final Set<Session> watching = new HashSet<>();   // contention sample: clients that reported a flow the policy watches
        final int requestId;
        final long deadlineNanos;
        final Set<Session> pending = new HashSet<>();
        final Set<Session> asked = new HashSet<>();   // every client asked
        final List<FlowEntry> flows = new ArrayList<>();

        FlowCollection(Session requester, Sampled sampled, int requestId, long deadlineNanos) {
            this.requester = requester;
            this.sampled = sampled;
            this.requestId = requestId;
            this.deadlineNanos = deadlineNanos;
        }
    }

    private final ClientSessions sessions;
    private final Map<Integer, FlowCollection> collections = new HashMap<>();

    FlowCollector(ClientSessions sessions) {
        this.sessions = sessions;
    }

    /** {@code fable flows}: asks every client; the table goes to {@code s} as FLOW_LIST. */
    void request(Session s, FlowsRequest f) throws IOException {
        int qid = sessions.nextQueryId();
        FlowCollection c = new FlowCollection(s, null, f.id(), System.nanoTime() + FLOW_QUERY_NANOS);
        collections.put(qid, c);
        ask(qid, c, x -> true);
        if (c.pending.isEmpty()) finish(qid);
    }

    /** A contention round: asks the clients {@code which} selects; {@code sampled} gets the table (not if none was asked). */
    void sample(long deadlineNanos, Predicate<Session> which, Sampled sampled) throws IOException {
        int qid = sessions.nextQueryId();
        FlowCollection c = new FlowCollection(null, sampled, 0, deadlineNanos);
        ask(qid, c, which);
        if (c.asked.isEmpty()) return;
        collections.put(qid, c);
        if (c.pending.isEmpty()) finish(qid);
    }

    private void ask(int qid, FlowCollection c, Predicate<Session> which) throws IOException {
        ByteBuffer query = Messages.encode(new FlowQuery(qid));
        for (Session other : sessions.all()) {
            if (!other.isOpenClient() || !which.test(other)) continue;
            c.pending.add(other);
            c.asked.add(other);
            sessions.send(other, List.of(query.duplicate()));
        }
        c.pending.removeIf(x -> x.closed);
    }

    void report(Session s, FlowReport f) throws IOException {
        FlowCollection c = collections.get(f.id());
        if (c == null || !c.pending.contains(s)) return;   // a late answer after the 300 ms: the table went out without it
        List<FlowEntry> rows = new ArrayList<>(f.entries().size());
        for (FlowEntry e : f.entries()) {   // a client reports its own connections only: the policy sends orders by these pids
            if (e.pid() == s.pid && e.localName() != null && e.peerName() != null && e.transport() != null) rows.add(e);
        }
        if (rows.size() < f.entries().size()) {
            LOG.log(WARNING, s + " reported " + (f.entries().size() - rows.size()) + " flow row(s) of another process or without names; dropped");
        }
        if (c.flows.size() + rows.size() > MAX_FLOW_ROWS) {
            sessions.reject(s, Wire.E_LIMIT, "reported more than " + MAX_FLOW_ROWS + " flow rows for one table");
            return;
        }
        c.flows.addAll(rows);
        if (c.requester == null && ContentionPolicy.watches(rows)) c.watching.add(s);
        if (f.last()) {
            c.pending.remove(s);
            if (c.pending.isEmpty()) finish(f.id());
        }
    }

    private void finish(int qid) throws IOException {
        FlowCollection c = collections.remove(qid);
        if (c == null) return;
        if (c.requester == null) {
            c.sampled.take(c);
            return;
        }
        if (!c.pending.isEmpty()) LOG.log(WARNING, "flow table sent without " + c.pending.size() + " client(s) that did not answer within 300 ms: " + c.pending);
        sessions.send(c.requester, Messages.encodeFlows(Wire.FLOW_LIST, c.requestId, withAcceptorReasons(c.flows)));
    }

    /** Sends the tables whose time is up. */
    void expire(long now) throws IOException {
        for (Map.Entry<Integer, FlowCollection> c : new ArrayList<>(collections.entrySet())) {
            if (now - c.getValue().deadlineNanos >= 0) finish(c.getKey());
        }
    }

    /** The earlier of {@code next} and the first table's deadline. */
    long wakeAt(long next) {
        for (FlowCollection c : collections.values()) next = Math.min(next, c.deadlineNanos);
        return next;
    }

    /** {@code s} closed: its own request is dropped; a table that waited only for it is done. */
    void forget(Session s) {
        for (Map.Entry<Integer, FlowCollection> c : new ArrayList<>(collections.entrySet())) {
            if (c.getValue().requester == s) {
                collections.remove(c.getKey());
            } else if (c.getValue().pending.remove(s) && c.getValue().pending.isEmpty()) {
                try {
                    finish(c.getKey());
                } catch (IOException e) {
                    sessions.close(c.getValue().requester, "connection error: " + e.getMessage());
                }
            }
        }
    }

    /**
     * Only the connecting side knows why its transport was chosen (it asked this daemon); the
     * accepting side reports "accepted". Give it the connector's reason when both ends are in the table.
     */
    static List<FlowEntry> withAcceptorReasons(List<FlowEntry> flows) {
        Map<String, String> reasonByEnds = new HashMap<>();
        for (var f : flows) {
            if (!ACCEPTED.equals(f.reason())) reasonByEnds.putIfAbsent(f.localName() + "\u0000" + f.peerName() + "\u0000" + f.transport(), f.reason());
        }
        List<FlowEntry> out = new ArrayList<>(flows.size());
        for (var f : flows) {
            String r = ACCEPTED.equals(f.reason()) ? reasonByEnds.get(f.peerName() + "\u0000" + f.localName() + "\u0000" + f.transport()) : null;
            out.add(r == null ? f : f.withReason(r + " (accepting side)"));
        }
        return out;
    }
}
