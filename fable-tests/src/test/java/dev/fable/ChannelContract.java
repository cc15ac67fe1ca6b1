package dev.fable;

import dev.fable.testing.Await;
import dev.fable.testing.Pair;
import org.junit.jupiter.api.Timeout;

import java.time.Duration;
import java.util.Random;
import java.util.stream.Stream;

import static dev.fable.testing.Names.unique;

/**
 * The channel contract of {@link Connection} and {@link Buffer}, run against every transport: the
 * {@code *ContractTest} classes extend this one, one subject each. Each case forces its transport with
 * the URI scheme {@code xio+<transport>://name}. A transport that does not exist fails its cases
 * (connect throws "unsupported scheme"); nothing is skipped. In surefire's reports the cases are
 * numbered in the order of {@link TransportName#ALL}: [1] shm, [2] unix, [3] tcp, [4] tls.
 *
 * <p>Synchronisation is by blocking calls with generous limits, {@link Await} on observable state and
 * lines printed by child JVMs; never by sleeping. No assertion depends on how fast anything is.
 */
@Timeout(value = 120, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
abstract class ChannelContract {
    /** Every transport the contract must hold for: all of them, so that a missing transport fails, not skips. */
    static Stream<String> transports() {
        return TransportName.ALL.stream();
    }

    /** Transports whose connections notice the peer's end without being read (a watcher on the control socket). */
    static Stream<String> asyncEndTransports() {
        return Stream.of(TransportName.SHM);
    }

    /** Limit for one blocking receive or claim that should succeed (generous: the machine may be loaded). */
    static final Duration WAIT = Duration.ofSeconds(10);
    /** Limit for accepting a connection (a child JVM may take a while to start). */
    static final Duration LONG = Duration.ofSeconds(30);
    static final int KIB_64 = 64 * 1024;

    /** Registers a unique name, listens with {@code serverOpts}, connects to it over {@code transport} with {@code clientOpts}. */
    static Pair open(String transport, String tag, ConnectOptions serverOpts, ConnectOptions clientOpts) throws Exception {
        return Pair.open(unique(tag + "-" + transport), transport, serverOpts, clientOpts.connectTimeout(Duration.ofSeconds(10)));
    }

    static Pair open(String transport, String tag) throws Exception {
        return open(transport, tag, ConnectOptions.trusted(), ConnectOptions.trusted());
    }

    /** The seeded pattern of message {@code seq}: every byte depends on the message and its position. */
    static byte patternByte(long seq, int i) {
        long x = seq * 0x9E3779B97F4A7C15L + i * 0xBF58476D1CE4E5B9L;
        return (byte) (x ^ (x >>> 29) ^ (x >>> 47));
    }

    static byte[] seeded(long seed, int size) {
        byte[] data = new byte[size];
        new Random(seed).nextBytes(data);
        return data;
    }
}
