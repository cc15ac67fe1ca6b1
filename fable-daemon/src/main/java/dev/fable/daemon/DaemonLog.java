package dev.fable.daemon;

import java.time.LocalTime;
import java.time.format.DateTimeFormatter;

/** The daemon's log: one timestamped line per event on stderr (a log file when auto-started). */
final class DaemonLog {
    private static final DateTimeFormatter TIME = DateTimeFormatter.ofPattern("HH:mm:ss.SSS");

    private DaemonLog() {}

    static void info(String msg) {
        System.err.println(LocalTime.now().format(TIME) + " fabled: " + msg);
    }

    static void warn(String msg) {
        System.err.println(LocalTime.now().format(TIME) + " fabled WARNING: " + msg);
    }
}
