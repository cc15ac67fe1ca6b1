package dev.fable.endpoint;

import dev.fable.Buffer;
import dev.fable.ConnectionState;
import dev.fable.FableException;
import dev.fable.Publisher;
import dev.fable.Subscriber;
import dev.fable.flow.LiveConnection;
import dev.fable.transport.Leg;
import dev.fable.transport.shm.BroadcastLog;
import dev.fable.transport.shm.FanoutPool;

import java.lang.foreign.MemorySegment;
import java.time.Duration;
import java.util.Collection;
import java.util.List;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;

/**
 * The {@link Publisher} of a {@link LocalEndpoint}: a {@link FanoutPool} and the live connections of
 * its subscribers, which the endpoint's session threads accept and queue here ({@link #join}); the
 * publishing thread takes them in at its next claim. Single writer: the publishing thread owns
 * {@link #members} and every member's counters; other threads read the {@link #view} snapshot and the
 * counters (volatile).
 */
final class LocalPublisher implements Publisher, FanoutPool.Delivery {
    private static final long CLAIM_SPIN_NANOS = TimeUnit.MICROSECONDS.toNanos(20);
    private static final long CLAIM_PARK_NANOS = TimeUnit.MICROSECONDS.toNanos(50);

    /** One subscriber: its connection and counters. */
    static final class Member implements Subscriber {
        final LiveConnection connection;
        private volatile long dropped;
        private long droppedUntold;        // drops not yet told to it (shm: in a DROPPED record before its next message)
        private boolean full;              // publishing thread: its last message was dropped (FULL told, SPACE_AVAILABLE not yet)
        private long droppedWhileFull;
        private boolean almostFull;        // publishing thread: ALMOST_FULL told, not yet back below the threshold
        private volatile boolean active = true;
        private boolean left;              // guarded by the publisher: LEFT was told
        private BroadcastLog broadcast;    // publishing thread: the log its reader reads (set once, as it joins), or null
        private long broadcastFrom;        // the log's sequence when it joined
        private long broadcastAt;          // publishing thread: its position in the log, as last read and checked (lossless)

        Member(LiveConnection connection) {
            this.connection = connection;
        }

        @Override public String name() { return connection.peerName(); }
        @Override public String transport() { return connection.transport(); }
        @Override public long delivered() {   // published, copied and claimed for it alone, and what the broadcast log carried to it
            BroadcastLog l = broadcast;
            return connection.messagesSent() + (l == null ? 0 : l.published() - broadcastFrom);
        }
        @Override public long dropped() { return dropped; }
        @Override public boolean active() { return active; }

        @Override
        public String toString() {
            return "subscriber '" + name() + "' over " + transport() + " (" + delivered() + " delivered, " + dropped + " dropped)";
        }
    }

    private enum Target { ALL, ONE, SET, CLASSIFIER }

    private final LocalEndpoint endpoint;
    private final FanoutPool pool;
    private final BroadcastLog log;   // null: no broadcast log (ConnectOptions.broadcastLog)
    private long commits;             // messages published (either way; publishing thread)
    private final ConcurrentLinkedQueue<Member> joining = new ConcurrentLinkedQueue<>();
    private final ConcurrentLinkedQueue<Member> leaving = new ConcurrentLinkedQueue<>();   // ended under us: to close at the next claim
    private Member[] members = new Member[0];            // publishing thread
    private volatile List<Subscriber> view = List.of();   // what subscribers() returns
    private volatile long dropped;
    private volatile boolean closed;
    private final ConcurrentLinkedQueue<dev.fable.SubscriberEvent> events = new ConcurrentLinkedQueue<>();
    private volatile double almostFullFraction = 0.75;

    // the current publish call's target (publishing thread; set just before the buffer's commit delivers)
    private Target target = Target.ALL;
    private Subscriber one;
    private Collection<? extends Subscriber> some;
    private Classifier classifier;

    private final FlowTable flows;   // its set-up's flow table: lists this publisher's subscriptions until it closes

