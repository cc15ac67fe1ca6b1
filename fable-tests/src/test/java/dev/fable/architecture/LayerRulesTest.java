package dev.fable.architecture;

import com.tngtech.archunit.core.domain.JavaClass;
import com.tngtech.archunit.core.domain.JavaClasses;
import com.tngtech.archunit.core.importer.ClassFileImporter;
import com.tngtech.archunit.core.importer.ImportOption;
import com.tngtech.archunit.lang.ArchRule;
import com.tngtech.archunit.library.Architectures;
import dev.fable.Fable;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import static com.tngtech.archunit.base.DescribedPredicate.not;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static com.tngtech.archunit.core.domain.JavaClass.Predicates.belongToAnyOf;
import static com.tngtech.archunit.core.domain.JavaClass.Predicates.resideInAPackage;
import static com.tngtech.archunit.lang.syntax.ArchRuleDefinition.noClasses;
import static com.tngtech.archunit.library.dependencies.SlicesRuleDefinition.slices;

/**
 * The layers of fable-core and fable-daemon only point down (module-info of fable-core lists them):
 * internal → API types → io (the byte-stream views) → sync → buffer → transport → flow → naming (protocol below the client) →
 * endpoint → {@code Fable} (the entry point) → daemon. A class that imports a layer above its own
 * fails this test, and no two packages import each other, except through {@code Fable}, which sits
 * in the API's package but on top of everything.
 */
class LayerRulesTest {
    private static JavaClasses classes;

    @BeforeAll
    static void importMainClasses() {
        classes = new ClassFileImporter()
                .withImportOption(ImportOption.Predefined.DO_NOT_INCLUDE_TESTS)
                .importPackages("dev.fable");
    }

    /** The entry point and its nested types (its context). */
    private static final com.tngtech.archunit.base.DescribedPredicate<JavaClass> ENTRY = belongToAnyOf(Fable.class);

    static final ArchRule LAYERS = Architectures.layeredArchitecture()
            .consideringOnlyDependenciesInLayers()
            .layer("internal").definedBy("dev.fable.internal..")
            .layer("api").definedBy(resideInAPackage("dev.fable").and(not(ENTRY)).as("API types in dev.fable (not Fable)"))
            .layer("io").definedBy("dev.fable.io..")
            .layer("sync").definedBy("dev.fable.sync..")
            .layer("buffer").definedBy("dev.fable.buffer..")
            .layer("transport").definedBy("dev.fable.transport..")
            .layer("flow").definedBy("dev.fable.flow..")
            .layer("protocol").definedBy("dev.fable.naming.protocol..")
            .layer("naming").definedBy("dev.fable.naming")
            .layer("endpoint").definedBy("dev.fable.endpoint..")
            .layer("entry").definedBy(ENTRY.as("dev.fable.Fable"))
            .layer("daemon").definedBy("dev.fable.daemon..")
            .whereLayer("internal").mayNotAccessAnyLayer()
            .whereLayer("api").mayOnlyAccessLayers("internal")
            .whereLayer("io").mayOnlyAccessLayers("internal", "api")
            .whereLayer("sync").mayOnlyAccessLayers("internal", "api")
            .whereLayer("buffer").mayOnlyAccessLayers("internal", "api", "sync")
            .whereLayer("transport").mayOnlyAccessLayers("internal", "api", "sync", "buffer")
            .whereLayer("flow").mayOnlyAccessLayers("internal", "api", "io", "sync", "buffer", "transport")
            .whereLayer("protocol").mayOnlyAccessLayers("internal", "api", "io", "sync", "buffer", "transport", "flow")
            .whereLayer("naming").mayOnlyAccessLayers("internal", "api", "io", "sync", "buffer", "transport", "flow", "protocol")
            .whereLayer("endpoint").mayOnlyAccessLayers("internal", "api", "io", "sync", "buffer", "transport", "flow", "protocol", "naming")
            .whereLayer("entry").mayOnlyAccessLayers("internal", "api", "io", "sync", "buffer", "transport", "flow", "protocol", "naming", "endpoint")
            .whereLayer("daemon").mayOnlyAccessLayers("internal", "api", "io", "sync", "buffer", "transport", "flow", "protocol", "naming");

