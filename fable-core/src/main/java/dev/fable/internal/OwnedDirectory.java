package dev.fable.internal;

import java.io.IOException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.attribute.FileAttribute;
import java.nio.file.attribute.PosixFilePermission;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.Map;
import java.util.Set;

/**
 * A directory that only this process's user can change: Fable's runtime directory (daemon and
 * endpoint sockets), state directory (host identity) and shared-memory directory (pools, rings).
 *
 * <p>{@link #ensure} creates a missing directory with mode 0700 in the {@code mkdir} call itself, so
 * there is no moment in which it is more open (the umask can only narrow it); missing parents are
 * created 0700 as well. A directory that exists already is used only if
 * <ul>
 *   <li>it is owned by this process's effective uid ({@code geteuid}), and</li>
 *   <li>neither group nor others may write in it (no bit of 022): nobody else can plant, replace or
 *       remove a socket or file in it.</li>
 * </ul>
 * Read and search access for others (0755) is accepted: every socket in these directories checks
 * its peer's uid ({@link PeerUser}) and every secret file in them is 0600. A symbolic link in the
 * directory's place is followed only if the link itself is owned by this uid or by root — a link
 * that someone else planted (in {@code /tmp}, say) cannot redirect Fable — and where it leads must
 * pass the same checks; a chain of links is checked link by link. Directories above it are not
 * checked: {@code /tmp}'s sticky bit keeps others from renaming an entry they do not own, and a
 * directory configured under one that others may write to is the user's own choice.
 *
 * <p>A refusal is one line naming the directory, its owner and mode, and what to do.
 */
public final class OwnedDirectory {
    private OwnedDirectory() {}

    private static final int S_IFMT = 0170000;
    private static final int S_IFDIR = 0040000;
    private static final int S_IFLNK = 0120000;
    private static final int GROUP_OTHER_WRITE = 0022;
    private static final int MAX_HOPS = 40;
    private static final FileAttribute<Set<PosixFilePermission>> PRIVATE =
            PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rwx------"));

    /** Thrown when a directory exists but belongs to someone else or others may write in it; the message is the one line to show. */
    public static final class RefusedException extends IOException {
        RefusedException(String message) {
            super(message);
        }
    }

    /**
     * Creates {@code dir} (0700) if it is missing, else checks that this uid owns it and that group and
     * others cannot write in it (see the class comment).
     *
     * @param what    what the directory is, for the message ("Fable runtime directory")
     * @param setting the property that moves it, for the message ("fable.runtime.dir")
     * @return {@code dir}, unchanged (a link stays a link: callers may rely on where it points later)
     * @throws RefusedException if it exists and must not be used
     * @throws IOException      if it cannot be created or read
     */
    public static Path ensure(Path dir, String what, String setting) throws IOException {
        return verify(dir, what, setting, true);
    }

    /**
     * Checks an existing {@code dir} like {@link #ensure}, without creating it.
     *
     * @throws NoSuchFileException if it (or where its link leads) does not exist
     * @throws RefusedException    if it must not be used
     */
    public static Path check(Path dir, String what, String setting) throws IOException {
        return verify(dir, what, setting, false);
    }

    private static Path verify(Path dir, String what, String setting, boolean create) throws IOException {
        int me = Libc.geteuid();
        Path at = dir.toAbsolutePath();
        for (int step = 0; step <= MAX_HOPS; step++) {
            Map<String, Object> a;
            try {
                a = Files.readAttributes(at, "unix:uid,mode", LinkOption.NOFOLLOW_LINKS);
            } catch (NoSuchFileException e) {
                if (!create) throw e;
                create(at);
                continue;   // check what is there now: ours, or what another process put there first
            }
            int uid = (Integer) a.get("uid");
            int mode = (Integer) a.get("mode");
            String where = at.equals(dir.toAbsolutePath()) ? dir.toString() : dir + " (-> " + at + ")";
            if ((mode & S_IFMT) == S_IFLNK) {
                if (uid != me && uid != 0) {
                    throw refused(what, where, "it is a symbolic link owned by uid " + uid + ", not by this process's uid " + me
                            + " (someone else may have created it); remove it", setting);
                }
                Path target = Files.readSymbolicLink(at);
                at = at.getParent().resolve(target);
                continue;
            }
            if ((mode & S_IFMT) != S_IFDIR) {
                throw refused(what, where, "it is not a directory; remove it", setting);
            }
            if (uid != me) {
                throw refused(what, where, "it is owned by uid " + uid + " (mode " + octal(mode) + "), not by this process's uid " + me
                        + " (someone else may have created it); remove it", setting);
            }
            if ((mode & GROUP_OTHER_WRITE) != 0) {
                throw refused(what, where, "its mode " + octal(mode) + " lets group or others write in it; chmod 700 " + at, setting);
            }
            return dir;
        }
        throw refused(what, dir.toString(), "it leads through more than " + MAX_HOPS + " symbolic links (or keeps vanishing)", setting);
    }

    /** Creates {@code dir} 0700 in one {@code mkdir}; a directory another process created first is checked by the caller. */
    private static void create(Path dir) throws IOException {
        Path parent = dir.getParent();
        if (parent != null && !Files.isDirectory(parent)) Files.createDirectories(parent, PRIVATE);
        try {
            Files.createDirectory(dir, PRIVATE);
        } catch (FileAlreadyExistsException raced) {
            // checked by the caller like any existing directory
        }
    }

    private static RefusedException refused(String what, String where, String why, String setting) {
        return new RefusedException("refusing the " + what + " " + where + ": " + why + ", or set " + setting
                + " to a directory of your own");
    }

    private static String octal(int mode) {
        return String.format("%04o", mode & 07777);
    }
}
