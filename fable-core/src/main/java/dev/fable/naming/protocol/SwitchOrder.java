package dev.fable.naming.protocol;

/**
 * A switch the daemon orders this process to make: connection {@code connectionId} (0: the first that can switch
 * among those named {@code localName}) to {@code transport}, with wait mode {@code waitMode} (see
 * {@link dev.fable.naming.NameService#reconfigure(long, String, String, String, String)}).
 *
 * @param localName    the local name of the connection, as {@code fable flows} lists it
 * @param connectionId the connection's id, the same at both ends; 0: the first connection named {@code localName}
 *                     that can switch
 * @param transport    the transport to switch to
 * @param waitMode     {@code spin}, {@code block} or {@code adaptive} for both ends on the new transport, {@code own}
 *                     for each end's own options, or null to keep the wait mode as it is
 * @param reason       why, for the connection's events and the flow table (null or blank: {@code "fable reconfigure"})
 */
public record SwitchOrder(String localName, long connectionId, String transport, String waitMode, String reason) {}
