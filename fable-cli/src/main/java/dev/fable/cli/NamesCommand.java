package dev.fable.cli;

import dev.fable.FableException;
import dev.fable.naming.DaemonNameService;
import dev.fable.naming.protocol.NameEntry;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;

@Command(name = "names", description = "List the endpoints the name daemon holds: name, pid, host, addresses.")
final class NamesCommand implements Callable<Integer> {
    @Option(names = "--json", description = "one JSON array, for machines")
    boolean json;

    @Override
    public Integer call() {
        List<NameEntry> names;
        try {
            names = DaemonNameService.get().names();
        } catch (FableException e) {
            System.err.println("fable names: " + e.getMessage());
            return FableCli.SETUP;
        }
        if (json) {
            List<Object> rows = new ArrayList<>();
            for (NameEntry n : names) {
                Map<String, Object> m = new LinkedHashMap<>();
                m.put("name", n.name());
                m.put("pid", n.pid());
                m.put("host", n.hostId());
                m.put("unixPath", n.unixPath());
                m.put("tcpAddress", n.tcpAddress());
                rows.add(m);
            }
            System.out.println(Json.of(rows));
            return FableCli.OK;
        }
        Table t = new Table("NAME", "PID", "HOST", "UNIX", "TCP");
        for (NameEntry n : names) {
            t.row(n.name(), n.pid(), n.hostId(), n.unixPath() == null ? "-" : n.unixPath(), n.tcpAddress() == null ? "-" : n.tcpAddress());
        }
        System.out.print(t);
        return FableCli.OK;
    }
}