    LocalPublisher(LocalEndpoint endpoint, FanoutPool pool, BroadcastLog log, boolean lossless, FlowTable flows) {
        this.endpoint = endpoint;
        this.pool = pool;
        this.log = log;
        this.flows = flows;
        pool.delivery(this);
        if (log != null) log.delivery(this::deliverBroadcast);
        if (log != null && lossless) log.lossless(this::slowestReader);
        flows.publishing(this);
    }

    FanoutPool pool() {
        return pool;
    }

    /** The broadcast log subscribers' legs may map, or null. */
    BroadcastLog broadcastLog() {
        return log;
    }

    /** A session thread: a subscriber's connection is established; the publishing thread takes it in at its next claim. */
    void join(LiveConnection c) {
        if (closed) {
            c.close();
            return;
        }
        Member m = new Member(c);
        joining.add(m);
        synchronized (this) {
            view = append(view, m);
            notifyAll();
        }
        c.onPeerEnd(() -> ended(m));   // it leaves the view at once; the publishing thread closes it (its slots come back) at its next claim
        if (closed) c.close();   // closed meanwhile: close() may have missed it
    }

    /** Any thread: a subscriber's connection ended under us (it left, died, broke the protocol). */
    private void ended(Member m) {
        markLeft(m);
        leaving.add(m);
    }

    /** Any thread, once per member: out of the view, LEFT told. */
    private void markLeft(Member m) {
        synchronized (this) {
            if (m.left) return;
            m.left = true;
            m.active = false;
            view = view.stream().filter(x -> x != m).toList();
            notifyAll();
        }
        events.add(new dev.fable.SubscriberEvent(m, dev.fable.SubscriberEvent.Type.LEFT, 0));
    }

    private static List<Subscriber> append(List<Subscriber> l, Subscriber m) {
        java.util.ArrayList<Subscriber> n = new java.util.ArrayList<>(l);
        n.add(m);
        return List.copyOf(n);
    }

    @Override
    public String name() {
        return endpoint.name();
    }

    @Override
    public int maxMessage() {
        return pool.slotSize();
    }

    @Override
    public Buffer claim(int maxBytes) {
        if (maxBytes <= 0) throw new IllegalArgumentException("claim(" + maxBytes + "): ask for at least 1 byte");
        if (closed) throw new IllegalStateException("publisher '" + name() + "' is closed");
        if (!joining.isEmpty()) takeJoiners();
        if (!leaving.isEmpty()) takeLeavers();
        if (log != null && maxBytes <= log.maxMessage()) {
            Buffer b = log.claim(maxBytes);
            if (b != null) return b;
            if (!log.claimOut()) return null;   // lossless, and the slowest reader has not read what it would overwrite
        }
        Buffer b = pool.claim(maxBytes);
        if (b != null) return b;
        reclaim();   // the pool ran dry: every subscriber's leg gives back what its reader released since it last looked
        return pool.claim(maxBytes);
    }

    @Override
    public Buffer claim(int maxBytes, Subscriber to) {
        if (maxBytes <= 0) throw new IllegalArgumentException("claim(" + maxBytes + "): ask for at least 1 byte");
        if (closed) throw new IllegalStateException("publisher '" + name() + "' is closed");
        if (!joining.isEmpty()) takeJoiners();
        requireMember(to);
        return ((Member) to).connection.claim(maxBytes);   // its leg's pool: the subscriber's own when it contributed one
    }

    @Override
    public Buffer claim(int maxBytes, Duration timeout) {
        long start = System.nanoTime();
        long limit = timeout.toNanos();
        while (true) {
            Buffer b = claim(maxBytes);
            if (b != null) return b;
            long waited = System.nanoTime() - start;
            if (waited >= limit) return null;
            if (waited < CLAIM_SPIN_NANOS) {
                Thread.onSpinWait();
            } else {
                LockSupport.parkNanos(Math.min(CLAIM_PARK_NANOS, limit - waited));
            }
        }
    }

