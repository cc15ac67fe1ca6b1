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

    private HostIdentity(Path dir, String hostId, KeyStore keyStore, char[] password, String fingerprint) {
        this.dir = dir;
        this.hostId = hostId;
        this.keyStore = keyStore;
        this.password = password;
        this.fingerprint = fingerprint;
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
            return new HostIdentity(dir, hostId, ks, pass, fingerprint(cert));
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
            return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(cert.getEncoded()));
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException("SHA-256 unavailable", e);
        }
    }

    public Path directory() { return dir; }

    public String hostId() { return hostId; }

    /** The PKCS#12 store holding the key under {@link #ALIAS}; its password is {@link #password()}. */
    public KeyStore keyStore() { return keyStore; }

    public char[] password() { return password.clone(); }

    /** The host's private key (signs {@link DoorProof}s). */
    java.security.PrivateKey privateKey() {
        try {
            return (java.security.PrivateKey) keyStore.getKey(ALIAS, password);
        } catch (GeneralSecurityException e) {
            throw new FableException("cannot read the host key in " + dir + ": " + e + "; delete host.p12 there to regenerate it", e);
        }
    }

    /** The host's certificate, DER. */
    byte[] certificateDer() {
        try {
            return keyStore.getCertificate(ALIAS).getEncoded();
        } catch (GeneralSecurityException e) {
            throw new FableException("cannot read the host certificate in " + dir + ": " + e, e);
        }
    }

    public String fingerprint() { return fingerprint; }

    @Override
    public String toString() {
        return "host " + hostId + " (certificate sha256 " + fingerprint.substring(0, 16) + "…, uid " + Libc.getuid() + ")";
    }
}
