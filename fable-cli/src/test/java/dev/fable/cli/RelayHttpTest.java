package dev.fable.cli;

import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.util.HexFormat;
import java.util.List;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.*;

/**
 * A real HTTP server and real HTTP clients that know nothing of Fable, through two {@code fable relay} processes:
 * curl and ab → {@code fable relay tcp://127.0.0.1:0 xio://WEB} → shm → {@code fable relay WEB tcp://127.0.0.1:PORT}
 * → {@code python3 -m http.server}. Every port is picked by the kernel and read back from the process that bound it.
 */
class RelayHttpTest {
    private static final long LIMIT_NANOS = TimeUnit.SECONDS.toNanos(60);

    @TempDir
    Path dir;

    /** {@code tool} on the PATH, installed from {@code pkg} when running as root (CI), else the test is skipped. */
    private static void need(String tool, String pkg) throws Exception {
        if (onPath(tool)) return;
        boolean root = "0".equals(new String(new ProcessBuilder("id", "-u").start().getInputStream().readAllBytes()).trim());
        Assumptions.assumeTrue(root, tool + " is not installed and this is not root: install it (apt-get install " + pkg + ") to run this test");
        Process p = new ProcessBuilder("sh", "-c", "apt-get install -y -qq " + pkg + " || (apt-get update -qq && apt-get install -y -qq " + pkg + ")")
                .redirectErrorStream(true).redirectOutput(ProcessBuilder.Redirect.DISCARD).start();
        p.waitFor(300, TimeUnit.SECONDS);
        Assumptions.assumeTrue(onPath(tool), tool + " is not installed and 'apt-get install " + pkg + "' did not install it");
    }

    private static boolean onPath(String tool) throws Exception {
        return new ProcessBuilder("sh", "-c", "command -v " + tool).start().waitFor() == 0;
    }

    /** Reads {@code file} until {@code pattern} matches in it (the process wrote it), failing if {@code p} dies first. */
    private static Matcher await(Process p, Path file, Pattern pattern) throws Exception {
        long deadline = System.nanoTime() + LIMIT_NANOS;
        while (true) {
            String s = Files.exists(file) ? Files.readString(file) : "";
            Matcher m = pattern.matcher(s);
            if (m.find()) return m;
            assertTrue(p.isAlive(), "process ended (exit " + (p.isAlive() ? "-" : p.exitValue()) + ") before printing " + pattern + ": " + s);
            assertTrue(System.nanoTime() < deadline, "no " + pattern + " within 60 s: " + s);
            Thread.onSpinWait();
        }
    }

    private static String sha256(Path f) throws Exception {
        MessageDigest md = MessageDigest.getInstance("SHA-256");
        try (var in = Files.newInputStream(f)) {
            byte[] b = new byte[1 << 16];
            for (int n; (n = in.read(b)) > 0; ) md.update(b, 0, n);
        }
        return HexFormat.of().formatHex(md.digest());
    }

    private static String run(List<String> cmd, Path out) throws Exception {
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(out.toFile()).start();
        assertTrue(p.waitFor(300, TimeUnit.SECONDS), cmd + " did not finish");
        String text = Files.readString(out);
        assertEquals(0, p.exitValue(), cmd + ": " + text);
        return text;
    }