    /** Publishing thread: new subscribers become members (they get messages published from now on). */
    private void takeJoiners() {
        for (Member m; (m = joining.poll()) != null; ) {
            if (!m.active) continue;
            events.add(new dev.fable.SubscriberEvent(m, dev.fable.SubscriberEvent.Type.JOINED, 0));
            if (log != null) {
                try {
                    if (m.connection.joinBroadcast(log)) {   // its reader starts at the log's next message
                        m.broadcastFrom = log.published();
                        m.broadcastAt = log.startPosition();
                        m.broadcast = log;
                    }
                } catch (FableException | IllegalStateException e) {
                    leave(m);   // it ended meanwhile
                    continue;
                }
            }
            Member[] n = java.util.Arrays.copyOf(members, members.length + 1);
            n[members.length] = m;
            members = n;
        }
    }

    /** Publishing thread: members whose connection ended under us are closed (which gives their slots back). */
    private void takeLeavers() {
        for (Member m; (m = leaving.poll()) != null; ) leave(m);
    }

    /** Publishing thread: asks every member's leg to give back released slots, and lets go of members that ended. */
    private void reclaim() {
        for (Member m : members) {
            if (m.connection.state() != ConnectionState.OPEN) {
                leave(m);
                continue;
            }
            try {
                m.connection.reclaimShared();
            } catch (FableException e) {
                leave(m);
            }
        }
    }

    /** Publishing thread (or close): the member is gone; its connection closes, which gives back every slot it held. */
    private void leave(Member m) {
        markLeft(m);
        int at = -1;
        for (int i = 0; i < members.length; i++) if (members[i] == m) at = i;
        if (at >= 0) {
            Member[] n = new Member[members.length - 1];
            System.arraycopy(members, 0, n, 0, at);
            System.arraycopy(members, at + 1, n, at, members.length - at - 1);
            members = n;
        }
        m.connection.close();
    }

    @Override
    public int publish(Buffer message) {
        return publishTo(message, Target.ALL, null, null, null);
    }

    @Override
    public int publish(Buffer message, Subscriber to) {
        if (to == null) throw new NullPointerException("to");
        return publishTo(message, Target.ONE, to, null, null);
    }

    @Override
    public int publish(Buffer message, Collection<? extends Subscriber> to) {
        if (to.isEmpty()) throw new IllegalArgumentException("publish to an empty set of subscribers of '" + name() + "': the buffer stays claimed; name at least one");
        return publishTo(message, Target.SET, null, to, null);
    }

    @Override
    public int publish(Buffer message, Classifier c) {
        if (c == null) throw new NullPointerException("classifier");
        return publishTo(message, Target.CLASSIFIER, null, null, c);
    }

    private int publishTo(Buffer message, Target t, Subscriber o, Collection<? extends Subscriber> s, Classifier c) {
        if (!pool.owns(message) && (log == null || !log.owns(message))) {
            throw new IllegalArgumentException(message + " was not claimed from publisher '" + name() + "''s fan-out pool: publish() takes "
                    + "buffers of claim(int); a buffer of claim(int, Subscriber) goes to its subscriber with commit()");
        }
        long before = commits;
        current = message;
        target = t;
        one = o;
        some = s;
        classifier = c;
        try {
            message.commit();   // FanoutPool.commit -> deliver(), below
        } finally {
            target = Target.ALL;
            current = null;
            one = null;
            some = null;
            classifier = null;
        }
        return commits == before ? 0 : lastQueued;
    }

    private int lastQueued;    // subscribers the last delivery queued the message for
    private Buffer current;    // the message being delivered (for the classifier)

    @Override
    public int deliver(FanoutPool p, int slot, int length, MemorySegment bytes) {
        checkTarget();
        int offered = 0;
        int queued = 0;
        Member[] ms = members;
        for (Member m : ms) {
            if (!selected(m)) continue;
            int r = offer(m, slot, length, bytes, 0);
            if (r >= 0) queued++;
            if (r == 1) offered++;
        }
        lastQueued = queued;
        commits++;
        return offered;
    }

