package dev.fable.daemon;

import dev.fable.FableException;
import dev.fable.transport.tls.HostIdentity;
import org.bouncycastle.asn1.x500.X500Name;
import org.bouncycastle.asn1.x509.Extension;
import org.bouncycastle.cert.X509v3CertificateBuilder;
import org.bouncycastle.cert.jcajce.JcaX509CertificateConverter;
import org.bouncycastle.cert.jcajce.JcaX509ExtensionUtils;
import org.bouncycastle.cert.jcajce.JcaX509v3CertificateBuilder;
import org.bouncycastle.operator.ContentSigner;
import org.bouncycastle.operator.OperatorCreationException;
import org.bouncycastle.operator.jcajce.JcaContentSignerBuilder;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.math.BigInteger;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.FileAttribute;
import java.nio.file.attribute.PosixFilePermission;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.GeneralSecurityException;
import java.security.KeyPair;
import java.security.KeyPairGenerator;
import java.security.KeyStore;
import java.security.SecureRandom;
import java.security.cert.Certificate;
import java.security.cert.X509Certificate;
import java.security.spec.ECGenParameterSpec;
import java.time.Duration;
import java.time.Instant;
import java.util.Arrays;
import java.util.Date;
import java.util.EnumSet;
import java.util.HexFormat;
import java.util.Set;
import java.util.UUID;

/**
 * Creates this host's identity ({@link HostIdentity}) on the daemon's first start, in process: an EC
 * P-256 key pair from the JDK, a self-signed X.509 certificate ({@code CN=fable-host},
 * SHA256withECDSA, valid {@link #VALIDITY}) built with BouncyCastle's {@code bcpkix} (the JDK has no
 * public API to sign a certificate), stored as PKCS#12 through the JDK {@link KeyStore} API. No
 * subprocess runs and the store's password is never on a command line.
 *
 * <p>The files are the ones {@link HostIdentity#load} reads (the format {@code keytool} wrote before,
 * so existing state directories load unchanged): {@code host-id}, {@code host.pass},
 * {@code host.p12}. Each is written to a temporary file created with mode 0600 (the permissions are
 * an attribute of the creation, never set afterwards), then renamed into place; {@code host.p12} last,
 * so its presence means the identity is complete. All of it under the lock file
 * {@code identity.lock}, so two daemons starting at once agree on one identity. Clients only ever
 * {@link HostIdentity#load load} it; fable-core stays free of dependencies.
 */
public final class HostKeys {
    private HostKeys() {}

    /** How long the self-signed certificate is valid. */
    public static final Duration VALIDITY = Duration.ofDays(3650);

    private static final FileAttribute<Set<PosixFilePermission>> OWNER_ONLY_FILE =
            PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rw-------"));

    /**
     * Loads the identity in {@code dir}, creating it first if there is none (the daemon's first start).
     *
     * @param dir the state directory: created 0700 if missing, else it must be this uid's and closed to others' writes
     * @return the host identity stored there
     * @throws dev.fable.FableException if the directory is refused, the identity cannot be created or loaded, or
     *                                  BouncyCastle is missing when it must be created
     */
    public static synchronized HostIdentity loadOrCreate(Path dir) {
        try {
            dev.fable.internal.OwnedDirectory.ensure(dir, "Fable state directory", "fable.state.dir");   // 0700, ours, or refused
            // Processes (two daemons started at once) serialise on a lock file; threads on the class monitor.
            try (FileChannel lockFile = FileChannel.open(dir.resolve("identity.lock"),
                    EnumSet.of(StandardOpenOption.CREATE, StandardOpenOption.WRITE), OWNER_ONLY_FILE);
                 FileLock ignored = lockFile.lock()) {
                Path id = dir.resolve("host-id");
                if (!Files.exists(id)) writeOwnerOnly(id, UUID.randomUUID().toString().getBytes(StandardCharsets.US_ASCII));
                if (!Files.exists(dir.resolve("host.p12"))) createKeyStore(dir);
            }
        } catch (dev.fable.internal.OwnedDirectory.RefusedException e) {
            throw new FableException(e.getMessage(), e);
        } catch (IOException | GeneralSecurityException | OperatorCreationException e) {
            throw new FableException("cannot create the host identity in " + dir + ": " + e
                    + "; set -Dfable.state.dir (or FABLE_STATE_DIR) to a writable directory", e);
        } catch (NoClassDefFoundError e) {
            throw new FableException("cannot create the host identity in " + dir + ": BouncyCastle is missing (" + e.getMessage()
                    + "); put org.bouncycastle:bcpkix-jdk18on, bcutil-jdk18on and bcprov-jdk18on on the daemon's path", e);
        }
        return HostIdentity.load(dir);
    }

