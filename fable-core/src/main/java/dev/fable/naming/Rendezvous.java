package dev.fable.naming;

import dev.fable.transport.ControlChannel;

/**
 * How endpoints find each other and get a control channel. Today: {@link UdsRendezvous}, one Unix
 * socket per listening name. The name daemon replaces it behind this interface.
 */
public interface Rendezvous {
    /** Claims {@code name} for this process until {@link Registration#close()}; fails if a live process holds it. */
    Registration register(String name);

    /** Opens a control channel to the endpoint listening under {@code name}, waiting up to {@code timeoutNanos}. */
    ControlChannel connect(String name, long timeoutNanos);

    /** A registered name. */
    interface Registration extends AutoCloseable {
        String name();

        /** Starts accepting control channels. */
        void listen();

        /** The next control channel, waiting up to {@code timeoutNanos} (negative: forever); null on timeout. */
        ControlChannel accept(long timeoutNanos);

        @Override
        void close();
    }
}