    /**
     * A lossless log asks (publishing thread): the position of the slowest member reading it. Each member's own word is
     * checked: it only grows and never passes what was published; a member that breaks that is let go (it leaves).
     */
    private long slowestReader() {
        long slowest = Long.MAX_VALUE;
        long top = log.position();
        for (Member m : members) {   // leave() replaces the array: this loop keeps the one it started with
            if (m.broadcast == null || !m.active) continue;
            long r;
            try {
                r = m.connection.broadcastRead();
            } catch (FableException | IllegalStateException e) {
                leave(m);   // it ended meanwhile
                continue;
            }
            if (r == 0) r = m.broadcastAt;   // it has not said yet: where it started
            if (r < m.broadcastAt || r > top) {
                System.getLogger("dev.fable").log(System.Logger.Level.WARNING, "publisher '" + name() + "' dropped " + m
                        + ": its broadcast log position " + r + " is outside [" + m.broadcastAt + ", " + top + "]");
                leave(m);
                continue;
            }
            m.broadcastAt = r;
            slowest = Math.min(slowest, r);
        }
        return slowest;
    }

    /** Takes joiners in, then refuses a target that is not a current subscriber, before anything is delivered (the buffer stays claimed). */
    private void checkTarget() {
        if (!joining.isEmpty()) takeJoiners();
        switch (target) {
            case ONE -> requireMember(one);
            case SET -> {
                for (Subscriber x : some) requireMember(x);
            }
            default -> { }
        }
    }

    /**
     * A commit of the broadcast log's claim: to all, the message goes into the log once (every member reading it has it;
     * the others get a copy); to fewer, each chosen member gets a copy and the log's record becomes a PAD.
     */
    private void deliverBroadcast(BroadcastLog l, int length) {
        checkTarget();
        int queued = 0;
        MemorySegment bytes = l.bytes();   // the whole log, read-only; the message at claimedOffset()
        long at = l.claimedOffset();
        Member[] ms = members;
        if (target == Target.ALL) {
            l.publishToAll(length);
            for (Member m : ms) {
                if (m.broadcast == null) {
                    if (offer(m, -1, length, bytes, at) >= 0) queued++;
                } else if (wake(m)) {
                    queued++;
                }
            }
        } else {
            for (Member m : ms) {
                if (selected(m) && offer(m, -1, length, bytes, at) >= 0) queued++;
            }
            l.skip();
        }
        lastQueued = queued;
        commits++;
    }

    private void requireMember(Subscriber x) {
        if (!(x instanceof Member m) || !m.active || !isMember(m)) {
            throw new IllegalArgumentException(x + " is not a current subscriber of '" + name() + "' (it left, or belongs to another "
                    + "publisher): the buffer stays claimed; publish it to current subscribers");
        }
    }

    private boolean isMember(Member m) {
        for (Member x : members) if (x == m) return true;
        return false;
    }

    private boolean selected(Member m) {
        return switch (target) {
            case ALL -> true;
            case ONE -> m == one;
            case SET -> some.contains(m);
            case CLASSIFIER -> classifier.wants(m, current);
        };
    }

    /** A member reading the log has a message there: its reader is woken if it sleeps. False: it ended under us (it leaves). */
    private boolean wake(Member m) {
        try {
            m.connection.wakeReader();
            return true;
        } catch (FableException | IllegalStateException e) {   // its leg closed meanwhile (its ring unmapped)
            leave(m);
            return false;
        }
    }

