package dev.fable.internal;

/** Closing on paths that are already failing or ending, where a second error has nothing to add. */
public final class Closeables {
    private Closeables() {}

    /** Closes each non-null argument, ignoring what close throws. */
    public static void closeQuietly(AutoCloseable... resources) {
        for (AutoCloseable r : resources) {
            if (r == null) continue;
            try {
                r.close();
            } catch (Exception ignored) {
                // already failing or closing: the caller reports the first error
            }
        }
    }
}
