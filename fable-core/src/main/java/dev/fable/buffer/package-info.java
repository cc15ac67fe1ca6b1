/**
 * Buffers, below the transports that hand them out.
 * <ul>
 *   <li>{@link dev.fable.buffer.SlotBuffer}: the one {@code Buffer} implementation, a recycled reference to a
 *       transport's memory (a shared-memory slot, a private copy, or a socket's staging or receive area),
 *       single-use between hand-out and commit/release; owned by a {@link dev.fable.buffer.BufferOwner}
 *       (a transport's writer or reader).</li>
 *   <li>{@link dev.fable.buffer.LeakDetector}: reports buffers dropped without commit or release; one per set-up.</li>
 *   <li>{@link dev.fable.buffer.MessageAssembler}, {@link dev.fable.buffer.Messages}: whole messages over
 *       fragments ({@code receiveMessage}, {@code send}).</li>
 * </ul>
 */
package dev.fable.buffer;