    /**
     * One member: 1 a reference was queued (the member holds the slot), 0 a copy was queued, -1 dropped or gone. Slot -1: copy
     * {@code length} bytes of {@code bytes} at {@code offset}.
     */
    private int offer(Member m, int slot, int length, MemorySegment bytes, long offset) {
        int r;
        try {
            r = slot < 0 ? Leg.COPY : m.connection.offerShared(pool, slot, length, m.droppedUntold);
            if (r == Leg.COPY) r = copy(m, length, bytes, offset);
        } catch (FableException | IllegalStateException e) {
            if (m.connection.state() == ConnectionState.OPEN) {   // not a peer that left: say why we let it go
                System.getLogger("dev.fable").log(System.Logger.Level.WARNING, "publisher '" + name() + "' dropped " + m + ": " + e.getMessage());
            }
            leave(m);
            return -1;
        }
        if (r == Leg.FULL) {
            m.droppedUntold++;
            m.dropped++;
            dropped++;
            if (!m.full) {   // a transition: told once
                m.full = true;
                m.droppedWhileFull = 0;
                events.add(new dev.fable.SubscriberEvent(m, dev.fable.SubscriberEvent.Type.FULL, 0));
            }
            m.droppedWhileFull++;
            return -1;
        }
        if (m.full) {
            m.full = false;
            events.add(new dev.fable.SubscriberEvent(m, dev.fable.SubscriberEvent.Type.SPACE_AVAILABLE, m.droppedWhileFull));
        }
        if (r == Leg.OFFERED) {
            try {
                watchFill(m);   // may reread its READ: a forged one fails that subscription here
            } catch (FableException | IllegalStateException e) {
                leave(m);       // its references come back as its leg closes, this one included (counted in the delivery)
            }
        }
        m.droppedUntold = 0;   // told with this message (shm: a DROPPED record before it; stream: its frame)
        return r == Leg.OFFERED ? 1 : 0;
    }

    /**
     * After a reference reached {@code m}: ALMOST_FULL once when what it holds reaches the threshold (read READ again
     * first: the count is lazy), and ready to tell it again once it is back below.
     */
    private void watchFill(Member m) {
        int threshold = Math.max(1, (int) Math.ceil(almostFullFraction * pool.quota()));
        int held = m.connection.sharedHeld();
        if (held < threshold) {
            m.almostFull = false;
            return;
        }
        m.connection.reclaimShared();
        held = m.connection.sharedHeld();
        if (held < threshold) {
            m.almostFull = false;
        } else if (!m.almostFull) {
            m.almostFull = true;
            events.add(new dev.fable.SubscriberEvent(m, dev.fable.SubscriberEvent.Type.ALMOST_FULL, held));
        }
    }

    @Override
    public dev.fable.SubscriberEvent pollEvent() {
        return events.poll();
    }

    @Override
    public Publisher almostFull(double fraction) {
        if (!(fraction > 0 && fraction <= 1)) throw new IllegalArgumentException("almostFull(" + fraction + "): a fraction above 0, at most 1");
        almostFullFraction = fraction;
        return this;
    }

    /** A member on a socket transport: the bytes into a buffer of its connection (one copy), or FULL. */
    private int copy(Member m, int length, MemorySegment bytes, long offset) {
        if (m.connection.maxFragment() < length) {
            throw new FableException(m + " takes fragments of at most " + m.connection.maxFragment() + " B, less than this message's "
                    + length + " B");
        }
        Buffer b = m.connection.claim(Math.max(length, 1));
        if (b == null) return Leg.FULL;
        if (m.droppedUntold > 0) m.connection.noteDropped(m.droppedUntold);
        MemorySegment.copy(bytes, offset, b.segment(), 0, length);
        b.length(length);
        b.commit();
        return Leg.COPY;
    }

    @Override
    public List<Subscriber> subscribers() {
        return view;
    }

    @Override
    public synchronized boolean awaitSubscribers(int count, Duration timeout) {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (view.size() < count) {
            long left = deadline - System.nanoTime();
            if (left <= 0 || closed) return false;
            try {
                TimeUnit.NANOSECONDS.timedWait(this, left);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return false;
            }
        }
        return true;
    }

    @Override
    public long dropped() {
        return dropped;
    }

    /** Fan-out slots held now (claimed, or not yet released by every subscriber they went to). */
    int slotsHeld() {
        return pool.held();
    }

    /** Fan-out slots one subscriber may hold before messages are dropped for it. */
    int quota() {
        return pool.quota();
    }

    @Override
    public void close() {
        if (closed) return;
        closed = true;
        flows.notPublishing(this);
        endpoint.close();   // no more joins
        takeJoiners();
        for (Member m : members) leave(m);
        synchronized (this) {
            notifyAll();
        }
        pool.close();
        if (log != null) log.close();
    }

    @Override
    public String toString() {
        return "publisher '" + name() + "' (" + members.length + " subscribers, " + pool.slotCount() + " slots of " + pool.slotSize() + " B)";
    }
}
