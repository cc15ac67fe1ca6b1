package dev.fable.cli;

import dev.fable.FableException;
import dev.fable.naming.DaemonNameService;
import dev.fable.naming.protocol.FlowEntry;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;

@Command(name = "flows", description = "List every connection end of every process on this host, as their libraries report them now.")
final class FlowsCommand implements Callable<Integer> {
    @Option(names = "--json", description = "one JSON array, for machines")
    boolean json;

    @Override
    public Integer call() {
        List<FlowEntry> flows;
        try {
            flows = DaemonNameService.get().flows();
        } catch (FableException e) {
            System.err.println("fable flows: " + e.getMessage());
            return FableCli.SETUP;
        }
        long now = System.currentTimeMillis();
        if (json) {
            List<Object> rows = new ArrayList<>();
            for (FlowEntry f : flows) {
                Map<String, Object> m = new LinkedHashMap<>();
                m.put("pid", f.pid());
                m.put("local", f.localName());
                m.put("peer", f.peerName());
                m.put("transport", f.transport());
                m.put("reason", f.reason());
                m.put("epoch", f.epoch());
                m.put("connectionId", Long.toHexString(f.connectionId()));
                m.put("connector", f.connector());
                m.put("wait", f.waitMode());
                m.put("waitOverridden", f.waitOverridden());
                m.put("sendCpu", f.sendCpu());
                m.put("receiveCpu", f.recvCpu());
                m.put("bytesSent", f.bytesSent());
                m.put("bytesReceived", f.bytesReceived());
                m.put("messagesSent", f.messagesSent());
                m.put("messagesReceived", f.messagesReceived());
                m.put("openedAtMillis", f.openedAtMillis());
                m.put("ageMillis", now - f.openedAtMillis());
                rows.add(m);
            }
            System.out.println(Json.of(rows));
            return FableCli.OK;
        }
        Table t = new Table("PID", "LOCAL", "PEER", "TRANSPORT", "WAIT", "CPU", "REASON", "EPOCH", "SENT", "RECEIVED", "MESSAGES", "AGE");
        for (FlowEntry f : flows) {
            t.row(f.pid(), f.localName(), f.peerName(), f.transport(), f.waitMode() == null ? "-" : f.waitMode() + (f.waitOverridden() ? "*" : ""),
                    cpu(f), f.reason(), f.epoch(),
                    f.bytesSent() + " B", f.bytesReceived() + " B", f.messagesSent() + "/" + f.messagesReceived(),
                    age(Duration.ofMillis(Math.max(0, now - f.openedAtMillis()))));
        }
        System.out.print(t);
        if (flows.stream().anyMatch(FlowEntry::waitOverridden)) System.out.println("* wait mode set by a switch (contention policy or --wait), not by the application");
        return FableCli.OK;
    }

    /** Where the end's threads last waited: "s/r" (sending/receiving), "-" when neither waited in the last 0.5 s. */
    private static String cpu(FlowEntry f) {
        if (f.sendCpu() < 0 && f.recvCpu() < 0) return "-";
        return (f.sendCpu() < 0 ? "-" : String.valueOf(f.sendCpu())) + "/" + (f.recvCpu() < 0 ? "-" : String.valueOf(f.recvCpu()));
    }

    static String age(Duration d) {
        if (d.toHours() > 0) return d.toHours() + "h" + d.toMinutesPart() + "m";
        if (d.toMinutes() > 0) return d.toMinutes() + "m" + d.toSecondsPart() + "s";
        return d.toSeconds() + "." + d.toMillisPart() / 100 + "s";
    }
}
