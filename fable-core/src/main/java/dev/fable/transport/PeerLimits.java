package dev.fable.transport;

/**
 * What this side lets a peer make it hold: the receiver's own quota, chosen here, never the peer's
 * declaration. Everything a connection allocates or maps for the direction it reads is sized from the
 * peer's handshake, so the handshake is refused when the peer declares more than these:
 * <ul>
 *   <li>{@code maxPoolBytes}: a shared-memory peer's pool and ring together (both are mapped here; an
 *       untrusted reader's private copies, at most one per peer slot, are bounded by the pool too);</li>
 *   <li>{@code maxSlots}: a shared-memory peer's slot count (this side keeps about 60 B of heap per
 *       peer slot: a slot view and a held flag);</li>
 *   <li>{@code maxFragment}: the largest fragment a unix, tcp or tls peer may send (a stream reader's
 *       receive areas are at most {@code StreamReader.MAX_AREAS} of max(4 frames, 256 KiB)).</li>
 * </ul>
 * One per set-up ({@code Fable.Context}); carried to the transports in {@link LegServices}.
 */
public record PeerLimits(long maxPoolBytes, int maxSlots, int maxFragment) {
    /** Default pool-and-ring cap per direction, 64 MiB (the default pool is 8 MiB). */
    public static final long DEFAULT_MAX_POOL_BYTES = 64L << 20;
    /** Default slot-count cap, 65,536 (about 4 MiB of heap at most). */
    public static final int DEFAULT_MAX_SLOTS = 1 << 16;
    /** Default stream fragment cap, 1 MiB (the default slot, and so fragment, is 64 KiB). */
    public static final int DEFAULT_MAX_FRAGMENT = 1 << 20;
    /** The system property (or environment variable, see {@code internal.Settings}) of each default. */
    public static final String POOL_PROPERTY = "fable.shm.maxPeerPoolBytes";
    public static final String SLOTS_PROPERTY = "fable.shm.maxPeerSlots";
    public static final String FRAGMENT_PROPERTY = "fable.maxPeerFragment";

    public static final PeerLimits DEFAULTS = new PeerLimits(DEFAULT_MAX_POOL_BYTES, DEFAULT_MAX_SLOTS, DEFAULT_MAX_FRAGMENT);

    public PeerLimits {
        checkPoolBytes(maxPoolBytes);
        checkSlots(maxSlots);
        checkFragment(maxFragment);
    }

    /** @throws IllegalArgumentException unless at least 128 KiB (below that not even 2 slots and a ring with the smallest log, 64 KiB, fit) */
    public static long checkPoolBytes(long bytes) {
        if (bytes < 128 << 10) throw new IllegalArgumentException("maxPeerPoolBytes must be at least 131072 B, not " + bytes);
        return bytes;
    }

    /** @throws IllegalArgumentException unless 2 … 2^24 (a slot pointer's index) */
    public static int checkSlots(long slots) {
        if (slots < 2 || slots > 1 << 24) throw new IllegalArgumentException("maxPeerSlots must be between 2 and 16777216, not " + slots);
        return (int) slots;
    }

    /** @throws IllegalArgumentException unless 64 B … 16 MiB (the stream frame's own limit) */
    public static int checkFragment(long bytes) {
        if (bytes < 64 || bytes > 16 << 20) {
            throw new IllegalArgumentException("maxPeerFragment must be between 64 B and 16 MiB (16777216), not " + bytes);
        }
        return (int) bytes;
    }
}
