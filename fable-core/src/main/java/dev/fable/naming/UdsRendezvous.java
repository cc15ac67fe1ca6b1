package dev.fable.naming;

import dev.fable.FableException;
import dev.fable.NameInUseException;
import dev.fable.NameNotFoundException;
import dev.fable.internal.Libc;
import dev.fable.transport.ControlChannel;

import java.io.IOException;
import java.net.ConnectException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.channels.SelectionKey;
import java.nio.channels.Selector;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.regex.Pattern;

import jdk.net.ExtendedSocketOptions;
import jdk.net.UnixDomainPrincipal;

/**
 * Daemon-less rendezvous: a listening name {@code N} is a Unix socket {@code <runtime>/ep/N.sock}
 * guarded by {@code N.lock}, where {@code <runtime>} is {@code $XDG_RUNTIME_DIR/fable} or
 * {@code /tmp/fable-<uid>} (mode 0700; {@code -Dfable.runtime.dir} overrides).
 *
 * <p>The lock ({@code flock}) is what owns the name: the kernel drops it when the process dies, so
 * a killed listener can be restarted under its name at once (the stale socket file is replaced).
 * Connecting processes must run as the same user: the peer's credentials ({@code SO_PEERCRED}) are
 * checked on both sides.
 */
public final class UdsRendezvous implements Rendezvous {
    private static final Pattern NAME = Pattern.compile("[A-Za-z0-9][A-Za-z0-9._-]{0,63}");
    /**
     * Lock files this process holds. The lock is a POSIX record lock (what {@link FileChannel#tryLock}
     * uses on Linux), which the kernel drops when the process closes <em>any</em> descriptor of the
     * file: so a second registration of a held name must be refused before the file is opened again.
     */
    private static final Set<Path> HELD = ConcurrentHashMap.newKeySet();

    private final Path dir;

    public UdsRendezvous() {
        this(defaultDirectory());
    }

