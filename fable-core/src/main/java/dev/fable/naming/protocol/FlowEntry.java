package dev.fable.naming.protocol;

/**
 * One row of {@code fable flows}: one end of one connection.
 *
 * @param connectionId   the same at both ends of a connection (0: unknown); the daemon pairs the ends by it
 * @param connector      this end connected (only it can switch the connection)
 * @param waitMode       how this end waits now ({@code spin}, {@code block}, {@code adaptive}, followed by {@code " fixed"}
 *                       when no policy may change it ({@link dev.fable.ConnectOptions#fixedWaitMode}); null: unknown)
 * @param waitOverridden the wait mode was set by a switch (the contention policy), not by this end's options
 * @param sendCpu        the CPU this end's sending thread last waited on in the last 0.5 s, else -1
 * @param recvCpu        the same for its receiving thread
 */
public record FlowEntry(long pid, String localName, String peerName, String transport, String reason, long epoch,
                 long bytesSent, long bytesReceived, long messagesSent, long messagesReceived, long openedAtMillis,
                 long connectionId, boolean connector, String waitMode, boolean waitOverridden, int sendCpu, int recvCpu) {
    /** A row without connection details (tests, other flow sources). */
    public FlowEntry(long pid, String localName, String peerName, String transport, String reason, long epoch,
                     long bytesSent, long bytesReceived, long messagesSent, long messagesReceived, long openedAtMillis) {
        this(pid, localName, peerName, transport, reason, epoch, bytesSent, bytesReceived, messagesSent, messagesReceived,
                openedAtMillis, 0, false, null, false, -1, -1);
    }

    public FlowEntry withReason(String r) {
        return new FlowEntry(pid, localName, peerName, transport, r, epoch, bytesSent, bytesReceived, messagesSent,
                messagesReceived, openedAtMillis, connectionId, connector, waitMode, waitOverridden, sendCpu, recvCpu);
    }
}
