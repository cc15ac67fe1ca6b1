package dev.fable.transport.shm;

import dev.fable.Buffer;
import dev.fable.ConnectOptions;
import dev.fable.Connection;
import dev.fable.Fable;
import dev.fable.FableException;

import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Arrays;
import java.util.List;

import static dev.fable.transport.shm.HostilePeer.*;

/** The {@link HostilePeer}'s small scripted peers: MORE chains, and writes through read buffers. */
final class HostileScripts {
    private HostileScripts() {}

    /** A MORE chain that stalls (the victim's receiveMessage must time out), then one that never ends. */
    static void moreChain(String victimEp) throws Exception {
        Connection c = Fable.connect("xio+shm://" + victimEp, ConnectOptions.trusted().slotSize(64).slotCount(8));
        Buffer b = c.claim(64);
        b.put(0, filled(64, (byte) 'A'), 0, 64);
        b.commitFragment();
        say("STALLED");
        String cmd = nextCommand();
        if (!"CONTINUE".equals(cmd)) throw new IllegalStateException("expected CONTINUE, got " + cmd);
        b = c.claim(64);
        b.put(0, filled(64, (byte) 'B'), 0, 64);
        b.commit();
        long fragments = 0;
        try {
            while (true) {
                b = c.claim(64, Duration.ofSeconds(30));
                if (b == null) break;
                b.put(0, filled(64, (byte) 'C'), 0, 64);
                b.commitFragment();
                fragments++;
            }
            say("CHAIN-ENDED no room for 30 s after " + fragments + " fragments");
        } catch (FableException e) {
            say("CHAIN-ENDED " + c.state() + " after " + fragments + " fragments");
        }
        c.close();
        EXIT.await();
    }

    private static byte[] filled(int n, byte v) {
        byte[] a = new byte[n];
        Arrays.fill(a, v);
        return a;
    }

    /** Receives one message on a trusted and one on an untrusted connection and tries to write through both. */
    static void readOnly(String trustedEp, String untrustedEp) throws Exception {
        try (Connection shm = Fable.connect("xio+shm://" + trustedEp, ConnectOptions.trusted().slotSize(256).slotCount(4));
             Connection copy = Fable.connect("xio+shm://" + untrustedEp, ConnectOptions.untrusted().slotSize(256).slotCount(4))) {
            for (Connection c : List.of(shm, copy)) {
                Buffer b = c.receive(Duration.ofSeconds(30));
                if (b == null) throw new IllegalStateException("nothing received on " + c);
                byte[] before = new byte[b.capacity()];
                b.get(0, before, 0, before.length);
                for (String outcome : HostilePeerFuzzTest.writeAttempts(b)) say("ATTEMPT " + b.kind() + " " + outcome);
                byte[] after = new byte[b.capacity()];
                b.get(0, after, 0, after.length);
                say("UNCHANGED " + b.kind() + " " + Arrays.equals(before, after) + " first=" + b.getLong(0));
                b.release();
                c.send("ALIVE".getBytes(StandardCharsets.US_ASCII));
            }
            say("DONE");
            EXIT.await();
        }
    }
}
