package dev.fable.transport;

import java.lang.foreign.Arena;

/** Closing a connection's shared arena while another thread may still be inside a call on it. */
public final class Arenas {
    private Arenas() {}

    /**
     * Closes {@code arena}. A thread still inside poll/claim makes the close handshake fail; retry
     * briefly, then leave the memory to be freed at exit and log it.
     */
    public static void close(Arena arena, Object owner) {
        for (int attempt = 0; ; attempt++) {
            try {
                arena.close();
                return;
            } catch (IllegalStateException e) {
                if (attempt > 1000) {
                    System.getLogger("dev.fable.transport").log(System.Logger.Level.WARNING,
                            "could not free the memory of " + owner + " (a thread keeps using it); it is freed at exit", e);
                    return;
                }
                Thread.onSpinWait();
            }
        }
    }
}
