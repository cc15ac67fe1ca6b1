package dev.fable.endpoint;

import dev.fable.Buffer;
import dev.fable.Connection;
import dev.fable.ConnectOptions;
import dev.fable.Fable;
import dev.fable.naming.protocol.NameEntry;
import dev.fable.testing.Pair;
import dev.fable.transport.Frames;
import dev.fable.transport.tls.DoorProof;
import dev.fable.transport.tls.HostIdentity;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.net.Inet4Address;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.NetworkInterface;
import java.nio.ByteBuffer;
import java.nio.channels.Channels;
import java.nio.channels.SocketChannel;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.FutureTask;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.*;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * A raw-socket client at an endpoint's TCP door, as a stranger on the network would knock: with no
 * key, with a key nobody vouched for, with a replayed proof, with transports that belong behind the
 * Unix socket, with plain tcp from an untrusted address, and with a forged switch request for a live
 * tls connection. Each is refused with a reason, counted, and never reaches {@code accept()}; the
 * live connection keeps flowing with every message checked.
 */
class DoorAttackTest {
    private static final Duration LIMIT = Duration.ofSeconds(20);
    private static final int MAGIC = 0x46534553;   // "FSES"

    @Test
    void strangersAtTheTcpDoorAreRefusedAndTheLiveTlsConnectionFlowsOn(@TempDir Path elsewhere) throws Exception {
        try (Pair p = Pair.open("tls", ConnectOptions.trusted(), ConnectOptions.trusted())) {
            LocalEndpoint ep = (LocalEndpoint) p.ep();
            InetSocketAddress door = tcpDoor(ep.name());
            HostIdentity me = HostIdentity.load(HostIdentity.defaultDirectory());
            roundTrip(p, 1);

            // 1. no session frame at all: a bare tcp hello, as a non-Fable client would send
            assertRefused(door, null, hello("tcp"), null, "sent no session frame", "a bare hello");
            // 2. a session frame, then junk where the proof goes
            assertRefused(door, open(7), null, ByteBuffer.wrap(new byte[] {0, 1, 2}), "door proof", "a junk proof");
            // 3. a proof made with a host key nobody vouched for (a fresh identity of our own)
            HostIdentity stranger = dev.fable.daemon.HostKeys.loadOrCreate(elsewhere.resolve("stranger-state"));
            assertRefused(door, open(8), hello("tcp"), stranger, "neither this host's nor a known peer host's", "an unknown host key");
            // 4. shm and unix hellos through the TCP door, even with this host's own key
            assertRefused(door, open(9), hello("shm"), me, "shm and unix come only through", "an shm hello over TCP");
            assertRefused(door, open(10), hello("unix"), me, "shm and unix come only through", "a unix hello over TCP");
            // 5. a replay: a session frame and proof that passed once, sent again on a new connection
            ByteBuffer session = open(11);
            ByteBuffer proof;
            try (SocketChannel ch = SocketChannel.open(door)) {
                write(ch, session.duplicate());
                proof = DoorProof.prove(me, nonce(ch), session.duplicate());
                write(ch, proof.duplicate());
                write(ch, hello("shm"));   // then refused for its transport: this is only to capture a proof that verified
                assertTrue(reasonOfRefusal(ch).contains("shm and unix come only through"), "the captured proof verified");
            }
            try (SocketChannel ch = SocketChannel.open(door)) {
                write(ch, session.duplicate());
                nonce(ch);                  // a fresh challenge, which the replayed proof does not answer
                write(ch, proof.duplicate());
                assertTrue(reasonOfRefusal(ch).contains("does not verify"), "a replayed proof is refused");
            }
            // 6. a forged switch request for the live tls connection, for the next epoch, with a made-up authenticator
            long id = connectionId(p.client());
            ByteBuffer rejoin = forgedRejoin(id, 1);
            try (SocketChannel ch = SocketChannel.open(door)) {
                write(ch, rejoin);
                assertTrue(reasonOfRefusal(ch).contains("wrong authenticator"), "a forged REJOIN is refused before the door's challenge");
            }

            assertEquals(8, ep.refusals(), "every refusal counted (the capture in 5 was refused too, for its transport)");
            // and reported to the daemon, for fable flows --refused: one row for this endpoint and 127.0.0.1
            dev.fable.naming.DaemonNameService names = (dev.fable.naming.DaemonNameService) Fable.names();
            dev.fable.testing.Await.until(() -> names.refusals().entries().stream()
                            .anyMatch(r -> r.endpoint().equals(ep.name()) && r.address().equals("127.0.0.1") && r.count() == 8),
                    LIMIT, () -> "the daemon's refusal rows: " + names.refusals());
            assertNull(ep.tryAccept(), "nothing reached accept()");
            for (int i = 2; i < 1000; i++) roundTrip(p, i);
            assertEquals(0, p.client().epoch(), "the connection never switched");
            assertEquals("tls", p.server().transport());
        }
    }

