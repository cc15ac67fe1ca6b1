package dev.fable.naming.protocol;

/**
 * A switch the daemon orders this process to make: connection {@code connectionId} (0: the first that can switch
 * among those named {@code localName}) to {@code transport}, with wait mode {@code waitMode} (see
 * {@link #reconfigure(long, String, String, String, String)}).
 */
public record SwitchOrder(String localName, long connectionId, String transport, String waitMode, String reason) {}
