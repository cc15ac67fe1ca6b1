package dev.fable.daemon;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.time.ZoneId;
import java.time.format.DateTimeFormatter;
import java.util.logging.ConsoleHandler;
import java.util.logging.Formatter;
import java.util.logging.Level;
import java.util.logging.LogRecord;
import java.util.logging.Logger;

/**
 * The daemon's log: its classes log through {@link System.Logger} ({@code System.getLogger(TheirClass.class.getName())},
 * children of the logger {@value #NAME}), whose default backend is {@code java.util.logging}. {@link #install()}
 * gives {@value #NAME} a handler to stderr that writes every line as
 * <pre>2025-06-01T12:34:56.789+02:00 INFO fabled: serving /run/user/1000/fable/fabled.sock …</pre>
 * (ISO-8601 time with offset, level, text; each line of a multi-line record gets the same head), and keeps
 * the records from also reaching the root logger's handler. Stderr is the terminal of {@code fable daemon}
 * and {@code <runtime dir>/fabled.log} for an auto-started daemon ({@code DaemonLauncher}). JDK only.
 *
 * <p>Any thread: {@link #install()} is synchronized and idempotent; the handler is thread-safe.
 */
final class DaemonLogging {
    static final String NAME = "dev.fable.daemon";

    private static final DateTimeFormatter TIME = DateTimeFormatter.ofPattern("yyyy-MM-dd'T'HH:mm:ss.SSSXXX");
    /** Held so the configured logger stays: the LogManager keeps loggers weakly, and a collected one loses its handler. */
    private static Logger installed;

    private DaemonLogging() {}

    /** Sends the records of {@value #NAME} and its children to stderr in the daemon's line format; once per JVM. */
    static synchronized void install() {
        if (installed != null) return;
        Logger daemon = Logger.getLogger(NAME);
        ConsoleHandler stderr = new ConsoleHandler();
        stderr.setFormatter(new LineFormat());
        stderr.setLevel(Level.ALL);
        daemon.addHandler(stderr);
        daemon.setUseParentHandlers(false);
        installed = daemon;
    }

    /** One line per line of text: time, level, {@code fabled:}, text. */
    static final class LineFormat extends Formatter {
        @Override
        public String format(LogRecord r) {
            String head = TIME.format(r.getInstant().atZone(ZoneId.systemDefault())) + " " + r.getLevel().getName() + " fabled: ";
            String text = formatMessage(r);
            if (r.getThrown() != null) {
                StringWriter trace = new StringWriter();
                r.getThrown().printStackTrace(new PrintWriter(trace));
                text = text + System.lineSeparator() + trace;
            }
            StringBuilder out = new StringBuilder();
            for (String line : text.split("\\R")) out.append(head).append(line).append(System.lineSeparator());
            return out.toString();
        }
    }
}
