package dev.fable.endpoint;

import dev.fable.transport.tls.DoorProof;

import java.nio.ByteBuffer;
import java.security.SecureRandom;
import java.util.ArrayDeque;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Door tickets ({@link DoorProof}): the ones an endpoint issued to connectors that passed its TCP
 * door ({@link Issued}, one table per endpoint), and the ones a set-up received for the doors it
 * connects to ({@link Held}, one table per set-up). Both are bounded by us, whatever peers do; both
 * are touched on connection set-up only, under their own lock.
 */
final class DoorTickets {
    private DoorTickets() {}

    private static final SecureRandom RANDOM = new SecureRandom();

    /** An endpoint's issued tickets: single-use, bound to the host key they were issued to, good for {@link DoorProof#TICKET_TTL_NANOS}. */
    static final class Issued {
        /** Tickets outstanding at once; beyond this the oldest goes (its holder then asks for a challenge once). */
        static final int MAX = 4096;

        private record Issue(String fingerprint, long expiresNanos) {}

        private final LinkedHashMap<ByteBuffer, Issue> tickets = new LinkedHashMap<>() {
            @Override
            protected boolean removeEldestEntry(Map.Entry<ByteBuffer, Issue> eldest) {
                return size() > MAX;
            }
        };

        /** A fresh ticket for the host of {@code fingerprint}. */
        synchronized byte[] issue(String fingerprint) {
            byte[] id = new byte[DoorProof.TICKET_BYTES];
            RANDOM.nextBytes(id);
            tickets.put(ByteBuffer.wrap(id), new Issue(fingerprint, System.nanoTime() + DoorProof.TICKET_TTL_NANOS));
            return id;
        }

        /** Forgets every ticket (as an endpoint's restart does). */
        synchronized void clear() {
            tickets.clear();
        }

        /** Takes ticket {@code id} out: the fingerprint it was issued to, or null if it is not held or has expired. */
        synchronized String redeem(byte[] id) {
            Issue e = tickets.remove(ByteBuffer.wrap(id));
            return e == null || System.nanoTime() - e.expiresNanos() > 0 ? null : e.fingerprint();
        }
    }

    /** What a connector holds for one TCP door (an endpoint's address): the door's host key and its tickets. */
    record Use(byte[] ticket, String fingerprint, byte[] certificate) {}

    /** A set-up's tickets for the doors it connects to, by address. */
    static final class Held {
        static final int MAX_DOORS = 256;
        static final int MAX_PER_DOOR = 8;
        /** A ticket is used only this long after it came, well inside the acceptor's {@link DoorProof#TICKET_TTL_NANOS}. */
        static final long USE_WITHIN_NANOS = DoorProof.TICKET_TTL_NANOS * 3 / 4;

        private record Ticket(byte[] id, long receivedNanos) {}

        private static final class Door {
            final String fingerprint;
            final byte[] certificate;
            final ArrayDeque<Ticket> tickets = new ArrayDeque<>();

            Door(String fingerprint, byte[] certificate) {
                this.fingerprint = fingerprint;
                this.certificate = certificate;
            }
        }

        private final LinkedHashMap<String, Door> doors = new LinkedHashMap<>(16, 0.75f, true) {
            @Override
            protected boolean removeEldestEntry(Map.Entry<String, Door> eldest) {
                return size() > MAX_DOORS;
            }
        };

        /** The door at {@code where} showed host key {@code fingerprint} ({@code certificate}) in a challenge. */
        synchronized void remember(String where, String fingerprint, byte[] certificate) {
            Door d = doors.get(where);
            if (d == null || !d.fingerprint.equalsIgnoreCase(fingerprint)) doors.put(where, new Door(fingerprint, certificate));
        }

        /** The door at {@code where} handed over {@code ticket}; kept if that door's host key is known here. */
        synchronized void add(String where, byte[] ticket) {
            Door d = doors.get(where);
            if (d == null) return;
            if (d.tickets.size() >= MAX_PER_DOOR) d.tickets.removeFirst();
            d.tickets.addLast(new Ticket(ticket, System.nanoTime()));
        }

        /**
         * A ticket for the door at {@code where}, taken out (single use), if one is held, fresh, and from
         * the host key {@code expectedFingerprint} the route names; else null (then: ask for a challenge).
         */
        synchronized Use take(String where, String expectedFingerprint) {
            Door d = doors.get(where);
            if (d == null) return null;
            if (!d.fingerprint.equalsIgnoreCase(expectedFingerprint)) {
                doors.remove(where);   // another host at that address now: its tickets are worthless
                return null;
            }
            long now = System.nanoTime();
            for (Ticket t; (t = d.tickets.pollFirst()) != null; ) {
                if (now - t.receivedNanos() < USE_WITHIN_NANOS) return new Use(t.id(), d.fingerprint, d.certificate);
            }
            return null;
        }

        /** The door at {@code where} refused a ticket: drop the rest of them. */
        synchronized void forget(String where) {
            Door d = doors.get(where);
            if (d != null) d.tickets.clear();
        }
    }
}
