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
 * Fable as modules, keeps them apart in {@code fable-zookeeper/target/lib} and points this setting there. That loader
 * looks in its own jars first for everything but Fable's classes: ZooKeeper gets the netty it was built with, whatever
 * netty the main path has ({@code fable-tls-native}'s), and the provider sees the daemon's own SPI types.
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
        ClassLoader loader = new OwnJarsFirst(jars.toArray(URL[]::new), ClusterProviders.class.getClassLoader());
        for (ClusterDirectory.Provider p : ServiceLoader.load(ClusterDirectory.Provider.class, loader)) {
            return p;
        }
        return null;
    }

    /** Loads from its jars before its parent, except Fable's classes ({@code dev.fable.}), which come from the parent first. */
    private static final class OwnJarsFirst extends URLClassLoader {
        static {
            registerAsParallelCapable();
        }

        OwnJarsFirst(URL[] jars, ClassLoader parent) {
            super("fable-zookeeper", jars, parent);
        }

        @Override
        protected Class<?> loadClass(String name, boolean resolve) throws ClassNotFoundException {
            if (name.startsWith("dev.fable.") || name.startsWith("java.")) return super.loadClass(name, resolve);
            synchronized (getClassLoadingLock(name)) {
                Class<?> c = findLoadedClass(name);
                if (c == null) {
                    try {
                        c = findClass(name);
                    } catch (ClassNotFoundException notInOurJars) {
                        c = super.loadClass(name, false);
                    }
                }
                if (resolve) resolveClass(c);
                return c;
            }
        }
    }

    private static URL url(Path f) throws IOException {
        try {
            return f.toUri().toURL();
        } catch (MalformedURLException e) {
            throw new IOException("cannot load " + f + ": " + e.getMessage(), e);
        }
    }
}
