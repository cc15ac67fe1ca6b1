package dev.fable.internal;

import java.io.IOException;
import java.nio.channels.SocketChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.UserPrincipal;

import jdk.net.ExtendedSocketOptions;

/**
 * Which uid is at the other end of a Unix socket, from the kernel's credentials
 * ({@code SO_PEERCRED}: the uid of the process that connected, or that listened, at the time).
 * Fable connects only processes of the same numeric uid; names are never compared (a uid without a
 * passwd entry, as OpenShift assigns, has no name, and two names may share a uid).
 *
 * <p>How the uid is read: the JDK's {@link ExtendedSocketOptions#SO_PEERCRED} makes the
 * {@code getsockopt(fd, SOL_SOCKET, SO_PEERCRED)} call on the channel's own descriptor (which Java
 * code cannot reach without {@code --add-opens}; a search of {@code /proc/self/fd} could pick the
 * wrong socket) and builds its user principal from the numeric uid, naming it by {@code getpwuid}
 * or, without a passwd entry, by the decimal uid. That principal's {@code hashCode} is the uid
 * ({@code sun.nio.fs.UnixUserPrincipals.User}, unchanged since JDK 7). Because that is the JDK's
 * implementation rather than its specification, it is verified once per process against the
 * {@code unix:uid} attribute of {@code java.home} (the same principal class, built from
 * {@code stat}'s uid); a JDK where they differ fails with one line instead of comparing wrongly.
 */
public final class PeerUser {
    private PeerUser() {}

    private static volatile boolean verified;

    /** This process's effective uid: the one its peers see. */
    public static int me() {
        return Libc.geteuid();
    }

    /** The uid of the process at the other end of the connected Unix socket {@code ch}. */
    public static int uid(SocketChannel ch) throws IOException {
        UserPrincipal user = ch.getOption(ExtendedSocketOptions.SO_PEERCRED).user();
        if (!verified) verify();
        return user.hashCode();
    }

    /** Checks once that this JDK's Unix user principals hash to their uid (see the class comment). */
    private static void verify() throws IOException {
        Path home = Path.of(System.getProperty("java.home"));
        int uid = (Integer) Files.getAttribute(home, "unix:uid");
        UserPrincipal owner = Files.getOwner(home);
        if (owner.hashCode() != uid) {
            throw new IllegalStateException("this JDK (" + System.getProperty("java.version") + ", " + owner.getClass().getName()
                    + ") does not carry the uid in its user principals, so Fable cannot check Unix-socket peers by uid; "
                    + "run Fable on another JDK build and report this one");
        }
        verified = true;
    }
}