    public UdsRendezvous(Path runtimeDir) {
        this.dir = runtimeDir.resolve("ep");
        try {
            Files.createDirectories(dir, PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rwx------")));
        } catch (IOException e) {
            throw new FableException("cannot create the Fable runtime directory " + dir + ": " + e, e);
        }
    }

    public static Path defaultDirectory() {
        String p = System.getProperty("fable.runtime.dir");
        if (p != null) return Path.of(p);
        String xdg = System.getenv("XDG_RUNTIME_DIR");
        if (xdg != null && !xdg.isBlank() && Files.isDirectory(Path.of(xdg))) return Path.of(xdg, "fable");
        return Path.of("/tmp", "fable-" + Libc.getuid());
    }

    public static String checkName(String name) {
        if (name == null || !NAME.matcher(name).matches()) {
            throw new IllegalArgumentException("invalid endpoint name '" + name
                    + "': use 1-64 characters from A-Z a-z 0-9 . _ - starting with a letter or digit");
        }
        return name;
    }

    public Path socketPath(String name) {
        return dir.resolve(name + ".sock");
    }

    @Override
    public Registration register(String name) {
        checkName(name);
        Path lockPath = dir.resolve(name + ".lock").toAbsolutePath().normalize();
        if (!HELD.add(lockPath)) {
            throw new NameInUseException("endpoint name '" + name + "' is already registered by pid " + ProcessHandle.current().pid()
                    + " (this process; lock " + lockPath + "); close that endpoint first or pick another name");
        }
        boolean registered = false;
        try {
            FileChannel lockFile = FileChannel.open(lockPath, StandardOpenOption.CREATE, StandardOpenOption.READ, StandardOpenOption.WRITE);
            FileLock lock = lockFile.tryLock();
            if (lock == null) {
                String holder = "another process";
                try {
                    holder = "pid " + new String(Files.readAllBytes(lockPath), StandardCharsets.US_ASCII).trim();
                } catch (IOException ignored) {
                    // keep the generic wording
                }
                lockFile.close();
                throw new NameInUseException("endpoint name '" + name + "' is already registered by " + holder
                        + " (lock " + lockPath + "); pick another name or stop that process");
            }
            lockFile.truncate(0).write(ByteBuffer.wrap((ProcessHandle.current().pid() + "\n").getBytes(StandardCharsets.US_ASCII)), 0);
            UdsRegistration r = new UdsRegistration(name, lockPath, lockFile, lock);
            registered = true;
            return r;
        } catch (IOException e) {
            throw new FableException("cannot register endpoint name '" + name + "' in " + dir + ": " + e, e);
        } finally {
            if (!registered) HELD.remove(lockPath);
        }
    }

    @Override
    public ControlChannel connect(String name, long timeoutNanos) {
        checkName(name);
        Path sock = socketPath(name);
        long deadline = System.nanoTime() + Math.max(0, timeoutNanos);
        long backoffMillis = 1;
        while (true) {
            SocketChannel ch = null;
            try {
                ch = SocketChannel.open(StandardProtocolFamily.UNIX);
                ch.connect(UnixDomainSocketAddress.of(sock));
                checkPeer(ch, "listener '" + name + "'");
                return new ControlChannel(ch, "to '" + name + "' via " + sock);
            } catch (IOException e) {
                close(ch);
                boolean absent = e instanceof ConnectException || e instanceof NoSuchFileException || !Files.exists(sock);
                if (!absent) throw new FableException("cannot connect to endpoint '" + name + "' at " + sock + ": " + e, e);
                if (System.nanoTime() - deadline >= 0) {
                    throw new NameNotFoundException("no endpoint is listening as '" + name + "' (no live socket at " + sock
                            + "); start the listener first (Fable.register(\"" + name + "\").listen(), or 'fable recv " + name
                            + "'), or pass a connect timeout to wait for it");
                }
            } catch (RuntimeException e) {
                close(ch);
                throw e;
            }
            try {
                Thread.sleep(backoffMillis);   // waiting for a listener to appear: not the data path
            } catch (InterruptedException ie) {
                Thread.currentThread().interrupt();
                throw new FableException("interrupted while waiting for endpoint '" + name + "'", ie);
            }
            backoffMillis = Math.min(backoffMillis * 2, 20);
        }
    }

    private static void close(SocketChannel ch) {
        if (ch != null) {
            try {
                ch.close();
            } catch (IOException ignored) {
                // nothing to report
            }
        }
    }

    /** Refuses a peer that runs as another user (SO_PEERCRED). */
    static void checkPeer(SocketChannel ch, String who) throws IOException {
        UnixDomainPrincipal p = ch.getOption(ExtendedSocketOptions.SO_PEERCRED);
        String me = System.getProperty("user.name");
        if (!p.user().getName().equals(me)) {
            throw new FableException(who + " runs as user '" + p.user().getName() + "', this process as '" + me
                    + "'; Fable connects only processes of the same user");
        }
    }

    private final class UdsRegistration implements Registration {
        private final String name;
        private final Path lockPath;
        private final FileChannel lockFile;
        private final FileLock lock;
        private ServerSocketChannel server;
        private Selector selector;
        private boolean closed;

        UdsRegistration(String name, Path lockPath, FileChannel lockFile, FileLock lock) {
            this.name = name;
            this.lockPath = lockPath;
            this.lockFile = lockFile;
            this.lock = lock;
        }

        @Override
        public String name() {
            return name;
        }

        @Override
        public synchronized void listen() {
            if (server != null) return;
            Path sock = socketPath(name);
            try {
                Files.deleteIfExists(sock);   // we hold the lock: any socket file here is a dead listener's
                server = ServerSocketChannel.open(StandardProtocolFamily.UNIX);
                server.bind(UnixDomainSocketAddress.of(sock), 128);
                server.configureBlocking(false);
                selector = Selector.open();
                server.register(selector, SelectionKey.OP_ACCEPT);
            } catch (IOException e) {
                throw new FableException("cannot listen as '" + name + "' on " + sock + ": " + e, e);
            }
        }

        @Override
        public ControlChannel accept(long timeoutNanos) {
            ServerSocketChannel s;
            Selector sel;
            synchronized (this) {
                s = server;
                sel = selector;
            }
            if (s == null) throw new IllegalStateException("endpoint '" + name + "' is not listening: call listen() first");
            long deadline = System.nanoTime() + timeoutNanos;
            try {
                while (true) {
                    SocketChannel ch = s.accept();
                    if (ch != null) {
                        try {
                            checkPeer(ch, "a connecting process");
                            return new ControlChannel(ch, "from a peer of '" + name + "'");
                        } catch (FableException e) {
                            ch.close();
                            System.getLogger("dev.fable.naming").log(System.Logger.Level.WARNING, e.getMessage());
                            continue;
                        }
                    }
                    if (timeoutNanos == 0) return null;
                    long wait = 0;
                    if (timeoutNanos > 0) {
                        long left = deadline - System.nanoTime();
                        if (left <= 0) return null;
                        wait = Math.max(1, TimeUnit.NANOSECONDS.toMillis(left));
                    }
                    sel.select(wait);
                    sel.selectedKeys().clear();
                }
            } catch (IOException e) {
                if (!s.isOpen()) throw new FableException("endpoint '" + name + "' was closed", e);
                throw new FableException("accept failed on endpoint '" + name + "': " + e, e);
            }
        }

        @Override
        public synchronized void close() {
            if (closed) return;   // once the name is released, its socket and lock may be another owner's
            closed = true;
            try {
                if (server != null) {
                    server.close();
                    selector.close();
                    Files.deleteIfExists(socketPath(name));
                }
                // The lock file stays: deleting it would let two processes lock different inodes of one name.
                lock.release();
                lockFile.close();
            } catch (IOException e) {
                System.getLogger("dev.fable.naming").log(System.Logger.Level.WARNING, "closing endpoint '" + name + "'", e);
            } finally {
                HELD.remove(lockPath);
            }
        }
    }
}
