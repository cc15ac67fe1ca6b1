package dev.fable.internal;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;

/** VarHandles on a class's own fields, for the ordered (opaque, acquire/release) accesses its comments name. */
public final class FieldHandles {
    private FieldHandles() {}

    /** The handle of field {@code name} of the caller's class; {@code lookup} is the caller's {@code MethodHandles.lookup()}. */
    public static VarHandle of(MethodHandles.Lookup lookup, String name, Class<?> type) {
        try {
            return lookup.findVarHandle(lookup.lookupClass(), name, type);
        } catch (ReflectiveOperationException e) {
            throw new ExceptionInInitializerError(e);
        }
    }
}
