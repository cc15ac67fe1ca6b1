package dev.fable.naming.protocol;

/**
 * One row of {@code fable flows --refused}: connections endpoint {@code endpoint} refused from one
 * address (host, without the port).
 *
 * @param endpoint     the endpoint that refused
 * @param address      the source address (host, without the port)
 * @param count        how many since the daemon started
 * @param lastReason   why the latest was refused
 * @param lastAtMillis when (epoch milliseconds)
 */
public record RefusalEntry(String endpoint, String address, long count, String lastReason, long lastAtMillis) {}
