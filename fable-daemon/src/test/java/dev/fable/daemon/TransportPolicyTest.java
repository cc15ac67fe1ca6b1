package dev.fable.daemon;

import dev.fable.TransportName;
import org.junit.jupiter.api.Test;

import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

/** Every row of the selection table in {@link TransportPolicy} and {@code docs/naming.md}. */
class TransportPolicyTest {
    private final TransportPolicy policy = new TransportPolicy(Cidr.parseList("127.0.0.0/8,10.1.0.0/16"), null, null);

    private TransportPolicy.Decision choose(boolean sameHost, boolean trusted, String forced, String host) throws TransportPolicy.Refused {
        return policy.choose(sameHost, trusted, forced, host);
    }

    @Test
    void sameHostTrustedIsShm() throws Exception {
        assertEquals(new TransportPolicy.Decision("shm", "same host, trusted peer"), choose(true, true, null, "127.0.0.1"));
    }

    @Test
    void sameHostUntrustedIsShmWithPrivateCopies() throws Exception {
        TransportPolicy.Decision d = choose(true, false, null, null);
        assertEquals("shm", d.transport());
        assertTrue(d.reason().contains("private copies"), d.reason());
    }

    @Test
    void otherHostOnTrustedNetworkIsTcp() throws Exception {
        TransportPolicy.Decision d = choose(false, true, null, "10.1.2.3");
        assertEquals("tcp", d.transport());
        assertTrue(d.reason().contains("10.1.0.0/16"), d.reason());
        assertEquals("tcp", choose(false, false, null, "127.0.0.3").transport());
    }

    @Test
    void otherHostOnUntrustedNetworkIsTls() throws Exception {
        TransportPolicy.Decision d = choose(false, true, null, "10.2.0.1");
        assertEquals("tls", d.transport());
        assertTrue(d.reason().contains("untrusted network"), d.reason());
        assertEquals("tls", choose(false, true, null, "some-host-name").transport(), "names are never matched against networks");
    }

    @Test
    void forcedSchemeWinsOnTheSameHost() throws Exception {
        for (String t : TransportName.ALL) {
            TransportPolicy.Decision d = choose(true, true, t, null);
            assertEquals(t, d.transport());
            assertTrue(d.reason().contains("xio+" + t + "://"), d.reason());
        }
        assertTrue(choose(true, false, "shm", null).reason().contains("private copies"));
    }

    @Test
    void forcedTcpOrTlsWinsForOtherHosts() throws Exception {
        assertEquals("tls", choose(false, true, "tls", "127.0.0.3").transport());
        assertEquals("tcp", choose(false, true, "TCP", "10.9.9.9").transport());
    }

    @Test
    void forcedShmOrUnixToAnotherHostIsRefusedWithTheReason() {
        for (String t : List.of("shm", "unix")) {
            TransportPolicy.Refused e = assertThrows(TransportPolicy.Refused.class, () -> choose(false, true, t, "10.1.2.3"));
            assertTrue(e.getMessage().contains("only endpoints on this host") && e.getMessage().contains("10.1.2.3"), e.getMessage());
        }
        assertThrows(TransportPolicy.Refused.class, () -> choose(true, true, "carrier-pigeon", null));
    }

    @Test
    void configurationOverridesTheDefaults() throws Exception {
        TransportPolicy p = new TransportPolicy(Cidr.parseList("127.0.0.0/8"), "unix", "tls");
        assertEquals("unix", p.choose(true, true, null, null).transport());
        assertTrue(p.choose(true, true, null, null).reason().contains("fable.policy.local=unix"));
        assertEquals("tls", p.choose(false, true, null, "127.0.0.2").transport());
        assertEquals("tcp", p.choose(false, true, "tcp", "127.0.0.2").transport(), "the scheme still wins");
        assertThrows(IllegalArgumentException.class, () -> new TransportPolicy(List.of(), null, "shm"));
    }

    @Test
    void cidrParsingAndMatching() {
        assertTrue(Cidr.parse("192.168.0.0/23").contains("192.168.1.200"));
        assertFalse(Cidr.parse("192.168.0.0/23").contains("192.168.2.1"));
        assertTrue(Cidr.parse("fd00::/8").contains("fd12::1"));
        assertFalse(Cidr.parse("fd00::/8").contains("10.0.0.1"));
        assertTrue(Cidr.parse("10.0.0.7").contains("10.0.0.7"));
        assertThrows(IllegalArgumentException.class, () -> Cidr.parse("10.0.0.0/33"));
        assertThrows(IllegalArgumentException.class, () -> Cidr.parse("example.com/8"));
    }
}
