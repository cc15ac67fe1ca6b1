/**
 * The name daemon's wire protocol, shared by {@code fabled}, its clients and peer daemons.
 *
 * <p>A frame is a big-endian {@code int} length (1 … {@link dev.fable.naming.protocol.Wire#MAX_FRAME})
 * followed by that many payload bytes. A payload starts with the protocol version (one byte), the
 * message type (one byte) and a request id ({@code int}; a reply carries the id of its request).
 * Strings are a {@code u16} byte length ({@code 0xFFFF}: null) then UTF-8, at most
 * {@link dev.fable.naming.protocol.Wire#MAX_STRING} bytes. Every length and count is checked against
 * the bytes actually present before anything is allocated, so no input makes the decoder allocate
 * more than one frame. See {@code docs/naming.md} for the message table.
 */
package dev.fable.naming.protocol;
