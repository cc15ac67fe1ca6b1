package dev.fable.modules;

import dev.fable.Fable;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.*;

/**
 * The suite runs Fable as named modules (fable-tests' surefire configuration): fable-core is module
 * {@code dev.fable} with only its API exported to everyone, the daemon is module {@code dev.fable.daemon},
 * and the tests themselves are patched into {@code dev.fable}. Run on the class path, this fails.
 */
class SuiteOnTheModulePathTest {
    @Test
    void fableAndItsDaemonAreNamedModulesAndTheTestsArePatchedIntoTheLibrary() throws Exception {
        Module core = Fable.class.getModule();
        assertTrue(core.isNamed(), "fable-core is on the class path: " + core);
        assertEquals("dev.fable", core.getName());
        Module daemon = Class.forName("dev.fable.daemon.NameDaemon").getModule();
        assertEquals("dev.fable.daemon", daemon.getName(), "fable-daemon is a named module");
        assertSame(core, SuiteOnTheModulePathTest.class.getModule(), "the tests are patched into dev.fable");

        Module application = ClassLoader.getSystemClassLoader().getUnnamedModule();
        assertTrue(core.isExported("dev.fable", application), "the API is exported");
        assertTrue(core.isExported("dev.fable.naming.protocol", application), "the daemon protocol is exported");
        // packages holding tests are opened to JUnit by the suite's command line; these hold none
        for (String internal : new String[] {"dev.fable.transport", "dev.fable.buffer", "dev.fable.internal"}) {
            assertFalse(core.isExported(internal, application), internal + " is not exported to applications");
        }
        assertTrue(core.isExported("dev.fable.internal", daemon), "a qualified export: to Fable's own modules");
        assertTrue(daemon.canRead(core), "dev.fable.daemon requires dev.fable");
    }
}
