package dev.fable.transport.tls;

import dev.fable.FableException;
import dev.fable.internal.OwnedDirectory;
import dev.fable.internal.Libc;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.KeyStore;
import java.security.MessageDigest;
import java.security.cert.Certificate;
import java.util.HexFormat;

/**
 * A host's identity: a stable random id and a TLS key pair with a self-signed certificate, created
 * on the first start of the host's daemon and kept in the state directory with mode 0600 (directory
 * 0700). Peers are verified by the certificate's SHA-256 fingerprint, which the naming layer hands
 * out with every route (like an SSH known-hosts entry that the daemon vouches for).
 *
 * <p>Files: {@code host-id}, {@code host.p12} (PKCS#12, EC P-256, self-signed {@code CN=fable-host}),
 * {@code host.pass}. This class only loads them (clients, and the daemon after its first start); the
 * daemon creates them in process ({@code dev.fable.daemon.HostKeys}, with BouncyCastle, which this
 * dependency-free module does not use), 0600 from creation, under a lock file so concurrent first
 * starts agree on one identity, {@code host.p12} renamed into place last.
 */
public final class HostIdentity {
    public static final String ALIAS = "fable-host";
    private static final String STATE_DIR = "Fable state directory";

    private final Path dir;
    private final String hostId;
    private final KeyStore keyStore;
    private final char[] password;
    private final String fingerprint;
    /** Unwrapped once: PKCS#12 protects the key with PBKDF2, which costs milliseconds per {@code getKey}. */
    private final java.security.PrivateKey privateKey;
    private final byte[] certificateDer;

    private HostIdentity(Path dir, String hostId, KeyStore keyStore, char[] password, Certificate cert) throws GeneralSecurityException {
        this.dir = dir;
        this.hostId = hostId;
        this.keyStore = keyStore;
        this.password = password;
        this.fingerprint = fingerprint(cert);
        this.certificateDer = cert.getEncoded();
        if (!(keyStore.getKey(ALIAS, password) instanceof java.security.PrivateKey key)) {
            throw new FableException("host identity in " + dir + " has no private key under '" + ALIAS + "'; delete host.p12 to regenerate it");
        }
        this.privateKey = key;
    }

    /** {@code -Dfable.state.dir}, else {@code $XDG_STATE_HOME/fable}, else {@code ~/.local/state/fable}. */
    public static Path defaultDirectory() {
        String p = dev.fable.internal.Settings.get("fable.state.dir");
        if (p != null && !p.isBlank()) return Path.of(p);
        String xdg = dev.fable.internal.Settings.env("XDG_STATE_HOME");
        if (xdg != null && !xdg.isBlank()) return Path.of(xdg, "fable");
        return Path.of(System.getProperty("user.home"), ".local", "state", "fable");
    }

    /** Loads an existing identity; fails clearly if the daemon has not created one yet. */
    public static HostIdentity load(Path dir) {
        try {
            OwnedDirectory.check(dir, STATE_DIR, "fable.state.dir");   // a key someone else could have replaced is no identity
            String hostId = Files.readString(dir.resolve("host-id"), StandardCharsets.US_ASCII).trim();
            char[] pass = Files.readString(dir.resolve("host.pass"), StandardCharsets.US_ASCII).trim().toCharArray();
            KeyStore ks = KeyStore.getInstance("PKCS12");
            try (InputStream in = Files.newInputStream(dir.resolve("host.p12"))) {
                ks.load(in, pass);
            }
            Certificate cert = ks.getCertificate(ALIAS);
            if (cert == null) throw new FableException("host identity in " + dir + " has no '" + ALIAS + "' entry; delete host.p12 to regenerate it");
            return new HostIdentity(dir, hostId, ks, pass, cert);
        } catch (OwnedDirectory.RefusedException e) {
            throw new FableException(e.getMessage(), e);
        } catch (IOException | GeneralSecurityException e) {
            throw new FableException("cannot read the host identity in " + dir + ": " + e
                    + "; start the daemon once ('fable daemon') to create it, or delete the directory to regenerate it", e);
        }
    }

