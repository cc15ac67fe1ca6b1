package dev.fable.transport.stream;

import java.io.IOException;
import java.nio.channels.CancelledKeyException;
import java.nio.channels.ClosedChannelException;
import java.nio.channels.SelectionKey;
import java.nio.channels.Selector;
import java.util.Queue;
import java.util.concurrent.ConcurrentLinkedQueue;

/**
 * One daemon thread per process that finishes writes a sending thread left queued because the
 * socket was full at its last commit. A writer is armed at most once until it is drained, so a
 * sender that keeps outrunning its peer costs one registration, not one per message. Sleeps in
 * {@code epoll_wait} when nothing is pending.
 */
final class PendingFlusher {
    private PendingFlusher() {}

    private static final Queue<StreamWriter> ARMED = new ConcurrentLinkedQueue<>();
    private static final Selector SELECTOR;

    static {
        try {
            SELECTOR = Selector.open();
        } catch (IOException e) {
            throw new ExceptionInInitializerError(e);
        }
        Thread t = new Thread(PendingFlusher::run, "fable-pending-flusher");
        t.setDaemon(true);
        t.start();
    }

    static void arm(StreamWriter w) {
        ARMED.add(w);
        SELECTOR.wakeup();
    }

    private static void run() {
        while (true) {
            try {
                SELECTOR.select();
                StreamWriter w;
                while ((w = ARMED.poll()) != null) {
                    try {
                        SelectionKey k = w.channel().keyFor(SELECTOR);
                        if (k != null && k.isValid()) {
                            k.attach(w);
                        } else {
                            if (k != null) SELECTOR.selectNow();   // a cancelled key must leave the selector before the channel re-registers
                            w.channel().register(SELECTOR, SelectionKey.OP_WRITE, w);
                        }
                    } catch (ClosedChannelException e) {
                        w.flushPending();   // lets the writer see the closed socket and disarm
                    }
                }
                for (SelectionKey k : SELECTOR.selectedKeys()) {
                    try {
                        if (((StreamWriter) k.attachment()).flushPending()) k.cancel();
                    } catch (CancelledKeyException ignored) {
                        // the channel was closed meanwhile
                    }
                }
                SELECTOR.selectedKeys().clear();
            } catch (IOException | RuntimeException e) {
                System.getLogger("dev.fable.transport").log(System.Logger.Level.ERROR, "pending-write flusher error", e);
            }
        }
    }
}
