package dev.fable.endpoint;

import dev.fable.flow.LiveConnection;
import dev.fable.transport.Leg;
import dev.fable.naming.NameService;

import java.lang.ref.WeakReference;
import java.util.ArrayList;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentLinkedQueue;
import dev.fable.Connection;
import dev.fable.ConnectionState;
import dev.fable.Subscriber;
import dev.fable.WaitMode;
import dev.fable.naming.protocol.FlowEntry;
import dev.fable.naming.protocol.SwitchOrder;

/**
 * This process's live connections, as the daemon's flow table shows them ({@code fable flows}).
 * Entries hold their connection weakly and are dropped once it is closed or collected, on every add
 * and every report: the table must never keep a closed connection (and its buffers: a socket
 * connection's direct memory goes back only when the connection is collected) alive.
 */
final class FlowTable {

    /** {@code connector}: this end made the connection (the accepting end of an endpoint is added as {@link NameService#ACCEPTED_REASON}). */
    private record Flow(WeakReference<Connection> ref, String reason, long openedAtMillis, boolean connector) {
        boolean gone() {
            Connection c = ref.get();
            return c == null || c.state() == ConnectionState.CLOSED;
        }
    }

    private final ConcurrentLinkedQueue<Flow> flows = new ConcurrentLinkedQueue<>();
    private final java.util.Set<LocalPublisher> publishers = java.util.concurrent.ConcurrentHashMap.newKeySet();   // open ones of this set-up

    /** A publisher of this set-up opened: its subscriptions' rows show their fan-out state until it closes. */
    void publishing(LocalPublisher p) {
        publishers.add(p);
    }

    void notPublishing(LocalPublisher p) {
        publishers.remove(p);
    }

    /**
     * How a subscriber's end of a subscription is added ({@code LocalEndpoint}: this, then the route's reason): the
     * flow table tells that end by it (a connection does not say it is a subscription).
     */
    static final String SUBSCRIPTION_REASON = "subscription: ";

    /** Closes every live connection (the JVM is exiting normally): each peer then sees a clean close after what was sent. */
    void closeAll() {
        for (Flow f : flows) {
            Connection c = f.ref().get();
            if (c == null) continue;
            try {
                c.close();
            } catch (RuntimeException e) {
                System.getLogger("dev.fable").log(System.Logger.Level.DEBUG, "closing " + c + " at exit: " + e);
            }
        }
    }

    void add(Connection c, String reason) {
        add(c, reason, !NameService.ACCEPTED_REASON.equals(reason));
    }

    /** As {@link #add(Connection, String)}, saying whether this end connected (an external listener's accepted peers did not). */
    void add(Connection c, String reason, boolean connector) {
        flows.removeIf(Flow::gone);   // O(live connections), once per connection made
        flows.add(new Flow(new WeakReference<>(c), reason, System.currentTimeMillis(), connector));
    }

    /**
     * The daemon's order to switch one of this process's connections: null when the new transport is
     * set up, else why not (no such connection, the accepting side, unreachable, ...).
     */
    String reconfigure(SwitchOrder o) {
        flows.removeIf(Flow::gone);
        String localName = o.localName();
        String reason = o.reason() == null || o.reason().isBlank() ? "fable reconfigure" : o.reason();
        WaitMode wait;
        try {
            wait = o.waitMode() == null || o.waitMode().equals("own") ? null : WaitMode.valueOf(o.waitMode().toUpperCase(java.util.Locale.ROOT));
        } catch (IllegalArgumentException e) {
            return "unknown wait mode '" + o.waitMode() + "'; use spin, block, adaptive or own";
        }
        String why = null;
        for (Flow f : flows) {   // an endpoint's name may be the local name of several connections: the first that can switch does
            Connection c = f.ref().get();
            if (c == null || !c.localName().equals(localName)) continue;
            if (o.connectionId() != 0 && !(c instanceof LiveConnection l && l.id() == o.connectionId())) continue;
            try {
                if (o.waitMode() == null) c.reconfigure(o.transport(), reason); else c.reconfigure(o.transport(), wait, reason);
                return null;
            } catch (UnsupportedOperationException e) {
                why = e.getMessage();
            } catch (RuntimeException e) {
                return e.getMessage();
            }
        }
        return why != null ? why
                : "this process has no open connection '" + localName + "' (pid " + ProcessHandle.current().pid() + "); 'fable flows' lists them";
    }

