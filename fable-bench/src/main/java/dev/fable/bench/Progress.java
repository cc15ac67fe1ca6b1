package dev.fable.bench;

import java.util.Locale;

/**
 * The progress line on stderr: what runs now, how much is done, and an estimate of what is left.
 * On a terminal it rewrites one line; otherwise (a log, CI) it prints one line per round.
 */
final class Progress {
    private final boolean tty = System.console() != null;
    private int total, done;
    private long t0;
    private String last = "";

    void start(int steps) {
        total = Math.max(1, steps);
        done = 0;
        t0 = System.nanoTime();
    }

    /** A new measurement starts. */
    void step(String what) {
        done = Math.min(total, done + 1);
        status(what);
    }

    /** What runs now, without counting a step. */
    void status(String what) {
        last = what;
        if (tty) {
            String line = String.format(Locale.ROOT, "[%4d/%d %3d%%] %-60s %s", done, total, 100 * done / total, what, eta());
            System.err.print("\r" + line + " ".repeat(Math.max(0, 110 - line.length())));
            System.err.flush();
        }
    }

    /** A round ended: on a log, one line saying which and the machine's state during it. */
    void round(String summary) {
        if (!tty) System.err.printf(Locale.ROOT, "[%4d/%d] %s  %s%n", done, total, summary, eta());
    }

    private String eta() {
        if (done == 0) return "";
        long left = (long) ((System.nanoTime() - t0) / 1e9 * (total - done) / done);
        return String.format(Locale.ROOT, "~%dm%02ds left", left / 60, left % 60);
    }

    void end() {
        if (tty) System.err.print("\r" + " ".repeat(120) + "\r");
        long s = (System.nanoTime() - t0) / 1_000_000_000L;
        System.err.printf(Locale.ROOT, "measured %d steps in %dm%02ds%n", done, s / 60, s % 60);
    }

    void interrupted() {
        System.err.println((tty ? "\n" : "") + "fable bench: interrupted during: " + last);
    }
}
