package dev.fable.bench;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * The two JVMs of a measurement that is not a row ({@link HandLoop}, {@link SwitchBench}): the
 * first starts and prints {@code READY}, then the second starts. Both go into {@code owned} (what
 * Ctrl-C stops); a watchdog kills both when {@code timeoutMs} passes. {@link #close()} closes the
 * second's stdin (its cue to exit), waits up to 10 s for each, then kills what is left.
 */
final class PeerPair implements AutoCloseable {
    final Process first;
    final Process second;
    final BufferedReader firstOut;
    final BufferedReader secondOut;
    private final Thread watchdog;

    private PeerPair(Process first, BufferedReader firstOut, Process second, long timeoutMs) {
        this.first = first;
        this.second = second;
        this.firstOut = firstOut;   // the reader that took READY: it may hold what followed
        this.secondOut = reader(second);
        this.watchdog = Thread.ofVirtual().start(() -> {
            try {
                Thread.sleep(timeoutMs);
                first.destroyForcibly();
                second.destroyForcibly();
            } catch (InterruptedException done) {
                // closed in time
            }
        });
    }

    /** Starts both, or throws {@link BenchFailure} (with the first's answer) after stopping what started. */
    static PeerPair start(List<String> firstCommand, List<String> secondCommand, ProcessBuilder.Redirect firstErr,
                          ProcessBuilder.Redirect secondErr, List<Process> owned, long timeoutMs) throws IOException {
        Process first = new ProcessBuilder(firstCommand).redirectError(firstErr).start();
        owned.add(first);
        BufferedReader out = reader(first);
        String ready;
        try {
            ready = readLineWithin(out, first, timeoutMs);
        } catch (IOException e) {
            ready = null;
        }
        if (!"READY".equals(ready)) {
            first.destroyForcibly();
            throw new BenchFailure("a peer did not start (it said " + ready + ")");
        }
        Process second = new ProcessBuilder(secondCommand).redirectError(secondErr).start();
        owned.add(second);
        return new PeerPair(first, out, second, timeoutMs);
    }

    private static BufferedReader reader(Process p) {
        return new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8));
    }

    private static String readLineWithin(BufferedReader r, Process p, long timeoutMs) throws IOException {
        Thread guard = Thread.ofVirtual().start(() -> {
            try {
                Thread.sleep(timeoutMs);
                p.destroyForcibly();   // ends the read below with null
            } catch (InterruptedException answered) {
                // in time
            }
        });
        try {
            return r.readLine();
        } finally {
            guard.interrupt();
        }
    }

    @Override
    public void close() {
        watchdog.interrupt();
        try {
            second.getOutputStream().close();
        } catch (IOException gone) {
            // it exited already
        }
        for (Process p : List.of(second, first)) {
            try {
                if (!p.waitFor(10, TimeUnit.SECONDS)) p.destroyForcibly();
            } catch (InterruptedException e) {
                p.destroyForcibly();
                Thread.currentThread().interrupt();
            }
        }
    }
}
