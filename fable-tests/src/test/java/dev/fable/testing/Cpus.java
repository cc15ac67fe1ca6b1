package dev.fable.testing;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/** The CPUs a test may pin its processes to. */
public final class Cpus {
    private Cpus() {}

    /** The CPUs this process may run on ({@code Cpus_allowed_list} of /proc/self/status, e.g. "0-3,6"), lowest first. */
    public static List<Integer> allowed() throws IOException {
        List<Integer> cpus = new ArrayList<>();
        for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
            if (!line.startsWith("Cpus_allowed_list:")) continue;
            for (String range : line.substring(line.indexOf(':') + 1).trim().split(",")) {
                String[] ends = range.split("-");
                int from = Integer.parseInt(ends[0].trim()), to = Integer.parseInt(ends[ends.length - 1].trim());
                for (int c = from; c <= to; c++) cpus.add(c);
            }
        }
        return cpus;
    }
}
