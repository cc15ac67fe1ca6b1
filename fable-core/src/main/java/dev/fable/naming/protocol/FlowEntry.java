package dev.fable.naming.protocol;

/**
 * One row of {@code fable flows}: one end of one connection.
 *
 * @param pid            the process that holds this end
 * @param localName      this end's endpoint name
 * @param peerName       the other end's endpoint name (a plain peer's address)
 * @param transport      the transport in use
 * @param reason         why that transport: the route's reason, the last switch's reason with its epoch, or
 *                       {@code accepted} at the accepting end (the daemon shows the connector's reason there when it has both ends)
 * @param epoch          the epoch of the transport in use (0 before any switch)
 * @param bytesSent      payload bytes this end committed
 * @param bytesReceived  payload bytes this end received
 * @param messagesSent   whole messages this end committed ({@link dev.fable.Connection#messagesSent()})
 * @param messagesReceived whole messages this end received ({@link dev.fable.Connection#messagesReceived()})
 * @param openedAtMillis when this end was opened, in milliseconds since the epoch
 * @param connectionId   the same at both ends of a connection (0: unknown); the daemon pairs the ends by it
 * @param connector      this end connected (only it can switch the connection)
 * @param waitMode       how this end waits now ({@code spin}, {@code block}, {@code adaptive}, followed by {@code " fixed"}
 *                       when no policy may change it ({@link dev.fable.ConnectOptions#fixedWaitMode}); null: unknown)
 * @param waitOverridden the wait mode was set by a switch (the contention policy), not by this end's options
 * @param sendCpu        the CPU this end's sending thread last waited on in the last 0.5 s, else -1
 * @param recvCpu        the same for its receiving thread
 * @param fanout         this end's part in a subscription ({@code Endpoint.publish}, {@code Fable.subscribe}), or null
 *                       for a one-to-one connection
 */
public record FlowEntry(long pid, String localName, String peerName, String transport, String reason, long epoch,
                 long bytesSent, long bytesReceived, long messagesSent, long messagesReceived, long openedAtMillis,
                 long connectionId, boolean connector, String waitMode, boolean waitOverridden, int sendCpu, int recvCpu,
                 Fanout fanout) {
    /**
     * One end of a subscription, as {@code fable flows} shows it. On the wire: an optional section after a
     * flow list's rows, only in frames with such a row (see {@link Messages#encodeFlows}).
     *
     * @param publisher true at the publisher's end (the row's peer is one of its subscribers), false at the subscriber's
     * @param dropped   publisher's end: messages dropped for this subscriber because its queue was full;
     *                  subscriber's end: the drops the publisher told it so far
     * @param slotsHeld publisher's end: slots of its fan-out pool this subscriber holds (references it was sent and had
     *                  not released when the publisher last looked: the count is lazy, so it may include some released
     *                  since); subscriber's end: -1
     * @param slotCount publisher's end: this subscriber's quota of held slots (beyond it, messages are dropped for it);
     *                  subscriber's end: -1
     * @param privacy   the subscriber's privacy model: {@code relaxed} (reads the publisher's slots in place),
     *                  {@code strict} (copies each at poll), {@code early} (the publisher writes into the subscriber's
     *                  own pool), {@code copy} (a socket transport), each with {@code +log} when small messages to all come
     *                  through the publisher's broadcast log (copied at poll); at the publisher's end as the subscriber declared it
     */
    public record Fanout(boolean publisher, long dropped, int slotsHeld, int slotCount, String privacy) {
        /**
         * Checks that the privacy model is given.
         *
         * @param publisher true at the publisher's end
         * @param dropped   the drops counted for (or told to) this subscriber
         * @param slotsHeld publisher's end: slots this subscriber holds; else -1
         * @param slotCount publisher's end: this subscriber's quota; else -1
         * @param privacy   the subscriber's privacy model, not null
         */
        public Fanout {
            java.util.Objects.requireNonNull(privacy, "privacy");
        }
    }

    /**
     * A row of a one-to-one connection (no {@link #fanout()}).
     *
     * @param pid              the process that holds this end
     * @param localName        this end's endpoint name
     * @param peerName         the other end's endpoint name
     * @param transport        the transport in use
     * @param reason           why that transport
     * @param epoch            the epoch of the transport in use
     * @param bytesSent        payload bytes this end committed
     * @param bytesReceived    payload bytes this end received
     * @param messagesSent     whole messages this end committed
     * @param messagesReceived whole messages this end received
     * @param openedAtMillis   when this end was opened, in milliseconds since the epoch
     * @param connectionId     the same at both ends of a connection (0: unknown)
     * @param connector        this end connected
     * @param waitMode         how this end waits now (null: unknown)
     * @param waitOverridden   the wait mode was set by a switch
     * @param sendCpu          the CPU this end's sending thread last waited on in the last 0.5 s, else -1
     * @param recvCpu          the same for its receiving thread
     */
    public FlowEntry(long pid, String localName, String peerName, String transport, String reason, long epoch,
                     long bytesSent, long bytesReceived, long messagesSent, long messagesReceived, long openedAtMillis,
                     long connectionId, boolean connector, String waitMode, boolean waitOverridden, int sendCpu, int recvCpu) {
        this(pid, localName, peerName, transport, reason, epoch, bytesSent, bytesReceived, messagesSent, messagesReceived,
                openedAtMillis, connectionId, connector, waitMode, waitOverridden, sendCpu, recvCpu, null);
    }

    /**
     * A row without connection details (tests, other flow sources): connection id 0, not the connector,
     * wait mode unknown and not overridden, no CPUs (-1), not a subscription.
     *
     * @param pid              the process that holds this end
     * @param localName        this end's endpoint name
     * @param peerName         the other end's endpoint name
     * @param transport        the transport in use
     * @param reason           why that transport
     * @param epoch            the epoch of the transport in use
     * @param bytesSent        payload bytes this end committed
     * @param bytesReceived    payload bytes this end received
     * @param messagesSent     whole messages this end committed
     * @param messagesReceived whole messages this end received
     * @param openedAtMillis   when this end was opened, in milliseconds since the epoch
     */
    public FlowEntry(long pid, String localName, String peerName, String transport, String reason, long epoch,
                     long bytesSent, long bytesReceived, long messagesSent, long messagesReceived, long openedAtMillis) {
        this(pid, localName, peerName, transport, reason, epoch, bytesSent, bytesReceived, messagesSent, messagesReceived,
                openedAtMillis, 0, false, null, false, -1, -1, null);
    }

    /**
     * This row with another reason (the daemon shows the connector's reason at the accepting end).
     *
     * @param r the reason to show
     * @return a copy of this row whose {@link #reason()} is {@code r}
     */
    public FlowEntry withReason(String r) {
        return new FlowEntry(pid, localName, peerName, transport, r, epoch, bytesSent, bytesReceived, messagesSent,
                messagesReceived, openedAtMillis, connectionId, connector, waitMode, waitOverridden, sendCpu, recvCpu, fanout);
    }

    /**
     * This row with another part in a subscription.
     *
     * @param f the end's part in a subscription, or null
     * @return a copy of this row whose {@link #fanout()} is {@code f}
     */
    public FlowEntry withFanout(Fanout f) {
        return new FlowEntry(pid, localName, peerName, transport, reason, epoch, bytesSent, bytesReceived, messagesSent,
                messagesReceived, openedAtMillis, connectionId, connector, waitMode, waitOverridden, sendCpu, recvCpu, f);
    }
}
