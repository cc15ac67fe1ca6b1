/**
 * The per-host name daemon ({@code fabled}) and its transport policies (trust, contention,
 * migration). Applications need it only on their path to auto-start a daemon; they speak to one
 * through {@code dev.fable.naming} and its protocol.
 */
module dev.fable.daemon {
    requires dev.fable;
    requires java.logging;   // the daemon log's format (DaemonLogging)
    requires java.management;   // STATS: used heap (MemoryMXBean)
    requires org.bouncycastle.pkix;       // HostKeys: the host's self-signed certificate
    requires org.bouncycastle.provider;   // its ASN.1 types (X500Name, Extension)
    exports dev.fable.daemon;
    exports dev.fable.daemon.cluster;   // the directory a cluster of daemons shares (fable-zookeeper provides one)
    uses dev.fable.daemon.cluster.ClusterDirectory.Provider;
}