    /** Plain tcp from an address outside the trusted networks is refused even with a valid key; the same from loopback passes the door. */
    @Test
    void plainTcpFromAnUntrustedAddressIsRefused() throws Exception {
        InetAddress outside = nonLoopbackAddress();
        assumeTrue(outside != null, "this host has no non-loopback IPv4 address to connect from");
        try (Pair p = Pair.open("tcp", ConnectOptions.trusted(), ConnectOptions.trusted())) {
            LocalEndpoint ep = (LocalEndpoint) p.ep();
            InetSocketAddress door = tcpDoor(ep.name());
            HostIdentity me = HostIdentity.load(HostIdentity.defaultDirectory());
            try (SocketChannel ch = SocketChannel.open()) {
                ch.bind(new InetSocketAddress(outside, 0));
                ch.connect(door);
                ByteBuffer session = open(21);
                write(ch, session.duplicate());
                write(ch, DoorProof.prove(me, nonce(ch), session));
                write(ch, hello("tcp"));
                String why = reasonOfRefusal(ch);
                assertTrue(why.contains("not in a trusted network"), why);
            }
            assertEquals(1, ep.refusals());
            roundTrip(p, 1);
        }
    }

    /**
     * The connector is no MAC oracle: an "endpoint" whose challenge carries a host key other than the
     * one its route names (a stranger who took over the address, here a raw server with a key of its
     * own) gets no proof, only a closed connection, and the connect fails naming both keys.
     */
    @Test
    void aConnectorAnswersNoChallengeFromAHostItsRouteDoesNotName(@TempDir Path elsewhere) throws Exception {
        HostIdentity stranger = dev.fable.daemon.HostKeys.loadOrCreate(elsewhere.resolve("stranger-state"));
        String name = "impostor-" + ProcessHandle.current().pid();
        try (java.nio.channels.ServerSocketChannel server = java.nio.channels.ServerSocketChannel.open()
                     .bind(new InetSocketAddress("127.0.0.1", 0));
             dev.fable.naming.NameService.Registration r = Fable.names().register(name)) {
            r.listening(new dev.fable.naming.protocol.ListenAddress(null, "127.0.0.1",
                    ((InetSocketAddress) server.getLocalAddress()).getPort()));
            java.util.concurrent.CompletableFuture<Throwable> connect = java.util.concurrent.CompletableFuture.supplyAsync(() -> {
                try (Connection c = Fable.connect("xio+tcp://" + name, ConnectOptions.trusted().connectTimeout(LIMIT))) {
                    return null;
                } catch (Throwable t) {
                    return t;
                }
            });
            try (SocketChannel ch = server.accept()) {
                assertNotNull(readFrame(ch), "the connector's session frame");
                assertArrayEquals(new byte[] {DoorProof.ASK}, readFrame(ch), "no ticket for this door: it asks for a challenge");
                write(ch, DoorProof.challenge(stranger, new byte[DoorProof.NONCE_BYTES]));
                assertNull(readFrame(ch), "no proof for a door whose host key the route does not name: the connector hung up");
            }
            Throwable t = connect.get(LIMIT.toSeconds(), TimeUnit.SECONDS);
            assertNotNull(t, "the connect failed");
            assertTrue(String.valueOf(t.getMessage()).contains("not answering its challenge")
                    && t.getMessage().contains(stranger.fingerprint()), String.valueOf(t));
        }
    }

