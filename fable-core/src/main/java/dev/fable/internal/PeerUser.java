package dev.fable.internal;

import java.io.IOException;
import java.nio.channels.SocketChannel;

import jdk.net.ExtendedSocketOptions;

/** Who is at the other end of a Unix socket, from the kernel's credentials ({@code SO_PEERCRED}). */
public final class PeerUser {
    private PeerUser() {}

    private static final String ME = System.getProperty("user.name");

    /** This process's user name. */
    public static String me() {
        return ME;
    }

    /** The peer's user name if it is not this process's user, else null. */
    public static String otherUser(SocketChannel ch) throws IOException {
        String peer = ch.getOption(ExtendedSocketOptions.SO_PEERCRED).user().getName();
        return peer.equals(ME) ? null : peer;
    }
}
