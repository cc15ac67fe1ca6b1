package dev.fable;

import dev.fable.testing.PeerProcess;
import dev.fable.transport.shm.ShmLayout;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.*;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * Pools and rings are sealed memfds, not files in the shared-memory directory: a directory on a file
 * system too small for the pool (docker's default 64 MiB /dev/shm, here a 1 MiB tmpfs) no longer
 * limits them, and nothing is written there. (Memory a memfd cannot get fails its {@code fallocate} at
 * connect, naming the bytes needed, never with a SIGBUS later: {@code ShmFiles.createSealed}.) Needs
 * root (to mount a tmpfs); skipped otherwise.
 */
class ShmTooSmallTest {
    private static final int SLOT_SIZE = 64 * 1024;
    private static final int SLOT_COUNT = 128;

    /** Listens as {@code args[0]}, accepts, and connects to itself with 128 slots of 64 KiB; prints "FAILED class message" or "CONNECTED". */
    public static final class BigPoolConnector {
        public static void main(String[] args) throws Exception {
            try (Endpoint ep = Fable.register(args[0]).listen()) {
                java.util.concurrent.CompletableFuture<Connection> accepted =
                        java.util.concurrent.CompletableFuture.supplyAsync(() -> ep.accept(Duration.ofSeconds(30)));
                try (Connection c = Fable.connect("xio+shm://" + args[0],
                        ConnectOptions.trusted().slotSize(SLOT_SIZE).slotCount(SLOT_COUNT))) {
                    accepted.get().close();
                    System.out.println("CONNECTED " + c);
                } catch (FableException e) {
                    System.out.println("FAILED " + e.getClass().getName() + " " + e.getMessage().replace('\n', ' '));
                }
            }
        }
    }

    private static int run(String... cmd) throws IOException, InterruptedException {
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        if (!p.waitFor(30, TimeUnit.SECONDS)) {
            p.destroyForcibly();
            return -1;
        }
        if (p.exitValue() != 0) System.err.println(String.join(" ", cmd) + ": " + out.trim());
        return p.exitValue();
    }

    @Test
    void aTooSmallShmDirectoryNoLongerLimitsPoolsWhichAreMemfds() throws Exception {
        assumeTrue("root".equals(System.getProperty("user.name")), "mounting a tmpfs needs root");
        Path mnt = Files.createTempDirectory("fable-small-shm-");
        try {
            assumeTrue(run("mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", mnt.toString()) == 0,
                    "cannot mount a 1 MiB tmpfs on " + mnt + " (no CAP_SYS_ADMIN in this container?)");
            try {
                Path shm = mnt.resolve("fable");
                String name = "small-" + ProcessHandle.current().pid() + "-" + System.nanoTime();
                try (PeerProcess child = PeerProcess.start(BigPoolConnector.class, List.of("-Dfable.shm.dir=" + shm), name)) {
                    String line = child.expectLine("", Duration.ofSeconds(60));
                    assertTrue(line.startsWith("CONNECTED "), "an 8 MiB pool connects although " + shm + " has 1 MiB: " + line);
                    assertTrue(ShmLayout.poolBytes(SLOT_SIZE, SLOT_COUNT) > (1 << 20));
                    assertEquals(0, child.waitFor(30), child.stderr());
                    assertFalse(child.stderr().contains("SIGBUS"), child.stderr());
                }
                if (Files.isDirectory(shm)) try (Stream<Path> left = Files.list(shm)) {
                    assertEquals(List.of(), left.toList(), "nothing was written to the shared-memory directory");
                }
            } finally {
                run("umount", "-l", mnt.toString());
            }
        } finally {
            Files.deleteIfExists(mnt.resolve("fable"));   // only exists if the unmount failed
            Files.deleteIfExists(mnt);
        }
    }
}