    /**
     * Tickets: a second connection to the same endpoint proves with the ticket the first one got (no
     * challenge); a ticket works once (a replay is refused), only for the host it was issued to and
     * with its MAC; a ticket the endpoint no longer holds is refused and the connector, asked
     * for a challenge again, still connects.
     */
    @Test
    void ticketsSaveTheChallengeWorkOnceAndGoStaleCleanly(@TempDir Path elsewhere) throws Exception {
        try (Pair p = Pair.open("tcp", ConnectOptions.trusted(), ConnectOptions.trusted())) {
            LocalEndpoint ep = (LocalEndpoint) p.ep();
            assertEquals(1, ep.doorChallengesPassed() + ep.doorTicketsPassed(), "the pair's connection passed the door");
            long challenges = ep.doorChallengesPassed();
            var secondAccept = java.util.concurrent.CompletableFuture.supplyAsync(() -> ep.accept(LIMIT));
            try (Connection second = Fable.connect("xio+tcp://" + ep.name(), ConnectOptions.trusted().connectTimeout(LIMIT));
                 Connection accepted = secondAccept.get(LIMIT.toSeconds(), TimeUnit.SECONDS)) {
                assertNotNull(accepted);
                roundTrip(second, accepted, 7);
            }
            assertEquals(challenges, ep.doorChallengesPassed(), "the second connection needed no challenge");
            assertTrue(ep.doorTicketsPassed() >= 1, "it proved with its ticket");

            InetSocketAddress door = tcpDoor(ep.name());
            HostIdentity me = HostIdentity.load(HostIdentity.defaultDirectory());
            byte[] ticket = ep.issueTicket(me.fingerprint());
            ByteBuffer session = open(31);
            ByteBuffer proof = DoorProof.proveWithTicket(me, ticket, me.fingerprint(), certificate(me), session.duplicate());
            try (SocketChannel ch = SocketChannel.open(door)) {
                write(ch, session.duplicate());
                write(ch, proof.duplicate());
                write(ch, hello("shm"));   // refused for its transport, after the door: the ticket verified
                assertTrue(reasonOfRefusal(ch).contains("shm and unix come only through"), "a fresh ticket passes the door");
            }
            try (SocketChannel ch = SocketChannel.open(door)) {
                write(ch, session.duplicate());
                write(ch, proof.duplicate());
                assertTrue(reasonOfRefusal(ch).contains(DoorProof.STALE_TICKET), "a ticket works once: its replay is refused");
            }
            byte[] forged = DoorProof.proveWithTicket(me, ep.issueTicket(me.fingerprint()), me.fingerprint(), certificate(me), session.duplicate()).array();
            forged[forged.length - 1] ^= 1;
            assertRefusedFrame(door, session, ByteBuffer.wrap(forged), "MAC does not verify", "a ticket with a wrong MAC");
            HostIdentity stranger = dev.fable.daemon.HostKeys.loadOrCreate(elsewhere.resolve("stranger-state"));
            assertRefusedFrame(door, session, DoorProof.proveWithTicket(stranger, ep.issueTicket(me.fingerprint()), me.fingerprint(),
                    certificate(me), session.duplicate()), "was issued to host", "a ticket of another host");

            long refused = ep.refusals();
            ep.forgetIssuedTickets();   // as a restarted endpoint would: the tickets this process holds are stale now
            var thirdAccept = java.util.concurrent.CompletableFuture.supplyAsync(() -> ep.accept(LIMIT));
            try (Connection third = Fable.connect("xio+tcp://" + ep.name(), ConnectOptions.trusted().connectTimeout(LIMIT));
                 Connection accepted = thirdAccept.get(LIMIT.toSeconds(), TimeUnit.SECONDS)) {
                assertNotNull(accepted);
                roundTrip(third, accepted, 8);
            }
            assertEquals(refused + 1, ep.refusals(), "the stale ticket was refused once");
            assertEquals(challenges + 1, ep.doorChallengesPassed(), "then the connector answered a challenge");
            roundTrip(p, 9);
        }
    }

    private static byte[] certificate(HostIdentity id) throws Exception {
        return id.keyStore().getCertificate(HostIdentity.ALIAS).getEncoded();
    }

    /** Sends {@code session} and the door frame {@code doorFrame}, and expects a refusal containing {@code reason}. */
    private static void assertRefusedFrame(InetSocketAddress door, ByteBuffer session, ByteBuffer doorFrame, String reason, String what)
            throws Exception {
        try (SocketChannel ch = SocketChannel.open(door)) {
            write(ch, session.duplicate());
            write(ch, doorFrame);
            String why = reasonOfRefusal(ch);
            assertTrue(why.contains(reason), what + " must be refused for '" + reason + "', was: " + why);
        }
    }

    // ---- the raw client ----

    private static InetSocketAddress tcpDoor(String name) {
        NameEntry e = Fable.names().names().stream().filter(n -> n.name().equals(name)).findFirst().orElseThrow();
        int colon = e.tcpAddress().lastIndexOf(':');
        return new InetSocketAddress(e.tcpAddress().substring(0, colon), Integer.parseInt(e.tcpAddress().substring(colon + 1)));
    }

    private static ByteBuffer open(long id) {
        return ByteBuffer.allocate(21).putInt(MAGIC).put((byte) 1).putLong(id).putLong(0).flip();
    }

    private static ByteBuffer hello(String transport) {
        ByteBuffer b = ByteBuffer.allocate(256);
        Frames.putString(b, transport);
        b.putShort((short) 1);
        Frames.putString(b, "whoever");
        return b.flip();
    }

