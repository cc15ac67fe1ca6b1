package dev.fable.transport;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.CancelledKeyException;
import java.nio.channels.ClosedChannelException;
import java.nio.channels.SelectionKey;
import java.nio.channels.Selector;
import java.nio.channels.SocketChannel;
import java.util.Queue;
import java.util.concurrent.ConcurrentLinkedQueue;

/**
 * One thread per Fable set-up ({@link LegServices}) that watches the control socket of every live
 * leg and reports when the peer's end closes: on a clean close and on {@code kill -9} alike the
 * kernel closes the socket, so a dead peer is noticed within milliseconds, with no heartbeat and no
 * CPU while idle (the thread sleeps in {@code epoll_wait}).
 *
 * <p>Threads: {@link #watch} and {@link #unwatch} from any thread; everything else on the monitor
 * thread, which starts with the first {@code watch} and ends with {@link #close()}.
 */
public final class ControlMonitor extends SetUpThread {
    /** Called on the monitor thread when the peer's side of a control channel closed. */
    public interface Listener {
        void controlClosed();
    }

    private record Pending(ControlChannel channel, Listener listener, boolean add) {}

    private static final System.Logger LOG = System.getLogger("dev.fable.control");

    private final Queue<Pending> pending = new ConcurrentLinkedQueue<>();
    private volatile Selector selector;   // made once, just before the thread starts

    /** {@code name}: the thread's name, so a thread dump shows whose monitor it is. */
    ControlMonitor(String name) {
        super(name);
    }

    /** Reports {@code ch}'s peer end to {@code l}; if this monitor is closed, reports it at once. */
    public void watch(ControlChannel ch, Listener l) {
        if (started() == null) {
            l.controlClosed();
            return;
        }
        pending.add(new Pending(ch, l, true));
        selector.wakeup();
    }

    /** Stops watching {@code ch} (the leg is closing on its own). */
    public void unwatch(ControlChannel ch) {
        if (started() == null) return;
        pending.add(new Pending(ch, null, false));
        selector.wakeup();
    }

    @Override
    void beforeStart() {
        try {
            selector = Selector.open();
        } catch (IOException e) {
            throw new java.io.UncheckedIOException("cannot open the selector that watches control sockets", e);
        }
    }

    @Override
    void wake(Thread t) {
        selector.wakeup();
    }

    /**
     * One listener's failure must not abort the round: the rest of {@code pending} would then wait for
     * the next wake-up and the other selected keys would be skipped, so other connections would miss
     * their peer's end.
     */
    private static void notifyClosed(Listener l) {
        try {
            l.controlClosed();
        } catch (RuntimeException e) {
            LOG.log(System.Logger.Level.ERROR, "a connection failed to handle its peer's end", e);
        }
    }

    @Override
    void run() {
        ByteBuffer scratch = ByteBuffer.allocate(256);
        Selector sel = selector;
        try (sel) {
            while (!closed()) {
                try {
                    sel.select();
                    Pending p;
                    while ((p = pending.poll()) != null) {
                        if (p.add()) {
                            try {
                                p.channel().channel().register(sel, SelectionKey.OP_READ, p.listener());
                            } catch (ClosedChannelException e) {
                                notifyClosed(p.listener());
                            }
                        } else {
                            SelectionKey k = p.channel().channel().keyFor(sel);
                            if (k != null) k.cancel();
                        }
                    }
                    for (SelectionKey k : sel.selectedKeys()) {
                        Listener l = (Listener) k.attachment();
                        boolean peerEnded;
                        try {
                            scratch.clear();
                            peerEnded = ((SocketChannel) k.channel()).read(scratch) < 0;
                        } catch (IOException | CancelledKeyException e) {
                            peerEnded = true;
                        }
                        if (peerEnded) {
                            k.cancel();
                            notifyClosed(l);
                        }
                    }
                    sel.selectedKeys().clear();
                } catch (IOException | RuntimeException e) {
                    LOG.log(System.Logger.Level.ERROR, "control monitor error", e);
                }
            }
        } catch (IOException e) {
            LOG.log(System.Logger.Level.DEBUG, "closing the control monitor's selector", e);
        }
    }
}