    /**
     * The daemon's transport policy changed, or endpoint {@code name} now lives elsewhere: every xio://
     * connection this process made (to {@code name}, or to anyone when it is null) asks again and follows.
     */
    void followPolicy(String what, String name) {
        flows.removeIf(Flow::gone);
        System.Logger log = System.getLogger("dev.fable");
        for (Flow f : flows) {
            if (!(f.ref().get() instanceof LiveConnection l) || (name != null && !name.equals(l.peerName()))) continue;
            try {
                String done = l.followPolicy(what);
                if (done != null) log.log(System.Logger.Level.INFO, "policy change (" + what + "): " + done);
            } catch (RuntimeException e) {
                log.log(System.Logger.Level.WARNING, "policy change (" + what + "): " + l + " stays as it is: " + e.getMessage());
            }
        }
    }

    /** e.g. {@code adaptive (block: peer on CPU 0)}, {@code spin fixed}: the mode, what an adaptive wait decided, whether it may change. */
    private static String waitDescription(Connection c, LiveConnection l) {
        String note = l == null ? "" : l.leg().waitNote();
        return c.waitMode().name().toLowerCase(java.util.Locale.ROOT) + (note.isEmpty() ? "" : " (" + note + ")")
                + (l != null && l.leg().options().fixedWaitMode() ? " fixed" : "");
    }

    List<FlowEntry> report() {
        long pid = ProcessHandle.current().pid();
        List<FlowEntry> out = new ArrayList<>();
        flows.removeIf(Flow::gone);
        Map<Connection, FlowEntry.Fanout> publishing = flows.isEmpty() ? Map.of() : publishing();
        for (Flow f : flows) {
            Connection c = f.ref().get();
            if (c == null) continue;
            LiveConnection l = c instanceof LiveConnection x ? x : null;
            String reason = l != null && l.switchReason() != null ? l.switchReason() : f.reason();
            LocalRelay relay = LocalRelay.of(c);
            if (relay != null) reason = relay.describe() + "; " + reason;
            FlowEntry.Fanout fanout = publishing.get(c);
            if (fanout == null && f.reason().startsWith(SUBSCRIPTION_REASON)) {
                fanout = new FlowEntry.Fanout(false, c.messagesDropped(), -1, -1, l == null ? "copy" : l.leg().privacy());
            }
            out.add(new FlowEntry(pid, c.localName(), c.peerName(), c.transport(), reason, c.epoch(),
                    c.bytesSent(), c.bytesReceived(), c.messagesSent(), c.messagesReceived(), f.openedAtMillis(),
                    // a publisher accepted its subscribers (its rows' reason is not ACCEPTED_REASON)
                    l == null ? 0 : l.id(), f.connector() && !(fanout != null && fanout.publisher()),
                    waitDescription(c, l),
                    l != null && l.waitOverridden(),
                    l == null ? -1 : l.sendCpu(), l == null ? -1 : l.recvCpu(), fanout));
        }
        return out;
    }

    /**
     * The publisher's end of every current subscription of this process: its subscriber's drops, privacy model, and
     * the fan-out slots it holds (read from the publishing thread's counters without a lock: a moment's value).
     */
    private Map<Connection, FlowEntry.Fanout> publishing() {
        Map<Connection, FlowEntry.Fanout> m = new IdentityHashMap<>();
        for (LocalPublisher p : publishers) {
            for (Subscriber s : p.subscribers()) {
                if (s instanceof LocalPublisher.Member member) {
                    Leg leg = member.connection.leg();
                    int held = leg.sharedHeld();
                    m.put(member.connection, new FlowEntry.Fanout(true, s.dropped(), held, held < 0 ? -1 : p.quota(), leg.privacy()));
                }
            }
        }
        return m;
    }
}
