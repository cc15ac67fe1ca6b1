package dev.fable;

import dev.fable.testing.PeerProcess;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

/**
 * Connection churn does not accumulate memory: a process that opens and closes many socket
 * connections (each with about 1 MiB of direct buffers) runs within a direct-memory limit far below
 * their sum. (The flow table once held every closed connection until it had 256, which made such a
 * process fail with OutOfMemoryError: the bench's rendezvous cells found it.)
 */
class ConnectionChurnTest {
    /** Listens, then connects and closes {@code args[1]} times over {@code args[0]}; prints DONE or the error. */
    public static final class Churn {
        public static void main(String[] a) throws Exception {
            String name = "churn-" + ProcessHandle.current().pid();
            int n = Integer.parseInt(a[1]);
            try (Endpoint ep = Fable.register(name).listen()) {
                Thread acceptor = Thread.ofPlatform().daemon().start(() -> {
                    for (int i = 0; i < n; i++) {
                        try (Connection c = ep.accept()) {
                            c.receive(Duration.ofSeconds(10)).release();
                        } catch (RuntimeException e) {
                            System.out.println("ERROR accept " + i + ": " + e);
                            System.exit(1);
                        }
                    }
                });
                for (int i = 0; i < n; i++) {
                    try (Connection c = Fable.connect("xio+" + a[0] + "://" + name, ConnectOptions.trusted())) {
                        c.send(new byte[8]);
                    } catch (Throwable e) {
                        System.out.println("ERROR connect " + i + ": " + e);
                        System.exit(1);
                    }
                }
                acceptor.join();
            }
            System.out.println("DONE");
        }
    }

    @Test
    void openingAndClosingManyUnixConnectionsStaysWithinA64MiBDirectMemoryLimit() throws Exception {
        try (PeerProcess p = PeerProcess.start(Churn.class, List.of("-XX:MaxDirectMemorySize=64m"), "unix", "300")) {
            String line = p.expectLine("", Duration.ofSeconds(120));
            assertEquals("DONE", line);
        }
    }
}
