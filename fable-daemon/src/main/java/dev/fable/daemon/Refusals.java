package dev.fable.daemon;

import dev.fable.naming.protocol.Message.Ok;
import dev.fable.naming.protocol.Message.RefusalList;
import dev.fable.naming.protocol.Message.RefusalsRequest;
import dev.fable.naming.protocol.Message.Refused;
import dev.fable.naming.protocol.RefusalEntry;
import dev.fable.naming.protocol.Wire;

import java.io.IOException;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The connections this host's endpoints refused at their doors, as their libraries report them
 * (REFUSED), for {@code fable flows --refused} (REFUSALS). A running total, and one row per endpoint
 * and source address for the latest {@link Wire#MAX_REFUSAL_ROWS} sources: a stranger knocking from
 * ever new addresses pushes out old rows, never grows the table. Event-loop thread only.
 */
final class Refusals {
    private record Key(String endpoint, String address) {}

    private static final class Row {
        long count;
        String lastReason;
        long lastAtMillis;
    }

    private final ClientSessions sessions;
    private final Map<Key, Row> rows = new LinkedHashMap<>(16, 0.75f, true) {   // access order: the least recent goes first
        @Override
        protected boolean removeEldestEntry(Map.Entry<Key, Row> eldest) {
            return size() > Wire.MAX_REFUSAL_ROWS;
        }
    };
    private long total;

    Refusals(ClientSessions sessions) {
        this.sessions = sessions;
    }

    /** REFUSED from a client: counted (a count below 1 or above a million is a bad client's, taken as 1). */
    void refused(Session s, Refused r) throws IOException {
        int n = r.count() < 1 || r.count() > 1_000_000 ? 1 : r.count();
        Row row = rows.computeIfAbsent(new Key(ascii(r.endpoint()), ascii(host(r.address()))), k -> new Row());
        row.count += n;
        row.lastReason = ascii(r.reason());
        row.lastAtMillis = System.currentTimeMillis();
        total += n;
        sessions.reply(s, new Ok(r.id()));
    }

    /** REFUSALS: the total and the rows, the most recent last. */
    void list(Session s, RefusalsRequest q) throws IOException {
        List<RefusalEntry> l = new ArrayList<>(rows.size());
        rows.forEach((k, v) -> l.add(new RefusalEntry(k.endpoint(), k.address(), v.count, v.lastReason, v.lastAtMillis)));
        sessions.reply(s, new RefusalList(q.id(), total, l));
    }

    /** {@code host:port} → host (each connection comes from a new port; the row is per source host). */
    private static String host(String address) {
        int colon = address.lastIndexOf(':');
        return colon > 0 && address.indexOf(':') == colon ? address.substring(0, colon) : address;
    }

    /** Printable ASCII only, at most 240 characters: the rows must fit one frame, and a terminal. */
    private static String ascii(String s) {
        StringBuilder b = new StringBuilder(Math.min(s.length(), 240));
        for (int i = 0; i < s.length() && b.length() < 240; i++) {
            char c = s.charAt(i);
            b.append(c >= 0x20 && c < 0x7F ? c : '?');
        }
        return b.toString();
    }
}
