package dev.fable.bench;

import dev.fable.WaitMode;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * One row of the matrix: a transport as a program would use it. {@code family} says which code
 * runs it: {@code fable} (the Fable API over {@code transport} = shm|unix|tcp|tls|auto), {@code nio}
 * (plain NIO, transport = unix|tcp|tcp-nodelay), {@code pipe} (a child's stdin/stdout),
 * {@code aeron} (Aeron IPC) or {@code raw} (the {@link RawRingLink} yardstick).
 */
record Row(String id, String family, String transport, WaitMode mode, boolean trusted, String description) {
    /** Largest message any row takes in the bench (16 MiB): pools are 16 slots at least. */
    static final int BENCH_MAX_SIZE = 16 << 20;
    /** Aeron's largest message is 1/8 of its term (its default 64 MiB here). */
    static final int AERON_MAX_SIZE = 8 << 20;

    static final Map<String, Row> ALL = new LinkedHashMap<>();

    static {
        add(new Row("pipe", "pipe", "pipe", WaitMode.BLOCK, true, "raw: a child process's stdin/stdout (byte[] streams)"));
        add(new Row("nio-unix", "nio", "unix", WaitMode.BLOCK, true, "raw: blocking NIO SocketChannel over a Unix domain socket"));
        add(new Row("nio-tcp", "nio", "tcp", WaitMode.BLOCK, true, "raw: blocking NIO SocketChannel over TCP loopback (Nagle on)"));
        add(new Row("nio-tcp-nodelay", "nio", "tcp-nodelay", WaitMode.BLOCK, true, "raw: blocking NIO SocketChannel over TCP loopback, TCP_NODELAY"));
        add(new Row("aeron-ipc", "aeron", "ipc", WaitMode.SPIN, true, "Aeron IPC (aeron:ipc), embedded media driver, busy-spin poll"));
        add(new Row("raw-ring", "raw", "64m", WaitMode.SPIN, true, "yardstick: the simplest FFM shared-memory log, 64 MiB as Aeron's term (8 B per record, busy spin)"));
        add(new Row("raw-ring-2m", "raw", "2m", WaitMode.SPIN, true, "yardstick: the same log in 2 MiB, the memory of Fable's bench pool (lines come back while cached)"));
        for (WaitMode m : new WaitMode[] {WaitMode.SPIN, WaitMode.ADAPTIVE, WaitMode.BLOCK}) {
            for (boolean trusted : new boolean[] {true, false}) {
                String id = "fable-shm-" + m.name().toLowerCase() + (trusted ? "" : "-untrusted");
                add(new Row(id, "fable", "shm", m, trusted, "Fable over shared memory, " + m.name().toLowerCase() + " waits, "
                        + (trusted ? "trusted (zero-copy reads)" : "untrusted (private copy per read)")));
            }
        }
        for (String t : new String[] {"unix", "tcp", "tls"}) {
            add(new Row("fable-" + t, "fable", t, WaitMode.ADAPTIVE, true, "Fable over " + t + " (xio+" + t + "://), adaptive waits"));
        }
        add(new Row("fable-auto", "fable", "auto", WaitMode.ADAPTIVE, true, "Fable, transport chosen by the daemon (xio://), adaptive waits"));
    }

    private static void add(Row r) {
        ALL.put(r.id(), r);
    }

    /** The default rows: every transport the issue names, shm in its three wait modes trusted and spin untrusted. */
    static final List<String> DEFAULT = List.of("pipe", "nio-unix", "nio-tcp", "nio-tcp-nodelay", "aeron-ipc", "raw-ring", "fable-shm-spin",
            "fable-shm-spin-untrusted", "fable-shm-adaptive", "fable-shm-block", "fable-unix", "fable-tcp", "fable-tls", "fable-auto");

    /** Rows by id, in the order given; a clear error naming the known ids for an unknown one. */
    static List<Row> parse(List<String> ids) {
        List<Row> rows = new ArrayList<>();
        for (String id : ids) {
            Row r = ALL.get(id.trim());
            if (r == null) {
                throw new IllegalArgumentException("unknown transport '" + id.trim() + "' (known: " + String.join(", ", ALL.keySet()) + ")");
            }
            if (!rows.contains(r)) rows.add(r);
        }
        if (rows.isEmpty()) throw new IllegalArgumentException("no transport given");
        return rows;
    }

    boolean fable() {
        return family.equals("fable");
    }

    /** A yardstick of the machine ({@code raw-ring}), not something a program would pick: shown, never "best in column". */
    boolean yardstick() {
        return family.equals("raw");
    }

    int maxSize() {
        return family.equals("aeron") ? AERON_MAX_SIZE : BENCH_MAX_SIZE;
    }

    /** The URI a Fable row connects to for endpoint {@code name}. */
    String uri(String name) {
        return (transport.equals("auto") ? "xio://" : "xio+" + transport + "://") + name;
    }
}
