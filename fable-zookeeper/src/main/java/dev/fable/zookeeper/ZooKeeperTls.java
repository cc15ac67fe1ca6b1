package dev.fable.zookeeper;

import org.apache.zookeeper.client.ZKClientConfig;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.function.UnaryOperator;

/**
 * The ZooKeeper client's TLS, from Fable's settings ({@code fable.zookeeper.tls.*}), for a daemon and for the read-only
 * {@code fable hosts}: with a trust store set, the client talks TLS only (Netty socket), verifies the server's
 * certificate and host name against it, and presents the key store's certificate if one is set; the server's
 * X.509 provider then authenticates the client by its certificate, so a host without {@code fable.zookeeper.auth}
 * still gets ACLs of its own ({@code auth} scheme: the identity its certificate proved).
 *
 * <ul>
 *   <li>{@code fable.zookeeper.tls.trustStore}: certificates of the ensemble's servers (or their CA); PKCS#12,
 *       JKS or PEM by file extension. Set, the link is TLS.</li>
 *   <li>{@code fable.zookeeper.tls.trustStorePassword}</li>
 *   <li>{@code fable.zookeeper.tls.keyStore}: this host's key and certificate for the ensemble (its identity).</li>
 *   <li>{@code fable.zookeeper.tls.keyStorePassword}</li>
 * </ul>
 * Passwords are best given through the environment ({@code FABLE_ZOOKEEPER_TLS_KEYSTOREPASSWORD}): a command line
 * is readable by every user of the host.
 */
final class ZooKeeperTls {
    private ZooKeeperTls() {
    }

    static final String TRUST_STORE = "fable.zookeeper.tls.trustStore";
    static final String KEY_STORE = "fable.zookeeper.tls.keyStore";

    /**
     * The client configuration for {@code settings}: TLS when a trust store is set, else the default (plain).
     *
     * @throws IOException if a store is set but missing or unreadable, or a key store is set without a trust store
     */
    static ZKClientConfig clientConfig(UnaryOperator<String> settings) throws IOException {
        ZKClientConfig c = new ZKClientConfig();
        String trust = value(settings, TRUST_STORE);
        String key = value(settings, KEY_STORE);
        if (trust == null) {
            if (key != null) {
                throw new IOException(KEY_STORE + " is set but " + TRUST_STORE + " is not: TLS to ZooKeeper needs the servers' "
                        + "certificates (or their CA) to check them against; set both");
            }
            return c;
        }
        c.setProperty(ZKClientConfig.SECURE_CLIENT, "true");
        c.setProperty(ZKClientConfig.ZOOKEEPER_CLIENT_CNXN_SOCKET, "org.apache.zookeeper.ClientCnxnSocketNetty");
        c.setProperty("zookeeper.ssl.trustStore.location", readable(trust, TRUST_STORE));
        String trustPassword = value(settings, TRUST_STORE + "Password");
        if (trustPassword != null) c.setProperty("zookeeper.ssl.trustStore.password", trustPassword);
        if (key != null) {
            c.setProperty("zookeeper.ssl.keyStore.location", readable(key, KEY_STORE));
            String keyPassword = value(settings, KEY_STORE + "Password");
            if (keyPassword != null) c.setProperty("zookeeper.ssl.keyStore.password", keyPassword);
        }
        c.setProperty("zookeeper.ssl.hostnameVerification", "true");
        return c;
    }

    /** True if {@code settings} give the client a certificate (a key store): the server can tell who it is. */
    static boolean presentsCertificate(UnaryOperator<String> settings) {
        return value(settings, TRUST_STORE) != null && value(settings, KEY_STORE) != null;
    }

    private static String readable(String file, String key) throws IOException {
        Path p = Path.of(file);
        if (!Files.isRegularFile(p) || !Files.isReadable(p)) throw new IOException(key + " is not a readable file: " + file);
        return p.toAbsolutePath().toString();
    }

    private static String value(UnaryOperator<String> settings, String key) {
        String v = settings.apply(key);
        return v == null || v.isBlank() ? null : v.trim();
    }
}
