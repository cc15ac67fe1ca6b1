package dev.fable.daemon;

import dev.fable.naming.protocol.NameEntry;
import dev.fable.naming.protocol.Message.Resolve;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * The names this daemon holds and the resolves waiting for a name to listen. Used by the daemon's
 * event-loop thread only.
 */
final class Registry {
    /** A registered name; the addresses are set by LISTENING. */
    static final class Entry {
        final String name;
        final Session owner;
        String unixPath;
        String tcpHost;
        int tcpPort;
        boolean listening;

        Entry(String name, Session owner) {
            this.name = name;
            this.owner = owner;
        }
    }

    /** A resolve waiting for its name; answered once, by a LISTENING, the cluster or its deadline. */
    static final class Waiter {
        final Session session;
        final Resolve request;
        final long deadlineNanos;
        long nextLookupNanos;
        boolean lookupInFlight;
        boolean answered;
        String lookupFailure;   // why the last lookup beyond this host failed (the cluster unreachable), or null

        Waiter(Session session, Resolve request, long deadlineNanos) {
            this.session = session;
            this.request = request;
            this.deadlineNanos = deadlineNanos;
        }
    }

    private final Map<String, Entry> entries = new HashMap<>();
    private final Map<String, List<Waiter>> waiting = new HashMap<>();
    private final List<Waiter> allWaiters = new ArrayList<>();

    Entry get(String name) {
        return entries.get(name);
    }

    void put(Entry e) {
        entries.put(e.name, e);
    }

    Entry remove(String name) {
        return entries.remove(name);
    }

    int size() {
        return entries.size();
    }

    List<NameEntry> list(String hostId) {
        List<NameEntry> l = new ArrayList<>(entries.size());
        for (Entry e : entries.values()) {
            l.add(new NameEntry(e.name, e.owner.pid, hostId, e.unixPath, e.tcpPort > 0 ? e.tcpHost + ":" + e.tcpPort : null));
        }
        l.sort((a, b) -> a.name().compareTo(b.name()));
        return l;
    }

    void addWaiter(Waiter w) {
        waiting.computeIfAbsent(w.request.name(), k -> new ArrayList<>()).add(w);
        allWaiters.add(w);
        w.session.waiting++;
    }

    /** Removes and returns the waiters for {@code name}. */
    List<Waiter> takeWaiters(String name) {
        List<Waiter> l = waiting.remove(name);
        if (l == null) return List.of();
        allWaiters.removeAll(l);
        for (Waiter w : l) w.session.waiting--;
        return l;
    }

    void removeWaiter(Waiter w) {
        if (!allWaiters.remove(w)) return;
        w.session.waiting--;
        List<Waiter> l = waiting.get(w.request.name());
        if (l != null) {
            l.remove(w);
            if (l.isEmpty()) waiting.remove(w.request.name());
        }
    }

    /** A snapshot, for deadline checks. */
    List<Waiter> waiters() {
        return new ArrayList<>(allWaiters);
    }

    int waiterCount() {
        return allWaiters.size();
    }
}
