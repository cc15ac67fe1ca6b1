package dev.fable.testing;

import dev.fable.internal.Libc;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetSocketAddress;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * The connected TCP sockets of this process as the kernel sees them ({@code /proc/self/fd},
 * {@code getsockname}, {@code getpeername}), and their options read back with {@code getsockopt}:
 * what a test checks is what the kernel has, not what Java was asked to set.
 */
public final class TcpSockets {
    private TcpSockets() {}

    public static final int SO_KEEPALIVE = 9;
    public static final int TCP_KEEPIDLE = 4;
    public static final int TCP_KEEPINTVL = 5;
    public static final int TCP_KEEPCNT = 6;

    /** One connected socket: its descriptor and both addresses. */
    public record Socket(int fd, InetSocketAddress local, InetSocketAddress peer) {
        public long option(int level, int name) {
            long v = Libc.intOption(fd, level, name);
            if (v < 0) throw new AssertionError("getsockopt(" + level + ", " + name + ") on fd " + fd + " failed: " + Libc.strerror((int) -v));
            return v;
        }

        public boolean keepalive() { return option(Libc.SOL_SOCKET, SO_KEEPALIVE) != 0; }
        public long keepIdle() { return option(Libc.IPPROTO_TCP, TCP_KEEPIDLE); }
        public long keepInterval() { return option(Libc.IPPROTO_TCP, TCP_KEEPINTVL); }
        public long keepCount() { return option(Libc.IPPROTO_TCP, TCP_KEEPCNT); }
        public long userTimeoutMillis() { return option(Libc.IPPROTO_TCP, Libc.TCP_USER_TIMEOUT); }

        /** "keepalive=1 idle=3 intvl=1 cnt=4 user_timeout=6000" */
        public String options() {
            return "keepalive=" + (keepalive() ? 1 : 0) + " idle=" + keepIdle() + " intvl=" + keepInterval() + " cnt=" + keepCount()
                    + " user_timeout=" + userTimeoutMillis();
        }

        @Override
        public String toString() {
            return "fd " + fd + " " + local + " -> " + peer;
        }
    }

    /**
     * The TCP sockets process {@code pid} listens on now ("address:port" as the kernel prints it, hex), from its
     * descriptors' inodes and the LISTEN rows of {@code /proc/PID/net/tcp} and {@code tcp6}: what the kernel has.
     */
    public static List<String> listeningOf(long pid) {
        try {
            java.util.Set<String> inodes = new java.util.HashSet<>();
            try (DirectoryStream<Path> fds = Files.newDirectoryStream(Path.of("/proc/" + pid + "/fd"))) {
                for (Path p : fds) {
                    try {
                        String target = Files.readSymbolicLink(p).toString();
                        if (target.startsWith("socket:[")) inodes.add(target.substring(8, target.length() - 1));
                    } catch (IOException closedMeanwhile) {
                        // the descriptor closed while we looked
                    }
                }
            }
            List<String> out = new ArrayList<>();
            for (String table : new String[] {"tcp", "tcp6"}) {
                Path t = Path.of("/proc/" + pid + "/net/" + table);
                if (!Files.exists(t)) continue;
                for (String line : Files.readAllLines(t)) {
                    String[] f = line.trim().split("\\s+");
                    // sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode; 0A is LISTEN
                    if (f.length > 9 && f[3].equals("0A") && inodes.contains(f[9])) out.add(table + " " + f[1]);
                }
            }
            return out;
        } catch (IOException e) {
            throw new UncheckedIOException("reading the sockets of pid " + pid, e);
        }
    }

    /** Every connected IPv4/IPv6 stream socket of this process now. */
    public static List<Socket> connected() {
        List<Socket> out = new ArrayList<>();
        try (DirectoryStream<Path> fds = Files.newDirectoryStream(Path.of("/proc/self/fd"))) {
            for (Path p : fds) {
                int fd = Integer.parseInt(p.getFileName().toString());
                InetSocketAddress peer = Libc.socketAddress(fd, true);
                if (peer == null || Libc.intOption(fd, Libc.SOL_SOCKET, Libc.SO_TYPE) != Libc.SOCK_STREAM) continue;
                InetSocketAddress local = Libc.socketAddress(fd, false);
                if (local != null) out.add(new Socket(fd, local, peer));
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return out;
    }

    /** The socket of this process bound to {@code local} and connected to {@code peer}; fails if there is none. */
    public static Socket between(InetSocketAddress local, InetSocketAddress peer) {
        List<Socket> all = connected();
        return all.stream().filter(s -> s.local().equals(local) && s.peer().equals(peer)).findFirst()
                .orElseThrow(() -> new AssertionError("no TCP socket of this process is " + local + " -> " + peer + "; it has " + all));
    }
}
