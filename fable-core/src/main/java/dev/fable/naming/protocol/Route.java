package dev.fable.naming.protocol;

/**
 * The daemon's answer: which transport, why (shown in the flow table), and where the listener is.
 * {@code unixPath} is set when the peer is on this host; {@code tcpHost}/{@code tcpPort} when it
 * listens on TCP; {@code peerCertFingerprint} is the peer host's TLS certificate (for tls).
 *
 * @param transport           the transport the daemon's policy chose, one of {@link dev.fable.TransportName#ALL}
 *                            (null in the daemon's own look-ups of other hosts: the asking daemon chooses)
 * @param reason              why that transport, as the flow table shows it (null where {@code transport} is)
 * @param peerName            the endpoint's name
 * @param peerPid             the pid of the process that holds it
 * @param peerHostId          the id of the host it runs on
 * @param sameHost            whether it runs on this host
 * @param unixPath            its Unix socket, or null (another host, or not bound)
 * @param tcpHost             the address of its TCP port, or null
 * @param tcpPort             its TCP port, or 0 when it listens on none
 * @param peerCertFingerprint SHA-256 (lower-case hex) of its host's TLS certificate, which a tls connection must present
 */
public record Route(String transport, String reason, String peerName, long peerPid, String peerHostId, boolean sameHost,
             String unixPath, String tcpHost, int tcpPort, String peerCertFingerprint) {}
