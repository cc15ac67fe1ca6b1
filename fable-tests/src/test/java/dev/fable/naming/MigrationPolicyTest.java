package dev.fable.naming;

import dev.fable.ConnectOptions;
import dev.fable.Connection;
import dev.fable.ConnectionEvent;
import dev.fable.Fable;
import dev.fable.testing.PeerProcess;
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
 * The migration policy with real JVMs and two daemon "hosts" A (127.0.0.2) and B (127.0.0.3): an
 * endpoint process moves from B to A and back while a process on A ping-pongs with it over one
 * {@code xio://} connection. A move is what a migrated VM or container sees: the runtime directory
 * (here a symbolic link) now belongs to the other host's daemon, and the process re-registers there
 * ({@code NameService.rehome}). The connection goes tcp → shm when the two ends share a host, and
 * shm → tcp when they part, with every echo's sequence number checked across both switches.
 */
class MigrationPolicyTest {
    private static final Duration WAIT = Duration.ofSeconds(30);

    /** Listens as args[0]; echoes every message; "MOVE" on stdin: the host changed (rehome). */
    public static final class MovingEcho {
        public static void main(String[] args) throws Exception {
            Thread commands = new Thread(() -> {
                try (BufferedReader in = new BufferedReader(new InputStreamReader(System.in))) {
                    for (String l; (l = in.readLine()) != null; ) {
                        if (l.equals("MOVE")) {
                            Fable.names().rehome();
                            System.out.println("MOVED");
                        }
                    }
                } catch (Exception e) {
                    System.out.println("FAILED " + e);
                }
            }, "commands");
            commands.setDaemon(true);
            commands.start();
            PeerProcess.listenAndEcho(args[0], WAIT);
        }
    }

    /** Connects to xio://args[0]; ping-pongs sequence numbers until STOP, printing every switch. */
    public static final class Pinger {
        public static void main(String[] args) throws Exception {
            BufferedReader in = new BufferedReader(new InputStreamReader(System.in));
            long seq = 0;
            try (Connection c = Fable.connect("xio://" + args[0], ConnectOptions.trusted().connectTimeout(WAIT))) {
                System.out.println("CONNECTED " + c.transport());
                while (!in.ready()) {   // any line on stdin: stop
                    c.send(ByteBuffer.allocate(8).putLong(0, seq).array());
                    byte[] back;
                    do {
                        for (ConnectionEvent e; (e = c.pollEvent()) != null; ) {
                            if (e.type() == ConnectionEvent.Type.RECONFIGURED) System.out.println("SWITCHED " + e.epoch() + " " + e.transport() + " | " + e.reason());
                            if (e.type() == ConnectionEvent.Type.RECONFIGURATION_FAILED) System.out.println("FAILED switch: " + e);
                        }
                        back = c.receiveMessage(Duration.ofMillis(100));
                    } while (back == null);
                    if (back.length != 8 || ByteBuffer.wrap(back).getLong() != seq) {
                        System.out.println("FAILED echo of " + seq);
                        return;
                    }
                    seq++;
                }
            }
            System.out.println("OK " + seq);
        }
    }

    /**
     * The peer-daemon protocol is gone (cluster naming replaced it): a daemon configured with its settings does
     * not start, and says what to do instead.
     */
    @Test
    void aDaemonWithTheRemovedPeerSettingsRefusesToStartAndSaysWhatToUse() throws Exception {
        for (String setting : new String[] {"fable.daemon.peers=127.0.0.3:7000", "fable.daemon.port=7000"}) {
            Path rt = TestDaemon.freshDir("mn");
            try (PeerProcess d = PeerProcess.start(dev.fable.daemon.NameDaemon.class, List.of("-Dfable.runtime.dir=" + rt,
                    "-Dfable.state.dir=" + rt.resolve("state"), "-D" + setting))) {
                assertEquals(2, d.waitFor(WAIT.toSeconds()), "exit status of a daemon with " + setting);
                String key = setting.substring(0, setting.indexOf('='));
                assertTrue(d.stderr().contains(key + " is set, but the peer-daemon protocol it configured") && d.stderr().contains("fable.zookeeper"),
                        d.stderr());
            }
        }
    }

    /** Both hosts' names in a real ZooKeeper server. */
    @Test
    void aConnectionFollowsItsPeerFromAnotherHostOntoThisOneAndBack() throws Exception {
        try (org.apache.curator.test.TestingServer zk = new org.apache.curator.test.TestingServer()) {
            follow(zk.getConnectString());
        }
    }

    /** {@code zookeeper}: the daemons' fable.zookeeper. */
    private static void follow(String zookeeper) throws Exception {
        String name = "mover-" + ProcessHandle.current().pid();
        Path rtA = TestDaemon.freshDir("ma"), rtB = TestDaemon.freshDir("mb");
        Path stA = Files.createDirectories(rtA.resolve("state")), stB = Files.createDirectories(rtB.resolve("state"));
        Path link = TestDaemon.freshDir("ml").resolve("rt");   // the moving process's runtime directory
        Files.createSymbolicLink(link, rtB);
        try (TestDaemon b = TestDaemon.start(rtB, "fable.state.dir=" + stB, "fable.host.address=127.0.0.3",
                     "fable.zookeeper=" + zookeeper, "fable.zookeeper.auth=host-b:b");
             TestDaemon a = TestDaemon.start(rtA, "fable.state.dir=" + stA, "fable.host.address=127.0.0.2",
                     "fable.zookeeper=" + zookeeper, "fable.zookeeper.auth=host-a:a");
             // its host key follows the move too: the state directory is inside the linked runtime directory
             PeerProcess mover = PeerProcess.start(MovingEcho.class, List.of("-Dfable.runtime.dir=" + link, "-Dfable.state.dir=" + link.resolve("state"),
                     "-Dfable.daemon.autostart=false"), name);
             DaemonNameService adminA = DaemonNameService.open(rtA, false)) {
            mover.awaitLine("LISTENING", WAIT);
            String hostA = adminA.host().hostId();
            String hostB;
            try (DaemonNameService adminB = DaemonNameService.open(rtB, false)) {
                hostB = adminB.host().hostId();
            }
            try (PeerProcess pinger = PeerProcess.start(Pinger.class,
                    List.of("-Dfable.runtime.dir=" + rtA, "-Dfable.state.dir=" + stA, "-Dfable.daemon.autostart=false"), name)) {
                assertEquals("CONNECTED tcp", pinger.awaitLine("CONNECTED", WAIT), "B is another host on a trusted network");

                TestDaemon.repoint(link, rtA);   // the endpoint's process now runs on host A, beside the pinger
                mover.send("MOVE");
                mover.awaitLine("MOVED", WAIT);
                String toShm = pinger.awaitLine("SWITCHED", WAIT);
                assertTrue(toShm.startsWith("SWITCHED 1 shm | policy: same host, trusted peer; endpoint '" + name + "' listens on host " + hostA),
                        toShm + "\n" + a.log());
                List<FlowEntry> ends = adminA.flows().stream().filter(f -> f.peerName().equals(name) || f.localName().equals(name)).toList();
                assertEquals(2, ends.size(), "both ends are clients of host A now: " + ends);
                for (FlowEntry f : ends) assertTrue(f.transport().equals("shm") && f.epoch() == 1, f.toString());

                TestDaemon.repoint(link, rtB);   // and back to host B
                mover.send("MOVE");
                mover.awaitLine("MOVED", WAIT);
                String toTcp = pinger.awaitLine("SWITCHED", WAIT);
                assertTrue(toTcp.startsWith("SWITCHED 2 tcp | policy: other host over trusted network 127.0.0.0/8; endpoint '" + name
                        + "' listens on host " + hostB), toTcp + "\n" + a.log());
                assertTrue(a.log().contains("the cluster says endpoint '" + name + "' listens on host " + hostB), a.log());

                pinger.send("STOP");
                String ok = pinger.awaitLine("OK", WAIT);
                assertTrue(Long.parseLong(ok.substring(3)) > 10, ok);
            }
            mover.awaitLine("DONE", WAIT);
        }
    }
}
