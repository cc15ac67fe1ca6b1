package dev.fable.flow;

import dev.fable.transport.Leg;

/**
 * One leg in a connection's chain, with what the roles and the switcher record about it.
 * {@code next} is written once by the switcher that installs the next leg and read by the roles;
 * {@code outputDone} is written by whoever holds the sending role; the rest by the receiving role.
 */
final class Link {
    final Leg leg;
    /** Why the switch set this leg up (null for epoch 0): RECONFIGURED carries it. */
    final String why;
    /** The next epoch's link, once installed. Volatile: the roles follow it when they move. */
    volatile Link next;
    /** This leg's output carries the end-of-epoch marker. Volatile: the receiving role reads it to retire the leg. */
    volatile boolean outputDone;
    /** When the input left it (receiving role). */
    long retiredAt;
    /** Closed or handed to the closer; guarded by the switcher's leg list. */
    boolean closed;

    Link(Leg leg, String why) {
        this.leg = leg;
        this.why = why;
    }
}
