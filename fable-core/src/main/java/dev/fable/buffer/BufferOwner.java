package dev.fable.buffer;

/**
 * The transport side that handed a {@link SlotBuffer} out and takes it back. Called on the thread
 * that uses the buffer (the connection's sending or receiving thread).
 */
public interface BufferOwner {
    /** Publishes a claimed buffer; {@code more} marks a fragment that the next commit continues. */
    void commit(SlotBuffer buffer, boolean more);

    /** Gives a polled buffer back to the writer (out-of-order allowed). */
    void release(SlotBuffer buffer);
}
