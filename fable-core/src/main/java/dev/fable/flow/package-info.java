/**
 * The connection an application holds: {@link dev.fable.flow.LiveConnection}, a chain of transport
 * legs ({@link dev.fable.transport.Leg}), one per epoch, and the make-before-break switch between them
 * (docs/reconfiguration.md). Three parts, one duty each:
 * <ul>
 *   <li>{@code SendRole}: claim/commit on the application's sending thread; moves the output at the
 *       next claim during a switch, or returns null while it cannot (never waits in {@code claim(int)}).</li>
 *   <li>{@code ReceiveRole}: poll/receive/release on the receiving thread; follows the peer's
 *       end-of-epoch markers, retires old legs.</li>
 *   <li>{@code Switcher}: makes and installs the next leg, acts for idle roles (the finisher) and closes
 *       old legs, on threads that are not the roles'.</li>
 * </ul>
 * A switcher takes a role only while its thread is idle, through an asymmetric Dekker gate per role.
 * The role objects are padded so that the sending and the receiving thread never write the same cache line.
 */
package dev.fable.flow;
