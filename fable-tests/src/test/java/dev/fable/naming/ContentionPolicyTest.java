package dev.fable.naming;

import dev.fable.ConnectOptions;
import dev.fable.Connection;
import dev.fable.ConnectionEvent;
import dev.fable.Endpoint;
import dev.fable.Fable;
import dev.fable.WaitMode;
import dev.fable.sync.ThreadAffinity;
import dev.fable.testing.Cpus;
import dev.fable.testing.PeerProcess;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import dev.fable.naming.protocol.FlowEntry;

/**
 * The daemon's contention policy with two real JVMs whose hot threads spin on one shm connection:
 * pinned to one CPU (so each spins away the other's time slice), the daemon switches the connection
 * to blocking waits; pinned apart again, back to spinning. The ping-pong checks every echo's
 * sequence number across both switches.
 */
class ContentionPolicyTest {
    private static final Duration WAIT = Duration.ofSeconds(30);

    /** Reads "PIN n" / "STOP" from stdin for the hot thread, which applies them itself (pinning is per thread). */
    static final class Commands {
        volatile int pin = -1;
        volatile boolean stop;

        Commands start() {
            Thread t = new Thread(() -> {
                try (BufferedReader in = new BufferedReader(new InputStreamReader(System.in))) {
                    for (String l; (l = in.readLine()) != null; ) {
                        if (l.startsWith("PIN ")) pin = Integer.parseInt(l.substring(4).trim());
                        if (l.equals("STOP")) stop = true;
                    }
                } catch (Exception e) {
                    stop = true;
                }
                stop = true;
            }, "commands");
            t.setDaemon(true);
            t.start();
            return this;
        }

        private int pinned = -1;

        /** Hot thread: applies a pending pin and says so. */
        void apply() {
            int p = pin;
            if (p != pinned) {
                ThreadAffinity.pin(p);
                pinned = p;
                System.out.println("PINNED " + p);
            }
        }

        /** Prints every switch the connection reports: "SWITCHED epoch transport waitMode | reason". */
        static void report(Connection c) {
            for (ConnectionEvent e; (e = c.pollEvent()) != null; ) {
                if (e.type() == ConnectionEvent.Type.RECONFIGURED) {
                    System.out.println("SWITCHED " + e.epoch() + " " + e.transport() + " " + c.waitMode().name().toLowerCase() + " | " + e.reason());
                }
            }
        }
    }

    /** Listens as args[0] with spin waits, pinned to CPU args[1]; echoes every message until the peer closes. */
    public static final class SpinEcho {
        public static void main(String[] args) throws Exception {
            Commands cmd = new Commands().start();
            cmd.pin = Integer.parseInt(args[1]);
            cmd.apply();
            try (Endpoint ep = Fable.register(args[0]).listen(ConnectOptions.trusted().waitMode(WaitMode.SPIN));
                 Connection c = announce(ep)) {
                PeerProcess.echoUntilClosed(c, () -> {
                    cmd.apply();
                    Commands.report(c);
                });
            }
            System.out.println("DONE");
        }

        private static Connection announce(Endpoint ep) {
            System.out.println("LISTENING");
            Connection c = ep.accept(WAIT);
            System.out.println("ACCEPTED " + c.transport() + " " + c.waitMode().name().toLowerCase());
            return c;
        }
    }

    /** Connects to xio://args[0] with spin waits, pinned to CPU args[1]; ping-pongs sequence numbers until STOP. */
    public static final class SpinPinger {
        public static void main(String[] args) throws Exception {
            Commands cmd = new Commands().start();
            cmd.pin = Integer.parseInt(args[1]);
            cmd.apply();
            long seq = 0;
            try (Connection c = Fable.connect("xio://" + args[0], ConnectOptions.trusted().waitMode(WaitMode.SPIN).connectTimeout(WAIT))) {
                System.out.println("CONNECTED " + c.transport() + " " + c.waitMode().name().toLowerCase());
                while (!cmd.stop) {
                    c.send(ByteBuffer.allocate(8).putLong(0, seq).array());
                    byte[] back;
                    do {
                        cmd.apply();
                        Commands.report(c);
                        back = c.receiveMessage(Duration.ofMillis(100));
                    } while (back == null);
                    long got = ByteBuffer.wrap(back).getLong();
                    if (back.length != 8 || got != seq) {
                        System.out.println("FAILED echo " + got + " of " + back.length + " B for " + seq);
                        return;
                    }
                    seq++;
                }
                Commands.report(c);
            }
            System.out.println("OK " + seq);
        }
    }