    private static void createKeyStore(Path dir) throws IOException, GeneralSecurityException, OperatorCreationException {
        SecureRandom random = new SecureRandom();
        byte[] raw = new byte[24];
        random.nextBytes(raw);
        char[] pass = HexFormat.of().formatHex(raw).toCharArray();
        try {
            KeyPairGenerator kpg = KeyPairGenerator.getInstance("EC");
            kpg.initialize(new ECGenParameterSpec("secp256r1"), random);
            KeyPair pair = kpg.generateKeyPair();
            X509Certificate cert = selfSigned(pair, random);
            KeyStore ks = KeyStore.getInstance("PKCS12");
            ks.load(null, null);
            ks.setKeyEntry(HostIdentity.ALIAS, pair.getPrivate(), pass, new Certificate[] {cert});
            ByteArrayOutputStream store = new ByteArrayOutputStream();
            ks.store(store, pass);
            byte[] p = new byte[pass.length];   // hex digits: ASCII
            for (int i = 0; i < pass.length; i++) p[i] = (byte) pass[i];
            try {
                writeOwnerOnly(dir.resolve("host.pass"), p);
            } finally {
                Arrays.fill(p, (byte) 0);
            }
            writeOwnerOnly(dir.resolve("host.p12"), store.toByteArray());   // last: its presence means complete
        } finally {
            Arrays.fill(pass, '\0');
        }
    }

    /** {@code CN=fable-host}, self-signed with SHA256withECDSA, valid from now for {@link #VALIDITY}. */
    static X509Certificate selfSigned(KeyPair pair, SecureRandom random) throws GeneralSecurityException, OperatorCreationException {
        X500Name name = new X500Name("CN=" + HostIdentity.ALIAS);
        Instant now = Instant.now();
        X509v3CertificateBuilder builder = new JcaX509v3CertificateBuilder(name, new BigInteger(63, random).add(BigInteger.ONE),
                Date.from(now), Date.from(now.plus(VALIDITY)), name, pair.getPublic());
        try {
            builder.addExtension(Extension.subjectKeyIdentifier, false, new JcaX509ExtensionUtils().createSubjectKeyIdentifier(pair.getPublic()));
        } catch (IOException e) {
            throw new GeneralSecurityException("cannot encode the subject key identifier: " + e, e);
        }
        ContentSigner signer = new JcaContentSignerBuilder("SHA256withECDSA").build(pair.getPrivate());   // the JDK's provider signs
        X509Certificate cert = new JcaX509CertificateConverter().getCertificate(builder.build(signer));
        cert.verify(pair.getPublic());
        return cert;
    }

    /**
     * Writes {@code target} with mode 0600 from its creation: a temporary file next to it, created
     * exclusively with the permissions as an attribute, written and synced, then renamed over
     * {@code target} (callers hold the identity lock, so a temporary file left by a crash is ours to remove).
     */
    static void writeOwnerOnly(Path target, byte[] content) throws IOException {
        Path tmp = target.resolveSibling(target.getFileName() + ".tmp");
        Files.deleteIfExists(tmp);
        try {
            try (FileChannel ch = FileChannel.open(tmp, EnumSet.of(StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE), OWNER_ONLY_FILE)) {
                ByteBuffer b = ByteBuffer.wrap(content);
                while (b.hasRemaining()) ch.write(b);
                ch.force(true);
            }
            Files.move(tmp, target, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        } finally {
            Files.deleteIfExists(tmp);
        }
    }
}
