package dev.fable.cli;

import dev.fable.naming.DaemonNameService;
import dev.fable.naming.NameService;
import org.junit.jupiter.api.Test;

import java.io.BufferedReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.*;
import dev.fable.naming.protocol.FlowEntry;
import dev.fable.naming.protocol.ListenAddress;

/** {@code fable daemon}, {@code fable names} and {@code fable flows} as real processes against one daemon. */
class NamingCliTest {
    private static String run(Path dir, String... args) throws Exception {
        String[] full = new String[args.length + 0];
        System.arraycopy(args, 0, full, 0, args.length);
        ProcessBuilder pb = SendRecvTest.fable(full);
        pb.command().add(pb.command().indexOf("-cp"), "-Dfable.runtime.dir=" + dir);
        pb.command().add(pb.command().indexOf("-cp"), "-Dfable.daemon.autostart=false");
        Process p = pb.redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(p.waitFor(60, TimeUnit.SECONDS));
        assertEquals(0, p.exitValue(), out);
        return out;
    }

    @Test
    void namesAndFlowsShowWhatTheDaemonAndItsClientsHold() throws Exception {
        Path dir = Path.of("target", "nd", "cli" + Long.toString(System.nanoTime() % 1_000_000_000L, 36)).toAbsolutePath();
        Files.createDirectories(dir);
        ProcessBuilder pb = SendRecvTest.fable("daemon");
        pb.command().add(pb.command().indexOf("-cp"), "-Dfable.runtime.dir=" + dir);
        Process daemon = pb.redirectErrorStream(true).start();
        try {
            BufferedReader log = daemon.inputReader(StandardCharsets.UTF_8);
            String line;
            while ((line = log.readLine()) != null && !line.contains("serving")) {
                // skip start-up lines until the daemon serves
            }
            assertNotNull(line, "fable daemon exited before serving");
            Thread drain = Thread.ofVirtual().start(() -> {
                try {
                    log.transferTo(java.io.Writer.nullWriter());
                } catch (java.io.IOException ignored) {
                    // the daemon ended
                }
            });
            try (DaemonNameService ns = DaemonNameService.open(dir, false)) {
                NameService.Registration r = ns.register("cli-visible");
                r.listening(new ListenAddress("/run/cli-visible.sock", "127.0.0.1", 5555));
                long pid = ProcessHandle.current().pid();
                ns.flowSource(() -> List.of(new FlowEntry(pid, "cli-visible", "someone", "shm", "same host, trusted peer",
                        3, 1000, 2000, 10, 20, System.currentTimeMillis() - 1500)));

                String names = run(dir, "names");
                assertTrue(names.contains("NAME") && names.contains("cli-visible") && names.contains(String.valueOf(pid))
                        && names.contains("127.0.0.1:5555"), names);
                String namesJson = run(dir, "names", "--json");
                assertTrue(namesJson.contains("\"name\":\"cli-visible\"") && namesJson.contains("\"pid\":" + pid), namesJson);
                Map<String, Object> name = JsonTest.parse(namesJson).stream().filter(m -> "cli-visible".equals(m.get("name"))).findFirst().orElseThrow();
                assertEquals(List.of("name", "pid", "host", "unixPath", "tcpAddress"), List.copyOf(name.keySet()), namesJson);
                assertEquals(pid, name.get("pid"));
                assertEquals("/run/cli-visible.sock", name.get("unixPath"));
                assertEquals("127.0.0.1:5555", name.get("tcpAddress"));

                String flows = run(dir, "flows");
                assertTrue(flows.contains("TRANSPORT") && flows.contains("someone") && flows.contains("same host, trusted peer")
                        && flows.contains("1000 B") && flows.contains("10/20"), flows);
                String flowsJson = run(dir, "flows", "--json");
                assertTrue(flowsJson.contains("\"transport\":\"shm\"") && flowsJson.contains("\"epoch\":3")
                        && flowsJson.contains("\"bytesReceived\":2000"), flowsJson);
                Map<String, Object> flow = JsonTest.parse(flowsJson).stream().filter(m -> "someone".equals(m.get("peer"))).findFirst().orElseThrow();
                assertEquals(List.of("pid", "local", "peer", "transport", "reason", "epoch", "connectionId", "connector", "wait", "waitOverridden",
                        "sendCpu", "receiveCpu", "bytesSent", "bytesReceived", "messagesSent", "messagesReceived", "openedAtMillis", "ageMillis",
                        "fanout", "privacy", "dropped", "slotsHeld", "slots"),
                        List.copyOf(flow.keySet()), flowsJson);
                assertEquals(List.of(pid, "cli-visible", "shm", "same host, trusted peer", 3L, 1000L, 2000L, 10L, 20L),
                        List.of(flow.get("pid"), flow.get("local"), flow.get("transport"), flow.get("reason"), flow.get("epoch"),
                                flow.get("bytesSent"), flow.get("bytesReceived"), flow.get("messagesSent"), flow.get("messagesReceived")), flowsJson);
                assertNull(flow.get("wait"), "a row without connection details has no wait mode");
                assertNull(flow.get("fanout"), "a one-to-one connection is no subscription");
                assertFalse(flows.contains("FANOUT"), "no FANOUT column without a subscription: " + flows);
                assertTrue((Long) flow.get("ageMillis") >= 1500, flowsJson);
            }
            drain.interrupt();
        } finally {
            daemon.destroy();
            assertTrue(daemon.waitFor(30, TimeUnit.SECONDS));
        }
        assertFalse(Files.exists(dir.resolve("fabled.sock")), "a stopped daemon removes its socket");
    }
}
