package dev.fable.cli;

import dev.fable.FableException;
import dev.fable.naming.DaemonNameService;
import dev.fable.naming.protocol.FlowEntry;
import dev.fable.naming.protocol.Message;
import dev.fable.naming.protocol.RefusalEntry;
import dev.fable.naming.protocol.Wire;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.time.Duration;
import java.util.List;
import java.util.concurrent.Callable;

@Command(name = "flows", mixinStandardHelpOptions = true, versionProvider = FableCli.Version.class, description = "List every connection end of every process on this host, as their libraries report them now.")
final class FlowsCommand implements Callable<Integer> {
    @Option(names = "--json", description = "one JSON array, for machines")
    boolean json;

    @Option(names = "--refused", description = "list the connections this host's endpoints refused at their doors instead "
            + "(per endpoint and source address: how many, the latest reason)")
    boolean refused;

    @Override
    public Integer call() {
        if (refused) return refusals();
        List<FlowEntry> flows;
        try {
            flows = DaemonNameService.get().flows();
        } catch (FableException e) {
            System.err.println("fable flows: " + e.getMessage());
            return FableCli.SETUP;
        }
        long now = System.currentTimeMillis();
        if (json) {
            System.out.println(Json.array(flows, (g, f) -> {
                g.writeNumberProperty("pid", f.pid())
                        .writeStringProperty("local", f.localName()).writeStringProperty("peer", f.peerName())
                        .writeStringProperty("transport", f.transport()).writeStringProperty("reason", f.reason())
                        .writeNumberProperty("epoch", f.epoch()).writeStringProperty("connectionId", Long.toHexString(f.connectionId()))
                        .writeBooleanProperty("connector", f.connector()).writeStringProperty("wait", f.waitMode())
                        .writeBooleanProperty("waitOverridden", f.waitOverridden())
                        .writeNumberProperty("sendCpu", f.sendCpu()).writeNumberProperty("receiveCpu", f.recvCpu())
                        .writeNumberProperty("bytesSent", f.bytesSent()).writeNumberProperty("bytesReceived", f.bytesReceived())
                        .writeNumberProperty("messagesSent", f.messagesSent()).writeNumberProperty("messagesReceived", f.messagesReceived())
                        .writeNumberProperty("openedAtMillis", f.openedAtMillis()).writeNumberProperty("ageMillis", now - f.openedAtMillis());
                // a subscription's end: which end, the subscriber's privacy model, its drops (for it / told to it), the
                // slots it holds and its quota (publisher's end); else nulls
                FlowEntry.Fanout x = f.fanout();
                g.writeStringProperty("fanout", x == null ? null : x.publisher() ? "publisher" : "subscriber");
                g.writeStringProperty("privacy", x == null ? null : x.privacy());
                numberOrNull(g, "dropped", x == null ? -1 : x.dropped());
                numberOrNull(g, "slotsHeld", x == null ? -1 : x.slotsHeld());
                numberOrNull(g, "slots", x == null ? -1 : x.slotCount());
            }));
            return FableCli.OK;
        }
        boolean fanout = flows.stream().anyMatch(f -> f.fanout() != null);   // the column only when a subscription is listed
        List<String> header = new java.util.ArrayList<>(List.of("PID", "LOCAL", "PEER", "TRANSPORT", "WAIT", "CPU S/R", "REASON", "EPOCH",
                "BYTES OUT", "BYTES IN", "MSGS OUT/IN", "AGE"));
        if (fanout) header.add("FANOUT");
        Table t = new Table(header.toArray(String[]::new));
        for (FlowEntry f : flows) {
            List<Object> row = new java.util.ArrayList<>(List.of(f.pid(), f.localName(), f.peerName(), f.transport(),
                    f.waitMode() == null ? "-" : f.waitMode() + (f.waitOverridden() ? "*" : ""),
                    cpu(f), f.reason(), f.epoch(),
                    f.bytesSent() + " B", f.bytesReceived() + " B", f.messagesSent() + "/" + f.messagesReceived(),
                    age(Duration.ofMillis(Math.max(0, now - f.openedAtMillis())))));
            if (fanout) row.add(fanout(f.fanout()));
            t.row(row.toArray());
        }
        System.out.print(t);
        if (fanout) {
            System.out.println("FANOUT: a subscription's end. publishes: this end publishes to PEER, a subscriber: the messages dropped for it "
                    + "(its queue was full), and the slots of the publisher's pool not given back yet, by all its subscribers (it takes "
                    + "back released slots when it runs short, so this counts some that are released). subscribes: this end subscribes "
                    + "to PEER: the drops the publisher told it.");
        }
        if (!flows.isEmpty()) {
            System.out.println("CPU S/R: the CPU this end's sending / receiving thread last waited on in the last 0.5 s (-: it did not wait). "
                    + "MSGS OUT/IN: whole messages sent / received (a large message counts once, however many fragments). EPOCH: switches so far.");
        }
        if (flows.stream().anyMatch(f -> f.waitMode() != null && f.waitMode().startsWith("adaptive ("))) {
            System.out.println("adaptive (...): what the last wait decided: spin up to the budget it has learned; with the peer on the same CPU, "
                    + "yield the CPU to it, then block (or block at once while other threads use that CPU); or block at once because other "
                    + "threads kept the CPU more than half busy or a spin was preempted; and how many waits spun.");
        }
        if (flows.stream().anyMatch(FlowEntry::waitOverridden)) System.out.println("* wait mode set by a switch (contention policy or --wait), not by the application");
        return FableCli.OK;
    }

    private int refusals() {
        Message.RefusalList l;
        try {
            l = DaemonNameService.get().refusals();
        } catch (FableException e) {
            System.err.println("fable flows: " + e.getMessage());
            return FableCli.SETUP;
        }
        long now = System.currentTimeMillis();
        if (json) {
            System.out.println(Json.array(l.entries(), (g, r) -> g.writeStringProperty("endpoint", r.endpoint())
                    .writeStringProperty("from", r.address()).writeNumberProperty("count", r.count())
                    .writeStringProperty("lastReason", r.lastReason()).writeNumberProperty("lastAtMillis", r.lastAtMillis())));
            return FableCli.OK;
        }
        Table t = new Table("ENDPOINT", "FROM", "REFUSED", "LAST", "LAST REASON");
        for (RefusalEntry r : l.entries()) {
            t.row(r.endpoint(), r.address(), r.count(), age(Duration.ofMillis(Math.max(0, now - r.lastAtMillis()))) + " ago", r.lastReason());
        }
        System.out.print(t);
        System.out.println(l.total() + " connection(s) refused since the daemon started" + (l.entries().size() == Wire.MAX_REFUSAL_ROWS
                ? " (the latest " + Wire.MAX_REFUSAL_ROWS + " sources shown)" : ""));
        return FableCli.OK;
    }

    private static void numberOrNull(tools.jackson.core.JsonGenerator g, String name, long v) {
        if (v < 0) g.writeNullProperty(name); else g.writeNumberProperty(name, v);
    }

    /**
     * The FANOUT cell: "publishes (relaxed), 2 dropped, 5/128 held" (the subscriber's model, its drops, the slots it holds
     * of its quota), "subscribes (strict), 2 dropped", or "-" (one-to-one).
     */
    private static String fanout(FlowEntry.Fanout x) {
        if (x == null) return "-";
        if (!x.publisher()) return "subscribes (" + x.privacy() + "), " + x.dropped() + " dropped";
        return "publishes (" + x.privacy() + "), " + x.dropped() + " dropped"
                + (x.slotsHeld() < 0 ? "" : ", " + x.slotsHeld() + "/" + x.slotCount() + " held");
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
