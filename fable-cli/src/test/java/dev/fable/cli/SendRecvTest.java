package dev.fable.cli;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.*;

/** {@code fable recv NAME > out} and {@code fable send NAME < in} as two real processes. */
class SendRecvTest {
    @TempDir
    Path dir;

    static ProcessBuilder fable(String... args) {
        List<String> cmd = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "--enable-native-access=ALL-UNNAMED", "-Xmx256m"));
        for (String k : new String[] {"fable.runtime.dir", "fable.state.dir", "fable.daemon.idleExitSeconds"}) {
            String v = System.getProperty(k);   // this checkout's private daemon and names (set by surefire)
            if (v != null) cmd.add("-D" + k + "=" + v);
        }
        cmd.addAll(List.of("-cp", System.getProperty("java.class.path"), FableCli.class.getName()));
        cmd.addAll(List.of(args));
        return new ProcessBuilder(cmd);
    }

    static String name() {
        return "cli-" + ProcessHandle.current().pid() + "-" + System.nanoTime();
    }

    static int exit(Process p) throws InterruptedException {
        assertTrue(p.waitFor(120, TimeUnit.SECONDS), "process did not finish");
        return p.exitValue();
    }

    /** Starts recv and waits (by reading its stderr) until it listens. */
    Process startRecv(String name, Path out, Path err) throws IOException, InterruptedException {
        Process recv = fable("recv", name).redirectOutput(out.toFile()).redirectError(err.toFile()).start();
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        while (!Files.readString(err).contains("listening")) {
            assertTrue(recv.isAlive(), "recv died: " + Files.readString(err));
            assertTrue(System.nanoTime() < deadline, "recv did not start listening");
            Thread.onSpinWait();
        }
        return recv;
    }

    @Test
    void copiesFilesOfAnySizeByteForByte() throws Exception {
        Random rnd = new Random(42);
        for (int size : new int[] {0, 1, 65_535, 65_536, 65_537, 37 * 1024 * 1024 + 13}) {
            byte[] data = new byte[size];
            rnd.nextBytes(data);
            Path in = dir.resolve("in-" + size), out = dir.resolve("out-" + size), err = dir.resolve("err-" + size);
            Files.write(in, data);
            String name = name();
            Process recv = startRecv(name, out, err);
            Process send = fable("send", name).redirectInput(in.toFile()).redirectErrorStream(true)
                    .redirectOutput(dir.resolve("send-" + size).toFile()).start();
            assertEquals(0, exit(send), Files.readString(dir.resolve("send-" + size)));
            assertEquals(0, exit(recv), Files.readString(err));
            assertEquals(Files.size(in), Files.size(out), "size " + size);
            assertEquals(-1, Files.mismatch(in, out), "bytes differ for size " + size);
        }
    }

    @Test
    void sendToAMissingListenerFailsWithSetupExitCode() throws Exception {
        Path err = dir.resolve("err");
        Process send = fable("send", name(), "--wait", "0s").redirectInput(ProcessBuilder.Redirect.PIPE)
                .redirectErrorStream(true).redirectOutput(err.toFile()).start();
        send.getOutputStream().close();
        assertEquals(FableCli.SETUP, exit(send));
        assertTrue(Files.readString(err).contains("no endpoint is registered as"), Files.readString(err));
    }

    @Test
    void receiverKilledMidTransferGivesIncompleteExitCode() throws Exception {
        String name = name();
        Path out = dir.resolve("out"), err = dir.resolve("err"), serr = dir.resolve("serr");
        Process recv = startRecv(name, out, err);
        Process send = fable("send", name).redirectErrorStream(true).redirectOutput(serr.toFile()).start();
        byte[] chunk = new byte[1 << 16];
        // feed data until the receiver has written some, then kill it while the sender still has input
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
        while (Files.size(out) == 0) {
            send.getOutputStream().write(chunk);
            send.getOutputStream().flush();
            assertTrue(System.nanoTime() < deadline, "nothing arrived");
        }
        recv.destroyForcibly().waitFor();
        try {
            while (send.isAlive()) {
                send.getOutputStream().write(chunk);
                send.getOutputStream().flush();
            }
        } catch (IOException pipeClosed) {
            // the sender exited: expected
        }
        assertEquals(FableCli.INCOMPLETE, exit(send), Files.readString(serr));
        assertTrue(Files.readString(serr).contains("went away"), Files.readString(serr));
    }
}
