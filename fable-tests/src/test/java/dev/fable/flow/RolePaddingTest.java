package dev.fable.flow;

import org.junit.jupiter.api.Test;
import org.openjdk.jol.info.ClassLayout;
import org.openjdk.jol.info.FieldLayout;

import static org.junit.jupiter.api.Assertions.*;

/**
 * The fields the sending thread, the receiving thread and a switcher write live in two objects,
 * {@link SendRole} and {@link ReceiveRole}, each with at least one cache line (64 bytes) of padding
 * before its first and after its last real field, as the JVM lays them out (JOL): whatever the
 * heap puts next to either object, the two hot threads never write the same line.
 */
class RolePaddingTest {
    private static final int LINE = 64;

    private static boolean isPad(FieldLayout f) {
        return f.name().matches("p\\d\\d|p0i");
    }

    private static void assertPadded(Class<?> c) {
        ClassLayout layout = ClassLayout.parseClass(c);
        long first = Long.MAX_VALUE, end = 0;
        for (FieldLayout f : layout.fields()) {
            if (isPad(f)) continue;
            first = Math.min(first, f.offset());
            end = Math.max(end, f.offset() + f.size());
        }
        String shown = layout.toPrintable();
        assertTrue(first >= LINE, c.getSimpleName() + ": a real field starts at " + first + ", within a line of the object before it\n" + shown);
        assertTrue(layout.instanceSize() - end >= LINE, c.getSimpleName() + ": " + (layout.instanceSize() - end)
                + " bytes after its last real field, less than a line\n" + shown);
    }

    @Test
    void theSendingRolesFieldsHaveALineOfPaddingOnEachSide() {
        assertPadded(SendRole.class);
    }

    @Test
    void theReceivingRolesFieldsHaveALineOfPaddingOnEachSide() {
        assertPadded(ReceiveRole.class);
    }
}
