package dev.fable.transport.shm;

import dev.fable.ConnectOptions;
import dev.fable.Connection;
import dev.fable.flow.LiveConnection;
import dev.fable.ConnectionState;
import dev.fable.Endpoint;
import dev.fable.Fable;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.concurrent.CompletableFuture;

import static org.junit.jupiter.api.Assertions.*;

/**
 * Both ends closing at once: the control monitor may report the peer's end after this side's
 * {@code close()} has unmapped the rings. {@code controlClosed} used to read the unmapped ring then
 * ({@code IllegalStateException: Already closed} on the monitor thread, logged as an error, and the
 * rest of that monitor round was skipped). This is that late call, made deterministic.
 */
class ControlClosedRaceTest {
    @Test
    void thePeersEndReportedAfterCloseIsIgnored() throws Exception {
        String name = "race-" + ProcessHandle.current().pid() + "-" + (System.nanoTime() & 0xFFFFFF);
        ConnectOptions o = ConnectOptions.trusted().slotSize(64).slotCount(2);
        try (Endpoint ep = Fable.register(name).listen(o)) {
            CompletableFuture<Connection> accepted = CompletableFuture.supplyAsync(() -> ep.accept(Duration.ofSeconds(10)));
            Connection c = Fable.connect("xio+shm://" + name, o);
            Connection peer = accepted.get();
            c.close();
            assertDoesNotThrow(() -> ((ShmConnection) ((LiveConnection) c).leg()).controlClosed(), "the monitor's late report after close()");
            assertEquals(ConnectionState.CLOSED, c.state());
            peer.close();
            assertDoesNotThrow(() -> ((ShmConnection) ((LiveConnection) peer).leg()).controlClosed());
            assertEquals(ConnectionState.CLOSED, peer.state());
        }
    }
}
