package dev.fable.modules;

import dev.fable.Fable;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import javax.tools.JavaCompiler;
import javax.tools.ToolProvider;
import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.*;

/**
 * Fable as named modules, as an application on the module path sees it: the exports of
 * {@code dev.fable} are the API and nothing else (an application that imports a transport package
 * does not compile), a program that requires {@code dev.fable} and has {@code dev.fable.daemon} on
 * its path auto-starts a daemon and talks, and without the daemon module it fails with one line
 * that names the artifact to add. Real javac, real JVMs.
 */
class ModulePathTest {
    private static final String MAIN = """
            package app;

            import dev.fable.*;
            import java.time.Duration;

            public class Main {
                public static void main(String[] args) throws Exception {
                    try (Endpoint ep = Fable.register(args[0]).listen(ConnectOptions.trusted())) {
                        var accepted = java.util.concurrent.CompletableFuture.supplyAsync(ep::accept);
                        try (Connection c = Fable.connect("xio://" + args[0], ConnectOptions.trusted()); Connection s = accepted.get()) {
                            Buffer b = c.claim(8, Duration.ofSeconds(10));
                            b.putLong(0, 42);
                            b.commit();
                            Buffer r = s.receive(Duration.ofSeconds(10));
                            System.out.println("GOT " + r.getLong(0) + " over " + s.transport());
                            r.release();
                        }
                    }
                }
            }
            """;

    private static Path jarOf(Class<?> c) throws Exception {
        return Path.of(c.getProtectionDomain().getCodeSource().getLocation().toURI());
    }

    private static Path core() throws Exception {
        return jarOf(Fable.class);
    }

    private static Path daemon() throws Exception {
        return jarOf(Class.forName("dev.fable.daemon.NameDaemon"));
    }

    /** The daemon artifact's own dependencies (BouncyCastle: it makes the host key), as Maven puts them beside it. */
    private static List<Path> daemonLibraries() throws Exception {
        List<Path> l = new ArrayList<>();
        for (String c : List.of("org.bouncycastle.cert.X509v3CertificateBuilder", "org.bouncycastle.asn1.x500.X500Name",
                "org.bouncycastle.asn1.cms.ContentInfo")) {
            l.add(jarOf(Class.forName(c)));
        }
        return l;
    }

    /** Compiles module {@code app} with {@code main} against {@code core}; returns javac's diagnostics, null if it compiled. */
    private static String compile(Path dir, String main) throws Exception {
        Path src = dir.resolve("src");
        Files.createDirectories(src.resolve("app"));
        Files.writeString(src.resolve("module-info.java"), "module app { requires dev.fable; }\n");
        Files.writeString(src.resolve("app/Main.java"), main);
        Path out = dir.resolve("mods/app");
        Files.createDirectories(out);
        JavaCompiler javac = ToolProvider.getSystemJavaCompiler();
        assertNotNull(javac, "the tests need a JDK (javac), not a JRE");
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        int rc = javac.run(null, null, err, "-d", out.toString(), "--module-path", core().toString(),
                src.resolve("module-info.java").toString(), src.resolve("app/Main.java").toString());
        return rc == 0 ? null : err.toString(StandardCharsets.UTF_8);
    }

    private record Run(int status, String out) {}

    private static Run run(Path dir, List<Path> modulePath, String... extra) throws Exception {
        List<String> cmd = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "--enable-native-access=dev.fable", "-Xmx128m",
                "-Dfable.runtime.dir=" + dir.resolve("run"), "-Dfable.state.dir=" + dir.resolve("state"),
                "-Dfable.shm.dir=" + Files.createDirectories(dir.resolve("shm")), "-Dfable.daemon.idleExitSeconds=2"));
        cmd.addAll(List.of(extra));
        StringBuilder mp = new StringBuilder(dir.resolve("mods/app").toString());
        for (Path p : modulePath) mp.append(java.io.File.pathSeparator).append(p);
        cmd.addAll(List.of("--module-path", mp.toString(), "-m", "app/app.Main", "modpath-" + ProcessHandle.current().pid()));
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        String out;
        try (var in = p.getInputStream()) {
            out = new String(in.readAllBytes(), StandardCharsets.UTF_8);   // ends when the program exits
        }
        assertTrue(p.waitFor(60, TimeUnit.SECONDS), "the program did not exit: " + out);
        return new Run(p.exitValue(), out);
    }

    @Test
    void anApplicationModuleTalksThroughTheApiAndAutoStartsTheDaemonModule(@TempDir Path dir) throws Exception {
        assertNull(compile(dir, MAIN), "the API compiles from a named module");
        List<Path> path = new ArrayList<>(List.of(core(), daemon()));
        path.addAll(daemonLibraries());
        Run r = run(dir, path, "--add-modules", "dev.fable.daemon");
        assertEquals(0, r.status(), r.out());
        assertTrue(r.out().contains("GOT 42 over shm"), r.out());
    }

    @Test
    void theTransportPackagesAreNotExported(@TempDir Path dir) throws Exception {
        String errors = compile(dir, MAIN.replace("public class Main {",
                "public class Main {\n    static Object internal() { return dev.fable.transport.shm.ShmFiles.defaultDirectory(); }"));
        assertNotNull(errors, "an application module must not reach a transport's internals");
        assertTrue(errors.contains("dev.fable.transport.shm") && errors.contains("not visible"), errors);
    }

    @Test
    void withoutTheDaemonModuleTheErrorNamesTheArtifactToAdd(@TempDir Path dir) throws Exception {
        assertNull(compile(dir, MAIN));
        Run r = run(dir, List.of(core()));   // no daemon runs in this fresh runtime directory, and none can be started
        assertNotEquals(0, r.status(), r.out());
        assertTrue(r.out().contains("add the artifact dev.fable:fable-daemon"), r.out());
        String line = r.out().lines().filter(l -> l.contains("dev.fable:fable-daemon")).findFirst().orElseThrow();
        assertTrue(line.contains("FableException") && line.contains("'fable daemon'"), "one line says what and what to do: " + line);
    }
}
