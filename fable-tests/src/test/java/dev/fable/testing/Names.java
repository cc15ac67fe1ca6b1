package dev.fable.testing;

/** Names for endpoints that no other test, test run or process on this host is using. */
public final class Names {
    private Names() {}

    /** {@code base-<pid>-<nanoTime>}: unique across processes (pid) and across calls in one (nanoTime). */
    public static String unique(String base) {
        return base + "-" + ProcessHandle.current().pid() + "-" + System.nanoTime();
    }

    /** The URI that forces {@code transport}: {@code xio+<transport>://name}. */
    public static String uri(String transport, String name) {
        return "xio+" + transport + "://" + name;
    }
}
