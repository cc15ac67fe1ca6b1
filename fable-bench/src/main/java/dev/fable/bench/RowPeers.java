package dev.fable.bench;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.OutputStreamWriter;
import java.io.Writer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * The orchestrator's handle on one row's two peer JVMs: the {@link Responder} (started here, or by
 * the driver for the pipe row) and the {@link Driver}, kept alive for the whole run so that the rows
 * of a cell can be measured one after another (a placement flip then hits every row alike) without
 * paying JVM start and JIT warm-up per cell. Idle peers block on their stdin and use no CPU.
 *
 * <p>A row that fails (a wrong message, a peer that died, a command that timed out) is dead for the
 * rest of the run: its later cells report the first failure.
 */
final class RowPeers implements AutoCloseable {
    final Row row;
    private final Path errDir;
    private final List<Process> procs = new ArrayList<>();
    private Process driver;
    private BufferedReader driverOut;
    private Writer driverIn;
    String failure;
    String transport = "";
    private volatile boolean closing;

    RowPeers(Row row, Path errDir) {
        this.row = row;
        this.errDir = errDir;
    }

    /** Starts both peers; afterwards {@link #failure} says why not, if they did not come up. */
    void start(String name, List<Integer> sizes, long timeoutMs) {
        try {
            String address = "-";
            int max = Responder.max(sizes);
            String csv = String.join(",", sizes.stream().map(String::valueOf).toList());
            if (!row.family().equals("pipe")) {
                Process resp = spawn(Responder.class, List.of(row.id(), name, csv), "responder");
                // A responder that dies on its own (it found a wrong message) ends the row at once: its
                // driver may be spinning on a link that cannot notice (Aeron IPC, whose media driver died too).
                resp.onExit().thenRun(() -> {
                    if (!closing) destroy();
                });
                BufferedReader out = new BufferedReader(new InputStreamReader(resp.getInputStream(), StandardCharsets.UTF_8));
                String ready = readLine(out, resp, timeoutMs);
                if (ready == null || !ready.startsWith("READY")) throw new BenchFailure("responder did not start" + stderrTail("responder"));
                if (ready.length() > 6) address = ready.substring(6).trim();
            }
            driver = spawn(Driver.class, List.of(row.id(), name, address, Integer.toString(max)), "driver");
            driverOut = new BufferedReader(new InputStreamReader(driver.getInputStream(), StandardCharsets.UTF_8));
            driverIn = new OutputStreamWriter(driver.getOutputStream(), StandardCharsets.UTF_8);
        } catch (IOException | RuntimeException e) {
            fail(e.getMessage());
        }
    }

    private Process spawn(Class<?> main, List<String> args, String role) throws IOException {
        Process p = new ProcessBuilder(PeerJvm.command(main, args)).redirectError(errDir.resolve(row.id() + "-" + role + ".err").toFile()).start();
        procs.add(p);
        return p;
    }

    /**
     * Runs one driver command and returns its {@code RESULT}/{@code OK} line, or null after marking
     * the row failed (the driver's ERROR, its death, or no answer within {@code timeoutMs}).
     */
    String command(String line, long timeoutMs) {
        if (failure != null) return null;
        try {
            driverIn.write(line + "\n");
            driverIn.flush();
            String r = readLine(driverOut, driver, timeoutMs);
            if (r == null) {
                boolean hung = driver.isAlive();
                fail(cause("the driver " + (hung ? "did not answer '" + line + "' within " + timeoutMs / 1000 + " s" : "died")));
                return null;
            }
            if (r.startsWith("ERROR")) {
                fail(cause(r.substring(5).trim()));
                return null;
            }
            int t = r.indexOf("transport=");
            if (t >= 0) transport = r.substring(t + 10).split(" ")[0];
            return r;
        } catch (IOException e) {
            fail(cause("the driver is gone (" + e.getMessage() + ")"));
            return null;
        }
    }

