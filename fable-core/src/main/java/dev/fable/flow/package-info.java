/**
 * Buffers, their ownership and the connection an application holds.
 *
 * <ul>
 *   <li>{@link dev.fable.buffer.SlotBuffer}: the one {@code Buffer} implementation, a recycled reference to a
 *       transport's memory, single-use between hand-out and commit/release; owned by a
 *       {@link dev.fable.buffer.BufferOwner} (a transport's writer or reader).</li>
 *   <li>{@link dev.fable.buffer.LeakDetector}: reports buffers dropped without commit or release.</li>
 *   <li>{@link dev.fable.flow.LiveConnection}: the connection the application holds, a chain of transport
 *       legs, one per epoch, and the make-before-break switch between them (docs/reconfiguration.md).
 *       The application's sending and receiving threads own their directions; a switcher takes a direction
 *       only while its thread is idle, through an asymmetric Dekker gate.</li>
 *   <li>{@link dev.fable.buffer.MessageAssembler}, {@link dev.fable.buffer.Messages}: whole messages over fragments
 *       ({@code receiveMessage}, {@code send}).</li>
 * </ul>
 */
package dev.fable.flow;
