package dev.fable.transport;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.CancelledKeyException;
import java.nio.channels.ClosedChannelException;
import java.nio.channels.SelectionKey;
import java.nio.channels.Selector;
import java.util.Queue;
import java.util.concurrent.ConcurrentLinkedQueue;

/**
 * One daemon thread per process that watches every live connection's control socket and reports
 * when the peer's end closes: on a clean close and on {@code kill -9} alike the kernel closes the
 * socket, so a dead peer is noticed within milliseconds, with no heartbeat and no CPU while idle
 * (the thread sleeps in {@code epoll_wait}).
 */
public final class ControlMonitor {
    private ControlMonitor() {}

    /** Called on the monitor thread when the peer's side of a control channel closed. */
    public interface Listener {
        void controlClosed();
    }

    private record Pending(ControlChannel channel, Listener listener, boolean add) {}

    private static final Queue<Pending> PENDING = new ConcurrentLinkedQueue<>();
    private static final Selector SELECTOR;

    static {
        try {
            SELECTOR = Selector.open();
        } catch (IOException e) {
            throw new ExceptionInInitializerError(e);
        }
        Thread t = new Thread(ControlMonitor::run, "fable-control-monitor");
        t.setDaemon(true);
        t.start();
    }

    public static void watch(ControlChannel ch, Listener l) {
        PENDING.add(new Pending(ch, l, true));
        SELECTOR.wakeup();
    }

    public static void unwatch(ControlChannel ch) {
        PENDING.add(new Pending(ch, null, false));
        SELECTOR.wakeup();
    }

    /**
     * One listener's failure must not abort the round: the rest of {@code PENDING} would then wait for
     * the next wake-up and the other selected keys would be skipped, so other connections would miss
     * their peer's end.
     */
    private static void notifyClosed(Listener l) {
        try {
            l.controlClosed();
        } catch (RuntimeException e) {
            System.getLogger("dev.fable.control").log(System.Logger.Level.ERROR, "a connection failed to handle its peer's end", e);
        }
    }

    private static void run() {
        ByteBuffer scratch = ByteBuffer.allocate(256);
        while (true) {
            try {
                SELECTOR.select();
                Pending p;
                while ((p = PENDING.poll()) != null) {
                    if (p.add()) {
                        try {
                            p.channel().channel().register(SELECTOR, SelectionKey.OP_READ, p.listener());
                        } catch (ClosedChannelException e) {
                            notifyClosed(p.listener());
                        }
                    } else {
                        SelectionKey k = p.channel().channel().keyFor(SELECTOR);
                        if (k != null) k.cancel();
                    }
                }
                for (SelectionKey k : SELECTOR.selectedKeys()) {
                    Listener l = (Listener) k.attachment();
                    boolean closed;
                    try {
                        scratch.clear();
                        closed = ((java.nio.channels.SocketChannel) k.channel()).read(scratch) < 0;
                    } catch (IOException | CancelledKeyException e) {
                        closed = true;
                    }
                    if (closed) {
                        k.cancel();
                        notifyClosed(l);
                    }
                }
                SELECTOR.selectedKeys().clear();
            } catch (IOException | RuntimeException e) {
                System.getLogger("dev.fable.control").log(System.Logger.Level.ERROR, "control monitor error", e);
            }
        }
    }
}