    /**
     * Reads the peer's next protocol line (READY, OK, RESULT, ERROR), killing the row's peers if none
     * comes within the timeout (then returns null). Other lines are skipped: an agent in
     * {@code FABLE_PEER_JAVA_OPTS} (a profiler) may print to the peer's stdout.
     */
    private String readLine(BufferedReader r, Process p, long timeoutMs) throws IOException {
        Thread watchdog = Thread.ofVirtual().start(() -> {
            try {
                Thread.sleep(timeoutMs);
                destroy();
            } catch (InterruptedException answered) {
                // in time
            }
        });
        try {
            String line;
            while ((line = r.readLine()) != null && !line.matches("^(READY|OK|RESULT|ERROR).*")) {
                // not ours
            }
            return line;
        } finally {
            watchdog.interrupt();
        }
    }

    /**
     * The failure as the user should read it: the responder's own error first if it has one (the
     * driver then only saw the link die), the driver's view after it. Gives the peers up to 2 s to
     * finish writing and exit (each exits by itself after an error).
     */
    private String cause(String driverSays) {
        for (Process p : procs) {
            try {
                p.waitFor(2, TimeUnit.SECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
        String resp = errorLine(row.family().equals("pipe") ? "driver" : "responder", "ERROR responder:");
        return resp != null ? resp + " (driver: " + driverSays + ")" : driverSays + stderrTail("driver");
    }

    /** The last line of a peer's stderr starting with {@code prefix}, without it; null if none. */
    private String errorLine(String role, String prefix) {
        try {
            Path f = errDir.resolve(row.id() + "-" + role + ".err");
            if (!Files.exists(f)) return null;
            return Files.readAllLines(f).stream().filter(l -> l.startsWith(prefix)).reduce((a, b) -> b)
                    .map(l -> l.substring(prefix.length()).trim()).orElse(null);
        } catch (IOException e) {
            return null;
        }
    }

    private void fail(String why) {
        if (failure == null) failure = String.valueOf(why).strip().replaceAll("\\s+", " ");
        destroy();
    }

    /** The last stderr line of a peer that starts with ERROR (or its last line), for failure messages. */
    String stderrTail(String role) {
        try {
            Path f = errDir.resolve(row.id() + "-" + role + ".err");
            if (!Files.exists(f)) return "";
            List<String> lines = Files.readAllLines(f).stream().filter(l -> !l.isBlank()).toList();
            if (lines.isEmpty()) return "";
            String pick = lines.stream().filter(l -> l.startsWith("ERROR")).reduce((a, b) -> b).orElse(lines.getLast());
            return " [" + role + ": " + pick.strip() + "]";
        } catch (IOException e) {
            return "";
        }
    }

    /** Process ids of the peers and their children (the pipe row's responder), for CPU accounting and cleanup. */
    List<ProcessHandle> handles() {
        List<ProcessHandle> all = new ArrayList<>();
        for (Process p : procs) {
            all.add(p.toHandle());
            p.descendants().forEach(all::add);
        }
        return all;
    }

    void destroy() {
        for (Process p : procs) {
            p.descendants().forEach(ProcessHandle::destroy);
            p.destroy();
        }
    }

    /** Asks the driver to quit, closes the responder's stdin, and waits; kills what is still there after 5 s. */
    @Override
    public void close() {
        closing = true;
        if (driverIn != null && failure == null) {
            try {
                driverIn.write("QUIT\n");
                driverIn.flush();
            } catch (IOException ignored) {
                // already gone
            }
        }
        for (Process p : procs) {
            try {
                p.getOutputStream().close();
            } catch (IOException ignored) {
                // already gone
            }
        }
        for (Process p : procs) {
            try {
                if (!p.waitFor(5, TimeUnit.SECONDS)) {
                    p.descendants().forEach(ProcessHandle::destroyForcibly);
                    p.destroyForcibly().waitFor(5, TimeUnit.SECONDS);
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                p.destroyForcibly();
            }
        }
    }
}