    @Test
    void spinningEndsOnOneCpuAreSwitchedToBlockingWaitsAndBackWhenApart() throws Exception {
        List<Integer> cpus = Cpus.allowed();
        Assumptions.assumeTrue(cpus.size() >= 2, "needs two CPUs to put the two ends apart; this process may use " + cpus);
        int a = cpus.get(0), b = cpus.get(1);
        String name = "contend-" + ProcessHandle.current().pid();
        Path rt = TestDaemon.freshDir("c");
        Path st = Files.createDirectories(rt.resolve("state"));
        List<String> on = List.of("-Dfable.runtime.dir=" + rt, "-Dfable.state.dir=" + st, "-Dfable.daemon.autostart=false");
        try (TestDaemon d = TestDaemon.start(rt, "fable.state.dir=" + st, "fable.policy.contention.periodMillis=100");
             PeerProcess echo = PeerProcess.start(SpinEcho.class, on, name, Integer.toString(b));
             DaemonNameService admin = DaemonNameService.open(rt, false)) {
            echo.awaitLine("LISTENING", WAIT);
            try (PeerProcess pinger = PeerProcess.start(SpinPinger.class, on, name, Integer.toString(a))) {
                assertEquals("CONNECTED shm spin", pinger.awaitLine("CONNECTED", WAIT));
                assertEquals("ACCEPTED shm spin", echo.awaitLine("ACCEPTED", WAIT));

                echo.send("PIN " + a);   // both hot threads on one CPU now: each spins while the other needs the CPU
                echo.awaitLine("PINNED " + a, WAIT);
                String toBlock = pinger.awaitLine("SWITCHED", WAIT);
                assertTrue(toBlock.startsWith("SWITCHED 1 shm block | contention: both ends waited on CPU " + a + " in "), toBlock + "\n" + d.log());
                assertTrue(echo.awaitLine("SWITCHED", WAIT).startsWith("SWITCHED 1 shm block | contention: "), "the accepting end blocks too");
                List<FlowEntry> ends = admin.flows().stream().filter(f -> f.peerName().equals(name) || f.localName().equals(name)).toList();
                assertEquals(2, ends.size(), ends.toString());
                for (FlowEntry f : ends) {
                    assertEquals("block", f.waitMode(), f.toString());
                    assertTrue(f.waitOverridden() && f.epoch() == 1 && f.reason().contains("contention: both ends waited on CPU " + a), f.toString());
                }

                echo.send("PIN " + b);   // apart again
                echo.awaitLine("PINNED " + b, WAIT);
                String back = pinger.awaitLine("SWITCHED", WAIT);
                assertTrue(back.startsWith("SWITCHED 2 shm spin | contention over: the ends waited on different CPUs (CPU " + a + " and CPU " + b + ") in 4 of the last 4"),
                        back + "\n" + d.log());
                assertTrue(echo.awaitLine("SWITCHED", WAIT).startsWith("SWITCHED 2 shm spin | "), "the accepting end spins again");

                pinger.send("STOP");
                String ok = pinger.awaitLine("OK", WAIT);
                assertTrue(Long.parseLong(ok.substring(3)) > 10, ok);
                assertTrue(d.log().contains("policy: reconfigure pid " + pinger.pid()), d.log());
            }
            echo.awaitLine("DONE", WAIT);
        }
    }
}
