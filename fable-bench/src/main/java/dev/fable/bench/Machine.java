package dev.fable.bench;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/** One line about the machine a run measured: CPU model and count, memory, kernel, JVM. */
final class Machine {
    private Machine() {}

    static String describe() {
        String cpu = "unknown CPU";
        long memKb = 0;
        try {
            cpu = Files.readAllLines(Path.of("/proc/cpuinfo")).stream().filter(l -> l.startsWith("model name")).findFirst()
                    .map(l -> l.substring(l.indexOf(':') + 1).trim()).orElse(cpu);
            memKb = Files.readAllLines(Path.of("/proc/meminfo")).stream().filter(l -> l.startsWith("MemTotal")).findFirst()
                    .map(l -> Long.parseLong(l.replaceAll("[^0-9]", ""))).orElse(0L);
        } catch (IOException | RuntimeException e) {
            // not Linux: say less
        }
        return String.format("%d × %s, %d GiB, Linux %s, %s %s", Runtime.getRuntime().availableProcessors(), cpu, Math.round(memKb / 1048576.0),
                System.getProperty("os.version"), System.getProperty("java.vm.name"), System.getProperty("java.runtime.version"));
    }
}
