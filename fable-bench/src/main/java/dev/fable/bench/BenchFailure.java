package dev.fable.bench;

/** A run saw something wrong (a lost, duplicated or corrupted message, a peer that died): the cell reports this instead of a figure. */
final class BenchFailure extends RuntimeException {
    BenchFailure(String message) {
        super(message);
    }

    BenchFailure(String message, Throwable cause) {
        super(message, cause);
    }
}
