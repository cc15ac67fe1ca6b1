package dev.fable.buffer;

/**
 * A connection that can carry a lent read buffer to its peer without copying it (the connection the
 * application holds; see {@link SlotBuffer#forward}).
 */
public interface ForwardTarget {
    /** {@link #forwardLent}: the peer will read the slot in place; the target gives it back to the lender later. */
    int OFFERED = 0;
    /** {@link #forwardLent}: no room now; nothing was published. */
    int FULL = 1;
    /** {@link #forwardLent}: this target cannot reference that memory now (another transport, too many pools): copy. */
    int COPY = 2;

    /**
     * Sending role of this target: publishes a reference to slot {@code slot} of {@code pool} ({@code length}
     * bytes, {@code more} as the fragment's), which {@code lender} lent as {@code b}. Never blocks.
     */
    int forwardLent(SlotBuffer b, Lender lender, Lender.LentPool pool, int slot, int length, boolean more);

}
