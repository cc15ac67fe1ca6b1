package dev.fable;

import dev.fable.testing.Await;
import dev.fable.testing.PeerProcess;
import dev.fable.testing.ProcFs;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

import java.time.Duration;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.FutureTask;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

import static dev.fable.testing.Names.unique;
import static org.junit.jupiter.api.Assertions.*;

/**
 * A peer killed with {@code kill -9} (a real second JVM): the survivor notices within a second, keeps
 * what was committed, and every later call ends with one exception instead of hanging.
 */
class PeerDeathTest {
    private static final long ONE_SECOND = TimeUnit.SECONDS.toNanos(1);

    // ---- child processes ----

    /** Connects to {@code args[0]}, commits {@code args[1]} messages (i, ~i), prints "SENT n", then waits to be killed. */
    public static final class Sender {
        public static void main(String[] args) throws Exception {
            int n = Integer.parseInt(args[1]);
            Connection c = Fable.connect("xio+shm://" + args[0], ConnectOptions.trusted().connectTimeout(Duration.ofSeconds(30)));
            for (int i = 0; i < n; i++) {
                Buffer b = c.claim(16, Duration.ofSeconds(30));
                b.putLong(0, i);
                b.putLong(8, ~(long) i);
                b.commit();
            }
            System.out.println("SENT " + n);
            System.in.read();   // parks here until killed
        }
    }

    /** Listens as {@code args[0]}, prints READY, accepts one connection, prints ACCEPTED, then neither reads nor writes. */
    public static final class SilentListener {
        public static void main(String[] args) throws Exception {
            Endpoint ep = Fable.register(args[0]).listen();
            System.out.println("READY");
            Connection c = ep.accept(Duration.ofSeconds(30));
            System.out.println(c == null ? "NOBODY" : "ACCEPTED");
            System.in.read();   // parks here until killed
        }
    }

    // ---- tests ----

    @Test
    void killedPeerIsSeenWithinOneSecondAndEveryLaterCallEndsWithOneException() throws Exception {
        String name = unique("death");
        try (Endpoint ep = Fable.register(name).listen();
             PeerProcess child = PeerProcess.start(Sender.class, name, "50")) {
            Connection c = ep.accept(Duration.ofSeconds(30));
            assertNotNull(c, "the child did not connect");
            try (c) {
                child.expectLine("SENT 50");
                for (int i = 0; i < 50; i++) {
                    Buffer b = c.receive(Duration.ofSeconds(5));
                    assertNotNull(b, "message " + i);
                    assertEquals(i, b.getLong(0));
                    assertEquals(~(long) i, b.getLong(8));
                    b.release();
                }
                assertEquals(ConnectionState.OPEN, c.state());
                assertNull(c.failure());

                child.kill9();
                long killed = System.nanoTime();
                long detect = Await.until(() -> c.state() != ConnectionState.OPEN, Duration.ofSeconds(10),
                        () -> "state still " + c.state() + " after kill -9 of pid " + child.pid());
                assertEquals(ConnectionState.PEER_GONE, c.state());
                assertTrue(System.nanoTime() - killed < ONE_SECOND,
                        "PEER_GONE took " + TimeUnit.NANOSECONDS.toMillis(detect) + " ms after kill -9");
                PeerGoneException why = assertInstanceOf(PeerGoneException.class, c.failure());
                assertTrue(why.getMessage().contains("pid " + child.pid()), why.getMessage());

                long t = System.nanoTime();
                PeerGoneException r = assertThrows(PeerGoneException.class, () -> c.receive(Duration.ofSeconds(10)));
                assertTrue(System.nanoTime() - t < ONE_SECOND, "receive(10 s) on a dead peer must not wait");
                assertSame(why, r.getCause(), "the exception carries the recorded reason");

                // One exception per call, every call; poll keeps answering null without throwing.
                PeerGoneException c1 = assertThrows(PeerGoneException.class, () -> c.claim(8));
                PeerGoneException c2 = assertThrows(PeerGoneException.class, () -> c.claim(8));
                assertNotSame(c1, c2);
                t = System.nanoTime();
                assertThrows(PeerGoneException.class, () -> c.claim(8, Duration.ofSeconds(10)));
                assertThrows(PeerGoneException.class, () -> c.send(new byte[100]));
                assertThrows(PeerGoneException.class, () -> c.receiveMessage(Duration.ofSeconds(10)));
                assertTrue(System.nanoTime() - t < ONE_SECOND, "blocking calls on a dead peer must not wait");
                for (int i = 0; i < 10_000; i++) {
                    assertNull(c.poll());
                }
                assertEquals(ConnectionState.PEER_GONE, c.state(), "the state does not flap");
                assertEquals(50, c.messagesReceived());

                assertMonitorThreadIsQuiet();
            }
            assertEquals(ConnectionState.CLOSED, c.state());
            assertThrows(FableException.class, c::poll, "after close() the unmapped memory is never touched");
        }
    }

    /**
     * The peer's death must not leave the process-wide control monitor busy (for example epoll
     * reporting the dead socket over and over). The 300 ms window is a measurement, not a synchronisation.
     */
    private static void assertMonitorThreadIsQuiet() throws InterruptedException {
        long me = ProcessHandle.current().pid();
        long before = ProcFs.threadCpuNanos(me, "fable-control-monitor");
        new CountDownLatch(1).await(300, TimeUnit.MILLISECONDS);
        long used = ProcFs.threadCpuNanos(me, "fable-control-monitor") - before;
        assertTrue(used < TimeUnit.MILLISECONDS.toNanos(60),
                "the control monitor used " + TimeUnit.NANOSECONDS.toMillis(used) + " ms CPU in 300 ms after the peer died");
    }

