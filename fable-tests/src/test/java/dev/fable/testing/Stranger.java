package dev.fable.testing;

import org.junit.jupiter.api.Assumptions;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;

/**
 * Another real user of this host, for security tests: created with {@code useradd} (a unique name,
 * no home) and removed with {@code userdel} on {@link #close()}. Commands run as it through
 * {@code setpriv} (util-linux), which also runs them as a bare numeric uid without a passwd entry
 * ({@link #asUid}). Needs root; {@link #create()} skips the test with the reason otherwise.
 */
public final class Stranger implements AutoCloseable {
    private final String name;
    private final int uid;
    private final int gid;

    private Stranger(String name, int uid, int gid) {
        this.name = name;
        this.uid = uid;
        this.gid = gid;
    }

    /** True when this JVM runs as root and setpriv is there: it can act as other uids. */
    public static boolean canSwitchUids() {
        return "root".equals(System.getProperty("user.name")) && Files.isExecutable(Path.of("/usr/bin/setpriv"));
    }

    /** Skips the calling test, naming why, unless this JVM can act as other uids. */
    public static void assumeCanSwitchUids() {
        Assumptions.assumeTrue(canSwitchUids(), "needs root and /usr/bin/setpriv to act as another uid");
    }

    /** A new user; skips the calling test if this JVM is not root or useradd is missing. */
    public static Stranger create() throws IOException, InterruptedException {
        assumeCanSwitchUids();
        Path useradd = Path.of("/usr/sbin/useradd");
        Assumptions.assumeTrue(Files.isExecutable(useradd) && Files.isExecutable(Path.of("/usr/sbin/userdel")),
                "needs useradd and userdel to create a stranger user");
        String name = "fbl" + Long.toHexString(ProcessHandle.current().pid()) + Integer.toHexString(ThreadLocalRandom.current().nextInt(1 << 16));
        Result r = run(List.of(useradd.toString(), "--no-create-home", "--user-group", "--shell", "/bin/sh", name));
        if (r.status != 0) throw new IllegalStateException("useradd " + name + " failed: " + r.output);
        int uid = Integer.parseInt(run(List.of("/usr/bin/id", "-u", name)).output.trim());
        int gid = Integer.parseInt(run(List.of("/usr/bin/id", "-g", name)).output.trim());
        return new Stranger(name, uid, gid);
    }

    public String name() {
        return name;
    }

    public int uid() {
        return uid;
    }

    public int gid() {
        return gid;
    }

    /** {@code command} prefixed to run as this user (real and effective uid and gid, no supplementary groups). */
    public List<String> as(String... command) {
        return asUid(uid, gid, command);
    }

    /** {@code command} prefixed to run as {@code uid}/{@code gid}, which need no passwd entry. */
    public static List<String> asUid(int uid, int gid, String... command) {
        List<String> cmd = new ArrayList<>(List.of("/usr/bin/setpriv", "--reuid=" + uid, "--regid=" + gid, "--clear-groups"));
        cmd.addAll(List.of(command));
        return cmd;
    }

    /** Runs {@code command} as this user to its end (60 s at most); its status and output (stdout and stderr). */
    public Result run(String... command) throws IOException, InterruptedException {
        return run(as(command));
    }

    /** An exit status and the merged output. */
    public record Result(int status, String output) {}

    /** Runs {@code cmd} to its end; after 60 s it is killed and the test fails with what it printed. */
    public static Result run(List<String> cmd) throws IOException, InterruptedException {
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null"))).start();
        java.util.concurrent.CompletableFuture<String> out = java.util.concurrent.CompletableFuture.supplyAsync(() -> {
            try {
                return new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            } catch (IOException e) {
                return "(output unreadable: " + e + ")";
            }
        }, Thread::startVirtualThread);
        if (!p.waitFor(60, TimeUnit.SECONDS)) {
            p.destroyForcibly();
            p.waitFor();
            throw new AssertionError("did not end within 60 s: " + cmd + "; output: " + out.join());
        }
        return new Result(p.exitValue(), out.join());
    }

    /** Removes the user (its processes must have ended). */
    @Override
    public void close() throws IOException, InterruptedException {
        Result r = run(List.of("/usr/sbin/userdel", name));
        if (r.status != 0) throw new IllegalStateException("userdel " + name + " failed: " + r.output);
    }
}
