package dev.fable.cli;

import org.junit.jupiter.api.Test;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.*;

/**
 * {@code fable trust} as real processes against a daemon of its own (auto-started in a private
 * runtime directory): adding and removing a network succeeds, and removing a network that is not
 * trusted is an error, one line on stderr that names it, exit code 2, and nothing said on stdout.
 */
class TrustCliTest {
    /** TEST-NET-2 (RFC 5737): never a real network, so trusting it for a moment changes no route. */
    private static final String NETWORK = "198.51.100.0/24";

    private record Result(int exit, String out, String err) {}

    private static Result trust(Path runtimeDir, String... args) throws Exception {
        String[] all = new String[args.length + 1];
        all[0] = "trust";
        System.arraycopy(args, 0, all, 1, args.length);
        ProcessBuilder pb = SendRecvTest.fable(all);
        pb.command().add(pb.command().indexOf("-cp"), "-Dfable.runtime.dir=" + runtimeDir);   // after the copied one: it wins
        Process p = pb.start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        String err = new String(p.getErrorStream().readAllBytes(), StandardCharsets.UTF_8);
        return new Result(SendRecvTest.exit(p), out, err);
    }

    @Test
    void removingANetworkThatIsNotTrustedIsAnErrorThatNamesIt() throws Exception {
        Path dir = Files.createDirectories(Path.of("target", "nd", "trust" + Long.toString(System.nanoTime() % 1_000_000_000L, 36)).toAbsolutePath());
        // one daemon for the whole test, in the foreground: an auto-started one would exit when idle between two
        // commands, and the trust it was given lives only as long as it does
        ProcessBuilder pb = SendRecvTest.fable("daemon");
        pb.command().removeIf(a -> a.startsWith("-Dfable.daemon.idleExitSeconds="));
        pb.command().add(pb.command().indexOf("-cp"), "-Dfable.runtime.dir=" + dir);
        Process daemon = pb.redirectErrorStream(true).start();
        try {
            java.io.BufferedReader r = new java.io.BufferedReader(new java.io.InputStreamReader(daemon.getInputStream(), StandardCharsets.UTF_8));
            for (String l; (l = r.readLine()) != null && !l.contains("serving"); ) {
                assertTrue(daemon.isAlive(), "the daemon did not start: " + l);
            }
            Thread.ofVirtual().start(() -> { try { r.transferTo(java.io.Writer.nullWriter()); } catch (java.io.IOException ignored) { } });
            trustThenRemoveThenList(dir);
        } finally {
            daemon.destroy();
        }
    }

    private static void trustThenRemoveThenList(Path dir) throws Exception {

        Result never = trust(dir, "remove", NETWORK);
        assertEquals(FableCli.SETUP, never.exit(), never.out() + never.err());
        assertEquals("", never.out(), "nothing claims it is no longer trusted");
        assertEquals(1, never.err().strip().lines().count(), "one line: " + never.err());
        assertTrue(never.err().startsWith("fable trust: ") && never.err().contains("network " + NETWORK + " is not trusted"), never.err());

        Result add = trust(dir, "add", NETWORK);
        assertEquals(FableCli.OK, add.exit(), add.out() + add.err());
        assertTrue(add.out().contains("trusted: " + NETWORK), add.out());
        Result list = trust(dir, "list");
        assertEquals(FableCli.OK, list.exit(), list.out() + list.err());
        assertTrue(list.out().lines().anyMatch(NETWORK::equals), "trust list shows it: " + list.out());
        Result remove = trust(dir, "remove", NETWORK);
        assertEquals(FableCli.OK, remove.exit(), remove.out() + remove.err());
        assertTrue(remove.out().contains("no longer trusted: " + NETWORK), remove.out());

        Result again = trust(dir, "remove", NETWORK);
        assertEquals(FableCli.SETUP, again.exit(), "a second remove finds nothing to remove: " + again.out() + again.err());
        assertTrue(again.err().contains("is not trusted"), again.err());
        assertTrue(trust(dir, "list").out().lines().noneMatch(NETWORK::equals), "gone from the list");

        Result bad = trust(dir, "add", "10.0.0.0/99");
        assertEquals(FableCli.USAGE, bad.exit(), "a malformed network is bad usage: " + bad.err());
        assertTrue(bad.err().contains("invalid network '10.0.0.0/99'") && !bad.err().contains("fable.trusted.networks"),
                "blames the argument, not a setting: " + bad.err());
    }
}
