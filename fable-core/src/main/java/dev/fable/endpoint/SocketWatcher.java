package dev.fable.endpoint;

import java.io.IOException;
import java.nio.channels.CancelledKeyException;
import java.nio.channels.ClosedChannelException;
import java.nio.channels.SelectableChannel;
import java.nio.channels.SelectionKey;
import java.nio.channels.Selector;

/**
 * The one selector thread of an {@link EventPoller}: watches the sockets of idle connections over unix, tcp, tls
 * and plain external tcp for readability and posts each that becomes readable to the poller's event queue, once
 * (its interest is then off until the poller hands it back with {@link #watch}). Its only duty; it never reads.
 *
 * <p>Threads: the poller's thread calls {@link #watch}; the selector's keys are this thread's alone (hand-backs
 * go through a {@link TokenQueue} and {@link Selector#wakeup()}).
 */
final class SocketWatcher implements Runnable {
    private final EventPoller poller;
    private final Selector selector;
    private final TokenQueue handedBack;
    private final SelectionKey[] keys;   // by token: the key of that connection's current channel, or null
    private volatile boolean stop;
    private final Thread thread;

    SocketWatcher(EventPoller poller, int tokens) throws IOException {
        this.poller = poller;
        this.selector = Selector.open();
        this.handedBack = new TokenQueue(tokens);
        this.keys = new SelectionKey[tokens];
        this.thread = Thread.ofPlatform().daemon().name("fable-poller-select").unstarted(this);
        thread.start();
    }

    /** The poller's thread: watch {@code e}'s socket (it is idle now) until it is readable, then post it. */
    void watch(EventPoller.Entry e) {
        handedBack.offer(e.token);
        selector.wakeup();   // a system call: sockets pay one per hand-back, as any selector does
    }

    void stop() {
        stop = true;
        selector.wakeup();
    }

    @Override
    public void run() {
        try {
            while (!stop) {
                takeHandedBack();
                selector.select(this::ready);
            }
        } catch (IOException | RuntimeException e) {
            System.getLogger("dev.fable").log(System.Logger.Level.ERROR, "a Poller's selector thread failed; its socket connections "
                    + "are no longer watched (close the Poller and make a new one)", e);
        } finally {
            try {
                selector.close();
            } catch (IOException ignored) {
                // nothing left to do
            }
        }
    }

    private void ready(SelectionKey k) {
        EventPoller.Entry e = (EventPoller.Entry) k.attachment();
        try {
            k.interestOps(0);   // once: the poller hands it back when it has read it dry
        } catch (CancelledKeyException gone) {
            // closed: posted below all the same, the poller's poll meets the end
        }
        if (!poller.post(e)) forget(k, e);   // removed from the poller meanwhile
    }

    private void forget(SelectionKey k, EventPoller.Entry e) {
        k.cancel();
        if (keys[e.token] == k) keys[e.token] = null;
    }

    private void takeHandedBack() {
        for (int t; (t = handedBack.poll()) >= 0; ) {
            EventPoller.Entry e = poller.watched(t);
            if (e == null) continue;   // a stale token: removed meanwhile
            SelectableChannel ch = e.connection.selectable();
            SelectionKey k = keys[t];
            if (k != null && (k.attachment() != e || k.channel() != ch)) {   // another entry had the token, or another leg
                k.cancel();
                keys[t] = k = null;
            }
            if (ch == null) {
                poller.post(e);   // shared memory now: the poller hands it to a watcher of those
                continue;
            }
            try {
                if (k == null) {
                    keys[t] = ch.register(selector, SelectionKey.OP_READ, e);
                } else {
                    k.interestOps(SelectionKey.OP_READ);
                }
            } catch (ClosedChannelException | CancelledKeyException closed) {
                keys[t] = null;
                poller.post(e);   // closed under us: the poller's poll meets its end
            }
        }
    }
}
