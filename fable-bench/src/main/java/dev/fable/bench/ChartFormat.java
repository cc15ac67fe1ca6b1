package dev.fable.bench;

import java.math.BigDecimal;
import java.math.MathContext;

/** Value labels for the charts: durations (ns), byte rates (decimal units) and message sizes (binary units). */
final class ChartFormat {
    private ChartFormat() {}

    private static final String[] TIME = {"ns", "µs", "ms", "s"};
    private static final String[] RATE = {"B/s", "kB/s", "MB/s", "GB/s", "TB/s"};

    /** 220 ns, 5.2 µs, 8.0 ms; "n/a" for a value that is not positive and finite. */
    static String nanos(double ns) {
        return scaled(ns, TIME, 2, false);
    }

    /** 540 MB/s, 28.7 GB/s; "n/a" for a value that is not positive and finite. */
    static String bytesPerSec(double bytesPerSec) {
        return scaled(bytesPerSec, RATE, 3, false);
    }

    /** An axis tick: 100 ns, 1 µs, 2.5 µs (no trailing zeros). */
    static String nanosTick(double ns) {
        return scaled(ns, TIME, 2, true);
    }

    /** An axis tick: 100 MB/s, 1 GB/s. */
    static String bytesPerSecTick(double bytesPerSec) {
        return scaled(bytesPerSec, RATE, 3, true);
    }

    /** 64 B, 4 KiB, 1 MiB; a size that is no multiple of 1 KiB stays in bytes (1500 B). */
    static String size(int bytes) {
        if (bytes >= 1 << 20 && bytes % (1 << 20) == 0) return (bytes >> 20) + " MiB";
        if (bytes >= 1024 && bytes % 1024 == 0) return (bytes >> 10) + " KiB";
        return bytes + " B";
    }

    /** The size label without spaces, for file names: 64B, 4KiB. */
    static String sizeSlug(int bytes) {
        return size(bytes).replace(" ", "");
    }

    /** In the largest unit (steps of 1000) where the rounded value is at least 1, to {@code sig} significant digits. */
    private static String scaled(double v, String[] units, int sig, boolean trim) {
        if (!(v > 0) || Double.isInfinite(v)) return "n/a";
        MathContext mc = new MathContext(sig);
        int u = 0;
        BigDecimal r = new BigDecimal(v).round(mc);
        while (u < units.length - 1 && r.compareTo(BigDecimal.valueOf(1000)) >= 0) {
            v /= 1000;
            u++;
            r = new BigDecimal(v).round(mc);
        }
        if (trim) r = r.stripTrailingZeros();
        else if (r.precision() < sig) r = r.setScale(r.scale() + sig - r.precision());
        if (r.scale() < 0) r = r.setScale(0);
        return r.toPlainString() + " " + units[u];
    }
}
