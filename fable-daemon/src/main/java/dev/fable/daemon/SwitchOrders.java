package dev.fable.daemon;

import dev.fable.naming.protocol.Message;
import dev.fable.naming.protocol.Message.Fail;
import dev.fable.naming.protocol.Message.Ok;
import dev.fable.naming.protocol.Message.Reconfigure;
import dev.fable.naming.protocol.Messages;
import dev.fable.naming.protocol.Wire;

import java.io.IOException;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.function.IntFunction;

import static java.lang.System.Logger.Level.INFO;
import static java.lang.System.Logger.Level.WARNING;

/**
 * Orders to switch one live connection (RECONFIGURE), sent to the client process that holds it: the data
 * path never touches the daemon, the process switches its own connection and answers OK or FAIL. Orders
 * come from an operator ({@code fable reconfigure}: forwarded, and the answer relayed back) and from the
 * contention policy ({@link ContentionPolicy}), whose rounds run here: every period the clients that
 * reported a connection it watches, and every {@link #CONTENTION_DISCOVERY_ROUNDS}th round all clients,
 * are asked for their flows ({@link FlowCollector#sample}), and the switches it decides on are ordered.
 * Every order and its outcome are logged.
 *
 * <p>Loop thread only; so is the {@link ContentionPolicy} it owns.
 */
final class SwitchOrders {
    private static final System.Logger LOG = System.getLogger(SwitchOrders.class.getName());

    /** Every this many contention rounds every client is asked (to find new spinning connections), else only the watched ones. */
    private static final int CONTENTION_DISCOVERY_ROUNDS = 10;

    /** A switch order on its way to the process that holds the connection; {@code requester} null: the contention policy's. */
    private record Order(Session requester, int requestId, Session target, String what, long contentionId) {}

    private final ClientSessions sessions;
    private final FlowCollector flows;
    private final ContentionPolicy contention;
    private final Map<Integer, Order> orders = new HashMap<>();
    private long nextContentionNanos = System.nanoTime();
    private long contentionRounds;

    SwitchOrders(ClientSessions sessions, FlowCollector flows, ContentionPolicy contention) {
        this.sessions = sessions;
        this.flows = flows;
        this.contention = contention;
    }

    /** {@code fable reconfigure}: forwards the order to the client process with that pid and relays its answer. */
    void reconfigure(Session s, Reconfigure r) throws IOException {
        Session target = null;
        for (Session o : sessions.all()) {
            if (o.isOpenClient() && o.pid == r.pid()) {
                target = o;
                break;
            }
        }
        if (target == null) {
            sessions.reply(s, new Fail(r.id(), Wire.E_NOT_FOUND, "no process with pid " + r.pid() + " uses this host's name daemon; "
                    + "'fable flows' lists the connections"));
            return;
        }
        String what = "pid " + r.pid() + " connection '" + r.localName() + "' -> " + r.transport()
                + (r.reason() == null || r.reason().isBlank() ? "" : " (" + r.reason() + ")");
        send(new Order(s, r.id(), target, what, 0), "reconfigure " + what + ", asked by " + s,
                qid -> new Reconfigure(qid, r.pid(), r.localName(), r.transport(), r.reason(), r.connectionId(), r.waitMode()));
    }

    private void send(Order o, String logLine, IntFunction<Message> order) throws IOException {
        int qid = sessions.nextQueryId();
        orders.put(qid, o);
        LOG.log(INFO, logLine);
        sessions.send(o.target(), List.of(Messages.encode(order.apply(qid))));
    }

    /** Is {@code id} an order this daemon waits for an answer to (an OK or FAIL from its target). */
    boolean awaits(int id) {
        return orders.containsKey(id);
    }

    /** The target's answer: {@code failure} null for OK. */
    void answered(Session s, int qid, String failure) throws IOException {
        Order o = orders.get(qid);
        if (o == null || o.target() != s) return;
        orders.remove(qid);
        if (failure == null) LOG.log(INFO, "reconfigured " + o.what()); else LOG.log(WARNING, "reconfigure " + o.what() + " failed: " + failure);
        if (o.requester() == null) {
            contention.answered(o.contentionId());
            return;
        }
        if (!o.requester().closed) sessions.reply(o.requester(), failure == null ? new Ok(o.requestId()) : new Fail(o.requestId(), Wire.E_POLICY, failure));
    }

    /** Starts a contention round if one is due (the policy is on and someone is connected). */
    void contentionRound(long now) throws IOException {
        ContentionPolicy.Settings cs = contention.settings();
        if (!cs.enabled() || now - nextContentionNanos < 0 || sessions.isEmpty()) return;
        nextContentionNanos = now + cs.periodNanos();
        boolean discover = contentionRounds++ % CONTENTION_DISCOVERY_ROUNDS == 0;
        flows.sample(now + Math.min(FlowCollector.FLOW_QUERY_NANOS, cs.periodNanos()), s -> discover || s.contentionWatched, this::contentionSample);
    }

    /** The earlier of {@code next} and the next contention round. */
    long wakeAt(long next) {
        return contention.settings().enabled() && !sessions.isEmpty() ? Math.min(next, nextContentionNanos) : next;
    }

    /** The answers of a contention round: which clients to watch, and the switches the policy orders. */
    private void contentionSample(FlowCollector.FlowCollection c) throws IOException {
        for (Session s : c.asked) s.contentionWatched = c.watching.contains(s);
        for (ContentionPolicy.Order o : contention.observe(c.flows)) {
            Session target = null;
            for (Session x : c.asked) if (x.pid == o.pid() && !x.closed) target = x;
            if (target == null) {
                contention.answered(o.connectionId());
                continue;
            }
            String what = "pid " + o.pid() + " connection '" + o.localName() + "' -> shm with " + o.waitMode() + " waits (" + o.reason() + ")";
            send(new Order(null, 0, target, what, o.connectionId()), "policy: reconfigure " + what,
                    qid -> new Reconfigure(qid, o.pid(), o.localName(), "shm", o.reason(), o.connectionId(), o.waitMode()));
        }
    }

    /** {@code s} closed: its orders go; an operator whose target went is told, the policy is told of its own. */
    void forget(Session s, String reason) {
        for (Map.Entry<Integer, Order> o : new ArrayList<>(orders.entrySet())) {
            if (o.getValue().target() != s && o.getValue().requester() != s) continue;
            orders.remove(o.getKey());
            if (o.getValue().requester() == null) {
                contention.answered(o.getValue().contentionId());
            } else if (o.getValue().target() == s && !o.getValue().requester().closed) {
                try {
                    sessions.reply(o.getValue().requester(), new Fail(o.getValue().requestId(), Wire.E_NOT_FOUND,
                            "the process went away before it answered (" + reason + ")"));
                } catch (IOException ignored) {
                    // the requester is going too
                }
            }
        }
    }
}