    @Test
    void curlAndAbThroughTwoRelaysToPythonsHttpServer() throws Exception {
        need("python3", "python3");
        need("curl", "curl");
        need("ab", "apache2-utils");
        Path www = Files.createDirectories(dir.resolve("www"));
        byte[] big = new byte[16 << 20];
        new Random(19).nextBytes(big);
        Files.write(www.resolve("big.bin"), big);
        byte[] small = new byte[64 << 10];
        new Random(20).nextBytes(small);
        Files.write(www.resolve("small.bin"), small);
        String want = sha256(www.resolve("big.bin"));

        Path pyLog = dir.resolve("py.log"), r1Log = dir.resolve("r1.log"), r2Log = dir.resolve("r2.log");
        Process py = new ProcessBuilder("python3", "-u", "-m", "http.server", "0", "--bind", "127.0.0.1", "--directory", www.toString())
                .redirectErrorStream(true).redirectOutput(pyLog.toFile()).start();
        Process r1 = null, r2 = null;
        try {
            int webPort = Integer.parseInt(await(py, pyLog, Pattern.compile("port (\\d+)")).group(1));
            String name = SendRecvTest.name();
            r1 = SendRecvTest.fable("relay", name, "tcp://127.0.0.1:" + webPort, "--verbose").redirectErrorStream(true).redirectOutput(r1Log.toFile()).start();
            await(r1, r1Log, Pattern.compile("listening at"));
            r2 = SendRecvTest.fable("relay", "tcp://127.0.0.1:0", "xio://" + name).redirectErrorStream(true).redirectOutput(r2Log.toFile()).start();
            int port = Integer.parseInt(await(r2, r2Log, Pattern.compile("\\(port (\\d+)\\)")).group(1));

            // 100 downloads of 16 MiB, one after the other, each byte for byte
            Path got = dir.resolve("got.bin");
            for (int i = 0; i < 100; i++) {
                Files.deleteIfExists(got);
                run(List.of("curl", "-sS", "-f", "-o", got.toString(), "http://127.0.0.1:" + port + "/big.bin"), dir.resolve("curl.log"));
                assertEquals(big.length, Files.size(got), "download " + i);
                assertEquals(want, sha256(got), "download " + i + " differs");
            }

            // 1,000 requests, 32 at a time (of a 64 KiB file: 16 GiB of the big one would take minutes on a small machine)
            String ab = run(List.of("ab", "-q", "-n", "1000", "-c", "32", "http://127.0.0.1:" + port + "/small.bin"), dir.resolve("ab.log"));
            assertTrue(Pattern.compile("Complete requests:\\s+1000\\b").matcher(ab).find(), ab);
            assertTrue(Pattern.compile("Failed requests:\\s+0\\b").matcher(ab).find(), ab);
            assertFalse(ab.contains("Non-2xx"), ab);
            assertTrue(Pattern.compile("Total transferred:\\s+(\\d+)").matcher(ab).results()
                    .allMatch(m -> Long.parseLong(m.group(1)) >= 1000L * small.length), ab);

            // a client that connected and has not finished its request: 'fable flows' lists the plain peer the relay
            // accepted, with the relay beside each end (a held-open socket, not a slow download: that one's timing
            // depended on the machine's load)
            try (java.net.Socket held = new java.net.Socket("127.0.0.1", port)) {
                held.getOutputStream().write("GET /small.bin HTTP/1.0\r\n".getBytes(java.nio.charset.StandardCharsets.US_ASCII));
                held.getOutputStream().flush();
                long deadline = System.nanoTime() + LIMIT_NANOS;
                String flows;
                Pattern acceptedRow = Pattern.compile("\\{[^}]*\"local\":\"tcp://127\\.0\\.0\\.1:" + port + "\"[^}]*\"transport\":\"tcp-raw\",\"reason\":\"relay [^\"]*\\(tcp-raw <-> shm\\)");
                while (true) {
                    Process f = SendRecvTest.fable("flows", "--json").redirectErrorStream(true).start();
                    flows = new String(f.getInputStream().readAllBytes());
                    assertEquals(0, SendRecvTest.exit(f), flows);
                    if (acceptedRow.matcher(flows).find()) break;
                    assertTrue(System.nanoTime() < deadline, "fable flows never listed the accepted tcp-raw peer with its relay: " + flows);
                }
                held.getOutputStream().write("\r\n".getBytes(java.nio.charset.StandardCharsets.US_ASCII));   // the request's end
                held.getOutputStream().flush();
                byte[] reply = held.getInputStream().readAllBytes();   // HTTP/1.0: the server closes after its reply
                assertTrue(reply.length >= small.length, "the held request's reply: " + reply.length + " B");
            }

            // stdin's end stops each relay cleanly, with its counters: 1,101 connections, none failed
            for (Process r : new Process[] {r2, r1}) {
                r.getOutputStream().close();
                assertTrue(r.waitFor(60, TimeUnit.SECONDS), "relay did not stop when its stdin closed");
            }
            String s1 = Files.readString(r1Log), s2 = Files.readString(r2Log);
            assertEquals(0, r2.exitValue(), s2);
            assertEquals(0, r1.exitValue(), s1);
            // 1,101 at least: ab once opened one connection beyond its -n under a loaded clean-clone run (the relay saw
            // 1,102, none failed); each one that reaches the front relay is spliced to one of its own to the back relay
            Pattern stopped = Pattern.compile("stopped after (\\d+) connection\\(s\\), 0 failed");
            Matcher m2 = stopped.matcher(s2), m1 = stopped.matcher(s1);
            assertTrue(m2.find(), s2);
            assertTrue(m1.find(), s1);
            assertTrue(Integer.parseInt(m2.group(1)) >= 1101, s2);
            assertEquals(m2.group(1), m1.group(1), "every connection the front relay took reached the back relay: " + s2 + "\n" + s1);
            assertTrue(s1.contains(" <-> 127.0.0.1:" + webPort + " (tcp-raw)"), "--verbose names each connection: " + s1);
            Matcher out = Pattern.compile("B in, (\\d+) B out").matcher(s2);
            assertTrue(out.find(), s2);
            assertTrue(Long.parseLong(out.group(1)) >= 100L * big.length + 1001L * small.length, "bytes back to the clients: " + s2);
        } finally {
            for (Process p : new Process[] {r2, r1, py}) {
                if (p != null) p.destroyForcibly().waitFor();
            }
        }
    }

    @Test
    void badArgumentsAndAnUnusableFromGiveTheUsualExitCodes() throws Exception {
        Path log = dir.resolve("log");
        Process p = SendRecvTest.fable("relay", "udp://x", "y").redirectErrorStream(true).redirectOutput(log.toFile()).start();
        assertEquals(FableCli.USAGE, SendRecvTest.exit(p), Files.readString(log));
        try (var s = new java.net.ServerSocket(0, 1, java.net.InetAddress.getLoopbackAddress())) {
            p = SendRecvTest.fable("relay", "tcp://127.0.0.1:" + s.getLocalPort(), "y").redirectErrorStream(true).redirectOutput(log.toFile()).start();
            assertEquals(FableCli.SETUP, SendRecvTest.exit(p), Files.readString(log));
            assertTrue(Files.readString(log).contains("cannot listen on tcp://127.0.0.1:" + s.getLocalPort()), Files.readString(log));
        }
    }
}
