package dev.fable.daemon.cluster;

import java.io.IOException;
import java.net.MalformedURLException;
import java.net.URL;
import java.net.URLClassLoader;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.ServiceLoader;
import java.util.stream.Stream;

/**
 * Finds the {@link ClusterDirectory.Provider}: on this module's own path (the class path, as in the tests), or else
 * in the directory {@code fable.zookeeper.lib} names, loaded by a class loader of its own. ZooKeeper's jars cannot
 * sit on a module path (its two jars share a package: the boot layer refuses them), so {@code ./fable}, which runs
 * Fable as modules, keeps them apart in {@code fable-zookeeper/target/lib} and points this setting there.
 */
public final class ClusterProviders {
    private ClusterProviders() {
    }

    /**
     * The provider, or null when there is none.
     *
     * @param lib the directory of {@code fable.zookeeper.lib} (its jars), or null
     * @return the provider, or null
     * @throws IOException if {@code lib} is given but is not a readable directory of jars
     */
    public static ClusterDirectory.Provider find(String lib) throws IOException {
        for (ClusterDirectory.Provider p : ServiceLoader.load(ClusterDirectory.Provider.class, ClusterProviders.class.getClassLoader())) {
            return p;
        }
        if (lib == null || lib.isBlank()) return null;
        Path dir = Path.of(lib.trim());
        if (!Files.isDirectory(dir)) throw new IOException("fable.zookeeper.lib is not a directory: " + dir);
        List<URL> jars = new ArrayList<>();
        try (Stream<Path> files = Files.list(dir)) {
            for (Path f : files.filter(f -> f.toString().endsWith(".jar")).sorted().toList()) jars.add(url(f));
        }
        if (jars.isEmpty()) throw new IOException("fable.zookeeper.lib has no jars: " + dir);
        // parent: this module's loader, so the provider sees the same dev.fable.daemon.cluster types the daemon uses
        ClassLoader loader = new URLClassLoader("fable-zookeeper", jars.toArray(URL[]::new), ClusterProviders.class.getClassLoader());
        for (ClusterDirectory.Provider p : ServiceLoader.load(ClusterDirectory.Provider.class, loader)) {
            return p;
        }
        return null;
    }

    private static URL url(Path f) throws IOException {
        try {
            return f.toUri().toURL();
        } catch (MalformedURLException e) {
            throw new IOException("cannot load " + f + ": " + e.getMessage(), e);
        }
    }
}
