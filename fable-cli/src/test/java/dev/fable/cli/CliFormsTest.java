package dev.fable.cli;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.*;

/**
 * The forms a new user tries: {@code --help} and {@code -h} on every subcommand, {@code fable send}
 * streaming a pipe line by line, {@code fable recv} on {@code xio://name} and on {@code tcp://host:port}
 * for a program that does not speak Fable. Real processes.
 */
class CliFormsTest {
    @TempDir
    Path dir;

    @Test
    void everySubcommandHelpsItself() throws Exception {
        for (String sub : new String[] {"send", "recv", "publish", "subscribe", "daemon", "names", "flows", "reconfigure", "trust", "bench", "completion"}) {
            for (String flag : new String[] {"--help", "-h"}) {
                Path out = dir.resolve(sub + flag);
                Process p = SendRecvTest.fable(sub, flag).redirectErrorStream(true).redirectOutput(out.toFile()).start();
                assertEquals(0, SendRecvTest.exit(p), "fable " + sub + " " + flag + ": " + Files.readString(out));
                assertTrue(Files.readString(out).contains("Usage: fable " + sub), "fable " + sub + " " + flag + " prints its own usage: "
                        + Files.readString(out));
            }
        }
        Path out = dir.resolve("version");
        Process p = SendRecvTest.fable("--version").redirectErrorStream(true).redirectOutput(out.toFile()).start();
        assertEquals(0, SendRecvTest.exit(p));
        assertTrue(Files.readString(out).matches("(?s)fable \\d+\\.\\d+\\.\\d+.*"), "a version from the build: " + Files.readString(out));
    }

    @Test
    void completionPrintsABashScript() throws Exception {
        Path out = dir.resolve("completion");
        Process p = SendRecvTest.fable("completion").redirectOutput(out.toFile()).start();
        assertEquals(0, SendRecvTest.exit(p));
        String script = Files.readString(out);
        assertTrue(script.contains("complete -F") && script.contains("send") && script.contains("--untrusted"), script.substring(0, 200));
    }

    /** A pipe that pauses is sent as it pauses, not at the end of input: each line reaches the plain receiver before the next is written. */
    @Test
    void sendStreamsAPipeThatPauses() throws Exception {
        try (ServerSocket server = new ServerSocket()) {
            server.bind(new InetSocketAddress("127.0.0.1", 0));
            Process send = SendRecvTest.fable("send", "tcp://127.0.0.1:" + server.getLocalPort())
                    .redirectErrorStream(true).redirectOutput(dir.resolve("send").toFile()).start();
            server.setSoTimeout(30_000);
            try (Socket peer = server.accept(); OutputStream stdin = send.getOutputStream()) {
                peer.setSoTimeout(20_000);   // each line must come long before the input ends (it never would here)
                InputStream in = peer.getInputStream();
                for (int i = 0; i < 5; i++) {
                    byte[] line = ("line " + i + "\n").getBytes(StandardCharsets.US_ASCII);
                    stdin.write(line);
                    stdin.flush();
                    assertArrayEquals(line, in.readNBytes(line.length), "line " + i + " arrived while stdin stays open");
                }
            }
            assertEquals(0, SendRecvTest.exit(send), Files.readString(dir.resolve("send")));
        }
    }

    @Test
    void recvListensOnTcpForAPlainPeer() throws Exception {
        int port;
        try (ServerSocket probe = new ServerSocket(0, 1, java.net.InetAddress.getLoopbackAddress())) {
            port = probe.getLocalPort();
        }
        Path out = dir.resolve("out"), err = dir.resolve("err");
        Files.createFile(err);
        Process recv = SendRecvTest.fable("recv", "tcp://127.0.0.1:" + port).redirectOutput(out.toFile()).redirectError(err.toFile()).start();
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        while (!Files.readString(err).contains("listening")) {
            assertTrue(recv.isAlive() && System.nanoTime() < deadline, "recv did not listen: " + Files.readString(err));
            Thread.onSpinWait();
        }
        try (Socket s = new Socket("127.0.0.1", port)) {
            s.getOutputStream().write("not fable\n".getBytes(StandardCharsets.US_ASCII));
        }
        assertEquals(0, SendRecvTest.exit(recv), Files.readString(err));
        assertEquals("not fable\n", Files.readString(out));
    }

    @Test
    void recvTakesAnXioName() throws Exception {
        String name = SendRecvTest.name();
        Path in = dir.resolve("in"), out = dir.resolve("out"), err = dir.resolve("err");
        Files.writeString(in, "over xio\n");
        Files.createFile(err);
        Process recv = new SendRecvTest() {{ dir = CliFormsTest.this.dir; }}.startRecv("xio://" + name, out, err);
        Process send = SendRecvTest.fable("send", name).redirectInput(in.toFile()).redirectErrorStream(true)
                .redirectOutput(dir.resolve("send").toFile()).start();
        assertEquals(0, SendRecvTest.exit(send), Files.readString(dir.resolve("send")));
        assertEquals(0, SendRecvTest.exit(recv), Files.readString(err));
        assertEquals("over xio\n", Files.readString(out));
    }
}