    /** SHA-256 of the certificate's DER encoding, lower-case hex. */
    public static String fingerprint(Certificate cert) {
        try {
            return fingerprint(cert.getEncoded());
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException("cannot encode certificate " + cert, e);
        }
    }

    /** SHA-256 of {@code der}, a certificate's encoding, lower-case hex. */
    public static String fingerprint(byte[] der) {
        try {
            return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(der));
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException("SHA-256 unavailable", e);
        }
    }

    /** Door keys kept at once; a host that meets more peer hosts than this derives again (never a stranger's: see {@link #doorKey}). */
    static final int MAX_DOOR_KEYS = 1024;
    private final java.util.concurrent.ConcurrentHashMap<String, byte[]> doorKeys = new java.util.concurrent.ConcurrentHashMap<>();

    /**
     * The key this host and the host of certificate {@code der} (fingerprint {@code fingerprint},
     * which the caller computed and vouched for: its route, or the daemon's known hosts) share for
     * {@link DoorProof}s: HMAC-SHA256 keyed with their static ECDH P-256 secret, over
     * {@code "fable-door-v2 key"}. Derived once per peer host and kept.
     *
     * @throws dev.fable.transport.Transport.Refused if {@code der} is no certificate with an EC P-256 key
     */
    byte[] doorKey(String fingerprint, byte[] der) {
        String k = fingerprint.toLowerCase(java.util.Locale.ROOT);
        byte[] key = doorKeys.get(k);
        if (key != null) return key;
        java.security.PublicKey peer;
        try {
            peer = java.security.cert.CertificateFactory.getInstance("X.509")
                    .generateCertificate(new java.io.ByteArrayInputStream(der)).getPublicKey();
        } catch (GeneralSecurityException | RuntimeException e) {
            throw new dev.fable.transport.Transport.Refused("its certificate does not parse: " + e.getMessage());
        }
        if (!(peer instanceof java.security.interfaces.ECPublicKey ec)
                || ec.getParams().getCurve().getField().getFieldSize() != 256) {
            throw new dev.fable.transport.Transport.Refused("its certificate's key is " + peer.getAlgorithm() + ", not EC P-256");
        }
        try {
            javax.crypto.KeyAgreement ka = javax.crypto.KeyAgreement.getInstance("ECDH");
            ka.init(privateKey);
            ka.doPhase(peer, true);
            javax.crypto.Mac m = javax.crypto.Mac.getInstance("HmacSHA256");
            m.init(new javax.crypto.spec.SecretKeySpec(ka.generateSecret(), "HmacSHA256"));
            key = m.doFinal("fable-door-v2 key".getBytes(StandardCharsets.US_ASCII));
        } catch (GeneralSecurityException e) {
            throw new dev.fable.transport.Transport.Refused("no ECDH secret with its key: " + e.getMessage());
        }
        if (doorKeys.size() >= MAX_DOOR_KEYS) doorKeys.clear();
        doorKeys.put(k, key);
        return key;
    }

    public Path directory() { return dir; }

    public String hostId() { return hostId; }

    /** The PKCS#12 store holding the key under {@link #ALIAS}; its password is {@link #password()}. */
    public KeyStore keyStore() { return keyStore; }

    public char[] password() { return password.clone(); }

    /** The host's private key (signs {@link DoorProof}s). */
    java.security.PrivateKey privateKey() {
        return privateKey;
    }

    /** The host's certificate, DER (a copy). */
    byte[] certificateDer() {
        return certificateDer.clone();
    }

    public String fingerprint() { return fingerprint; }

    @Override
    public String toString() {
        return "host " + hostId + " (certificate sha256 " + fingerprint.substring(0, 16) + "…, uid " + Libc.getuid() + ")";
    }
}
