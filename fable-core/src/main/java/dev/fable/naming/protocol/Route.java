package dev.fable.naming.protocol;

/**
 * The daemon's answer: which transport, why (shown in the flow table), and where the listener is.
 * {@code unixPath} is set when the peer is on this host; {@code tcpHost}/{@code tcpPort} when it
 * listens on TCP; {@code peerCertFingerprint} is the peer host's TLS certificate (for tls).
 */
public record Route(String transport, String reason, String peerName, long peerPid, String peerHostId, boolean sameHost,
             String unixPath, String tcpHost, int tcpPort, String peerCertFingerprint) {}