    @Test
    void layersOnlyPointDown() {
        LAYERS.check(classes);
    }

    @Test
    void noPackageCycles() {
        slices().matching("dev.fable.(**)").should().beFreeOfCycles()
                .ignoreDependency(ENTRY, com.tngtech.archunit.base.DescribedPredicate.alwaysTrue())
                .check(classes);
    }

    /** The layers in order, as the rule above defines them; {@link #layerOf} maps a package or the entry class to its index. */
    private static final java.util.List<String> ORDER = java.util.List.of("internal", "api", "io", "sync", "buffer", "transport", "flow",
            "protocol", "naming", "endpoint", "entry", "daemon");

    private static int layerOf(String pkg, String cls) {
        if (pkg.equals("dev.fable")) return ORDER.indexOf("Fable".equals(cls) ? "entry" : "api");
        if (pkg.equals("dev.fable.naming")) return ORDER.indexOf("naming");
        if (pkg.startsWith("dev.fable.naming.protocol")) return ORDER.indexOf("protocol");
        for (String l : ORDER) if (pkg.startsWith("dev.fable." + l)) return ORDER.indexOf(l);
        return -1;   // another module's package (bench, cli, jmh): not layered here
    }

    /**
     * The same order in the sources, imports and fully-qualified names included: an unused import pointing up
     * compiles to nothing (so the bytecode rules above cannot see it) but still ties the packages together for a
     * reader and for source-level tools.
     */
    @Test
    void sourceImportsOnlyPointDown() throws java.io.IOException {
        java.util.regex.Pattern ref = java.util.regex.Pattern.compile("\\b(dev\\.fable(?:\\.[a-z_]\\w*)*)\\.([A-Z]\\w*)");
        java.util.List<String> upward = new java.util.ArrayList<>();
        int files = 0;
        for (String module : java.util.List.of("fable-core", "fable-daemon")) {
            java.nio.file.Path root = java.nio.file.Path.of("..", module, "src", "main", "java");
            assertTrue(java.nio.file.Files.isDirectory(root), "run from fable-tests: " + root.toAbsolutePath() + " is missing");
            try (var walk = java.nio.file.Files.walk(root)) {
                for (java.nio.file.Path f : walk.filter(p -> p.toString().endsWith(".java")).toList()) {
                    String name = f.getFileName().toString();
                    if (name.equals("module-info.java") || name.equals("package-info.java")) continue;
                    String code = java.nio.file.Files.readString(f).replaceAll("(?s)/\\*.*?\\*/", "").replaceAll("//[^\\n]*", "")
                            .replaceAll("\"(?:\\\\.|[^\"\\\\\\n])*\"", "\"\"");   // a class named in a string is no dependency
                    var pm = java.util.regex.Pattern.compile("(?m)^\\s*package\\s+([\\w.]+)\\s*;").matcher(code);
                    if (!pm.find()) continue;
                    files++;
                    int own = layerOf(pm.group(1), name.replace(".java", ""));
                    var m = ref.matcher(code);
                    while (m.find()) {
                        int target = layerOf(m.group(1), m.group(2));
                        if (target > own) upward.add(f + ": " + m.group(1) + "." + m.group(2) + " (" + ORDER.get(own) + " -> " + ORDER.get(target) + ")");
                    }
                }
            }
        }
        assertTrue(files > 100, "read only " + files + " source files");
        assertEquals(java.util.List.of(), upward, "source references to a layer above");
    }

    @Test
    void onlyTheDaemonNamesTheDaemon() {
        // the client jar must run without fable-daemon (it starts the daemon by class name, and says which artifact to add);
        // fable-zookeeper is the daemon's plug-in (its cluster directory), so it alone may implement the daemon's SPI
        noClasses().that().resideOutsideOfPackages("dev.fable.daemon..", "dev.fable.zookeeper..").should().dependOnClassesThat()
                .resideInAPackage("dev.fable.daemon..").check(classes);
    }
}