    private static ByteBuffer forgedRejoin(long id, long epoch) {
        ByteBuffer b = ByteBuffer.allocate(21 + 16 + 2 + 6 + 1 + 32);
        b.putInt(MAGIC).put((byte) 2).putLong(id).putLong(epoch);
        byte[] junk = new byte[48];
        new java.util.Random(7).nextBytes(junk);
        b.put(junk, 0, 16);
        Frames.putString(b, "forged");
        b.put((byte) 0).put(junk, 16, 32);
        return b.flip();
    }

    /**
     * Sends {@code session} (if any), answers the challenge with {@code key} (a junk proof if
     * {@code junk}, none at all if both are null), sends {@code hello} (if any), and expects a
     * refusal whose reason contains {@code reason}.
     */
    private static void assertRefused(InetSocketAddress door, ByteBuffer session, ByteBuffer hello, Object key, String reason, String what)
            throws Exception {
        try (SocketChannel ch = SocketChannel.open(door)) {
            if (session != null) {
                write(ch, session.duplicate());
                DoorProof.Challenge nonce = nonce(ch);
                if (key instanceof HostIdentity id) write(ch, DoorProof.prove(id, nonce, session.duplicate()));
                else if (key instanceof ByteBuffer junk) write(ch, junk);
            }
            if (hello != null) write(ch, hello);
            String why = reasonOfRefusal(ch);
            assertTrue(why.contains(reason), what + " must be refused for '" + reason + "', was: " + why);
        }
    }

    private static void write(SocketChannel ch, ByteBuffer payload) throws IOException {
        ByteBuffer framed = ByteBuffer.allocate(4 + payload.remaining()).putInt(payload.remaining()).put(payload).flip();
        while (framed.hasRemaining()) ch.write(framed);
    }

    /** Asks the door for a challenge (the connector's first door frame without a ticket) and reads it. */
    private static DoorProof.Challenge nonce(SocketChannel ch) throws Exception {
        write(ch, DoorProof.ask());
        byte[] all = readFrame(ch);
        assertNotNull(all, "the door closed instead of sending its challenge");
        assertEquals(DoorProof.CHALLENGE, all[0], "a challenge frame");
        return DoorProof.challengeOf(ByteBuffer.wrap(all), "the raw client");
    }

    /** The refusal's reason, after which the endpoint must close the connection. */
    private static String reasonOfRefusal(SocketChannel ch) throws Exception {
        byte[] f = readFrame(ch);
        assertNotNull(f, "the endpoint closed without saying why");
        assertEquals(3, f[0], "a refusal frame");
        String why = Frames.getString(ByteBuffer.wrap(f, 1, f.length - 1), "reason");
        assertNull(readFrame(ch), "after a refusal the endpoint closes the connection");
        return why;
    }

    /** One frame (null at the end of the stream), within {@link #LIMIT}. */
    private static byte[] readFrame(SocketChannel ch) throws Exception {
        FutureTask<byte[]> read = new FutureTask<>(() -> {
            var in = new java.io.DataInputStream(Channels.newInputStream(ch));
            int n;
            try {
                n = in.readInt();
            } catch (java.io.EOFException end) {
                return null;
            }
            byte[] b = new byte[n];
            in.readFully(b);
            return b;
        });
        Thread.ofVirtual().start(read);
        return read.get(LIMIT.toSeconds(), TimeUnit.SECONDS);
    }

    private static long connectionId(Connection c) throws ReflectiveOperationException {
        java.lang.reflect.Field f = dev.fable.flow.LiveConnection.class.getDeclaredField("id");
        f.setAccessible(true);
        return (long) f.get(c);   // what a snooper on the network sees: it travels in the clear before TLS starts
    }

    private static InetAddress nonLoopbackAddress() throws IOException {
        for (NetworkInterface i : java.util.Collections.list(NetworkInterface.getNetworkInterfaces())) {
            if (!i.isUp() || i.isLoopback()) continue;
            for (InetAddress a : java.util.Collections.list(i.getInetAddresses())) {
                if (a instanceof Inet4Address && !a.isLoopbackAddress() && !a.isLinkLocalAddress()) return a;
            }
        }
        return null;
    }

    private static void roundTrip(Pair p, long v) {
        roundTrip(p.client(), p.server(), v);
    }

    private static void roundTrip(Connection client, Connection server, long v) {
        Buffer b = client.claim(8, LIMIT);
        assertNotNull(b);
        b.putLong(0, v);
        b.commit();
        Buffer r = server.receive(LIMIT);
        assertNotNull(r, "message " + v);
        assertEquals(v, r.getLong(0), "message " + v + " intact");
        r.release();
    }
}