    @Test
    void everythingCommittedBeforeTheKillIsStillDelivered() throws Exception {
        String name = unique("death-drain");
        try (Endpoint ep = Fable.register(name).listen();
             PeerProcess child = PeerProcess.start(Sender.class, name, "100")) {
            try (Connection c = ep.accept(Duration.ofSeconds(30))) {
                assertNotNull(c, "the child did not connect");
                child.expectLine("SENT 100");
                child.kill9();
                Await.until(() -> c.state() == ConnectionState.PEER_GONE, Duration.ofSeconds(5),
                        () -> "state is " + c.state() + " after kill -9");
                for (int i = 0; i < 100; i++) {
                    Buffer b = c.poll();
                    assertNotNull(b, "message " + i + " of 100 committed before the kill was lost");
                    assertEquals(i, b.getLong(0));
                    assertEquals(~(long) i, b.getLong(8));
                    b.release();
                }
                assertNull(c.poll());
                assertThrows(PeerGoneException.class, () -> c.receive(Duration.ofSeconds(10)));
                assertEquals(100, c.messagesReceived());
            }
        }
    }

    @Test
    void committedDataIsDeliveredByBlockingReceiveBeforeTheException() throws Exception {
        String name = unique("death-recv");
        try (Endpoint ep = Fable.register(name).listen();
             PeerProcess child = PeerProcess.start(Sender.class, name, "10")) {
            try (Connection c = ep.accept(Duration.ofSeconds(30))) {
                assertNotNull(c, "the child did not connect");
                child.expectLine("SENT 10");
                child.kill9();
                Await.until(() -> c.state() == ConnectionState.PEER_GONE, Duration.ofSeconds(5),
                        () -> "state is " + c.state() + " after kill -9");
                for (int i = 0; i < 10; i++) {
                    Buffer b = c.receive(Duration.ofSeconds(1));
                    assertNotNull(b, "message " + i);
                    assertEquals(i, b.getLong(0));
                    b.release();
                }
                assertThrows(PeerGoneException.class, () -> c.receive(Duration.ofSeconds(10)));
            }
        }
    }

    /** What a call made on another thread ended with, and when. */
    private record Outcome(Object value, Throwable thrown, long endNanos) {}

    private static FutureTask<Outcome> startThread(String name, AtomicLong tid, CountDownLatch started, Callable<Object> body) {
        FutureTask<Outcome> task = new FutureTask<>(() -> {
            tid.set(ProcFs.currentTid());
            started.countDown();
            try {
                Object v = body.call();
                return new Outcome(v, null, System.nanoTime());
            } catch (Throwable t) {
                return new Outcome(null, t, System.nanoTime());
            }
        });
        Thread th = new Thread(task, name);
        th.setDaemon(true);
        th.start();
        return task;
    }

    @ParameterizedTest
    @EnumSource(WaitMode.class)
    void blockedReceiveAndBlockedClaimWakeWithPeerGoneWithinOneSecond(WaitMode mode) throws Exception {
        String name = unique("death-blocked");
        long me = ProcessHandle.current().pid();
        try (PeerProcess child = PeerProcess.start(SilentListener.class, name)) {
            child.expectLine("READY");
            // claims above the inline limit (512 B) take slots: 4 of them fill the pool
            ConnectOptions opts = ConnectOptions.trusted().waitMode(mode).slotSize(1024).slotCount(4);
            try (Connection c = Fable.connect("xio+shm://" + name, opts)) {
                child.expectLine("ACCEPTED");
                for (int i = 0; i < 4; i++) {
                    Buffer b = c.claim(1024);
                    assertNotNull(b);
                    b.commit();
                }
                assertNull(c.claim(1024), "the child holds every slot: back-pressure");

                AtomicLong rxTid = new AtomicLong();
                AtomicLong txTid = new AtomicLong();
                CountDownLatch started = new CountDownLatch(2);
                FutureTask<Outcome> rx = startThread("blocked-receive", rxTid, started, () -> c.receive(Duration.ofSeconds(30)));
                FutureTask<Outcome> tx = startThread("blocked-claim", txTid, started, () -> c.claim(1024, Duration.ofSeconds(30)));
                assertTrue(started.await(10, TimeUnit.SECONDS));
                if (mode != WaitMode.SPIN) {
                    // Both threads really sleep on the channel's futexes before the peer dies.
                    Await.until(() -> ProcFs.inSharedFutexWait(me, rxTid.get()) && ProcFs.inSharedFutexWait(me, txTid.get()),
                            Duration.ofSeconds(10), () -> "threads not asleep on a shared futex: receive "
                                    + ProcFs.syscall(me, rxTid.get()) + ", claim " + ProcFs.syscall(me, txTid.get()));
                }
                assertFalse(rx.isDone() || tx.isDone(), "receive/claim returned while the peer was alive and silent");

                child.kill9();
                long killed = System.nanoTime();
                Outcome r = rx.get(10, TimeUnit.SECONDS);
                Outcome t = tx.get(10, TimeUnit.SECONDS);
                assertInstanceOf(PeerGoneException.class, r.thrown(), "receive ended with " + r);
                assertInstanceOf(PeerGoneException.class, t.thrown(), "claim ended with " + t);
                assertTrue(r.endNanos() - killed < ONE_SECOND,
                        "blocked receive woke " + TimeUnit.NANOSECONDS.toMillis(r.endNanos() - killed) + " ms after kill -9");
                assertTrue(t.endNanos() - killed < ONE_SECOND,
                        "blocked claim woke " + TimeUnit.NANOSECONDS.toMillis(t.endNanos() - killed) + " ms after kill -9");
                assertEquals(ConnectionState.PEER_GONE, c.state());
            }
        }
    }
}
