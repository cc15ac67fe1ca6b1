package dev.fable.naming.protocol;

import dev.fable.naming.protocol.FlowEntry;
import dev.fable.naming.protocol.NameEntry;
import dev.fable.naming.protocol.Route;
import dev.fable.naming.protocol.Message.*;

import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;
import java.util.function.BiConsumer;
import java.util.function.ToIntFunction;

/** Encodes messages to frames and decodes payloads to messages, checking every field. */
public final class Messages {
    private Messages() {}

    /** Smallest encodings of list elements (all strings null), used to bound counts. */
    private static final int MIN_NAME_ENTRY = 2 + 8 + 2 + 2 + 2;
    private static final int MIN_REFUSAL_ENTRY = 2 + 2 + 8 + 2 + 8;
    private static final int MIN_FLOW_ENTRY = 8 + 2 + 2 + 2 + 2 + 8 * 6 + 8 + 1 + 2 + 1 + 4 + 4;
    /** A flow list's fan-out section, per row that has one: row, publisher, dropped, slots held, slot count. */
    private static final int FANOUT_BYTES = 4 + 1 + 8 + 4 + 4 + 2;   // the smallest row: an empty privacy string
    /** Room left in a frame for list elements after the header. */
    private static final int LIST_BUDGET = Wire.MAX_FRAME - 64;

    /**
     * Decodes one payload as returned by {@link FrameDecoder#next}. Numbers are big-endian.
     *
     * @param payload one frame's payload, from its position to its limit (read up to the limit)
     * @return the message
     * @throws ProtocolException if the payload is not exactly one valid message of this protocol version:
     *                           another version ({@link Wire#E_VERSION}), an unknown type, a truncated or
     *                           out-of-range field, malformed UTF-8, or trailing bytes ({@link Wire#E_BAD_REQUEST})
     */
    public static Message decode(ByteBuffer payload) throws ProtocolException {
        PayloadReader r = new PayloadReader(payload, "message");
        int version = r.u8("version");
        if (version != Wire.VERSION) {
            throw new ProtocolException(Wire.E_VERSION, "protocol version " + version + " is not supported (this side speaks " + Wire.VERSION
                    + "); run the same Fable version on both sides");
        }
        int type = r.u8("type");
        int id = r.i32("request id");
        Message m = switch (type) {
            case Wire.HELLO -> new Hello(id, r.i64("pid"), r.str("description"), r.str("shm directory"));
            case Wire.WELCOME -> new Welcome(id, r.text("host id"), r.text("advertise host"), r.text("certificate fingerprint"), r.i64("daemon pid"));
            case Wire.REGISTER -> new Register(id, r.text("name"));
            case Wire.OK -> new Ok(id);
            case Wire.ERROR -> new Fail(id, r.i32("code"), r.text("text"));
            case Wire.LISTENING -> new Listening(id, r.text("name"), r.str("unix path"), r.str("tcp host"), r.port("tcp port"));
            case Wire.UNREGISTER -> new Unregister(id, r.text("name"));
            case Wire.RESOLVE -> {
                Resolve res = new Resolve(id, r.text("name"), r.bool("trusted"), r.str("forced transport"), r.i64("wait millis"));
                if (res.waitMillis() < 0) throw new ProtocolException(Wire.E_BAD_REQUEST, "resolve: negative wait " + res.waitMillis());
                yield res;
            }
            case Wire.ROUTE -> new RouteReply(id, new Route(r.str("transport"), r.str("reason"), r.text("peer name"), r.i64("peer pid"),
                    r.text("peer host id"), r.bool("same host"), r.str("unix path"), r.str("tcp host"), r.port("tcp port"), r.str("fingerprint")));
            case Wire.NAMES -> new NamesRequest(id);
            case Wire.NAME_LIST -> {
                boolean last = r.bool("last");
                int n = r.count("names", MIN_NAME_ENTRY);
                List<NameEntry> l = new ArrayList<>(n);
                for (int i = 0; i < n; i++) {
                    l.add(new NameEntry(r.text("name"), r.i64("pid"), r.str("host id"), r.str("unix path"), r.str("tcp address")));
                }
                yield new NameList(id, last, l);
            }
            case Wire.FLOWS -> new FlowsRequest(id);
            case Wire.FLOW_LIST, Wire.FLOW_REPORT -> {
                boolean last = r.bool("last");
                int n = r.count("flows", MIN_FLOW_ENTRY);
                List<FlowEntry> l = new ArrayList<>(n);
                for (int i = 0; i < n; i++) {
                    l.add(new FlowEntry(r.i64("pid"), r.str("local name"), r.str("peer name"), r.str("transport"), r.str("reason"),
                            r.i64("epoch"), r.i64("bytes sent"), r.i64("bytes received"), r.i64("messages sent"),
                            r.i64("messages received"), r.i64("opened at"), r.i64("connection id"), r.bool("connector"),
                            r.str("wait mode"), r.bool("wait overridden"), r.i32("send cpu"), r.i32("receive cpu")));
                }
                if (payload.hasRemaining()) readFanouts(r, l);   // only in frames with a subscription's row (see encodeFlows)
                yield type == Wire.FLOW_LIST ? new FlowList(id, last, l) : new FlowReport(id, last, l);
            }
            case Wire.FLOW_QUERY -> new FlowQuery(id);
            case Wire.STATS -> new StatsRequest(id, r.bool("settle"));
            case Wire.STATS_REPLY -> new Stats(id, r.i64("used heap"), r.i32("names"), r.i32("clients"), r.i32("waiters"));
            case Wire.KNOWN_HOST -> new KnownHost(id, r.text("fingerprint"));
            case Wire.TRUSTED_ADDRESS -> new TrustedAddress(id, r.text("address"));
            case Wire.REFUSED -> new Refused(id, r.text("endpoint"), r.text("address"), r.text("reason"), r.i32("count"));
            case Wire.REFUSALS -> new RefusalsRequest(id);
            case Wire.TRUST_LIST -> new TrustListRequest(id);
            case Wire.NETWORK_LIST -> {
                int n = r.count("networks", 2);
                if (n > 256) throw new ProtocolException(Wire.E_BAD_REQUEST, n + " networks (at most 256)");
                List<String> l = new ArrayList<>(n);
                for (int i = 0; i < n; i++) l.add(r.text("network"));
                yield new NetworkList(id, l);
            }
            case Wire.REFUSAL_LIST -> {
                long total = r.i64("total");
                int n = r.count("refusals", MIN_REFUSAL_ENTRY);
                if (n > Wire.MAX_REFUSAL_ROWS) throw new ProtocolException(Wire.E_BAD_REQUEST, n + " refusal rows (at most " + Wire.MAX_REFUSAL_ROWS + ")");
                List<RefusalEntry> l = new ArrayList<>(n);
                for (int i = 0; i < n; i++) l.add(new RefusalEntry(r.text("endpoint"), r.text("address"), r.i64("count"), r.text("reason"), r.i64("at")));
                yield new RefusalList(id, total, l);
            }
            case Wire.RECONFIGURE -> new Reconfigure(id, r.i64("pid"), r.text("local name"), r.text("transport"), r.str("reason"),
                    r.i64("connection id"), r.str("wait mode"));
            case Wire.TRUST -> new Trust(id, r.text("network"), r.bool("trusted"));
            case Wire.POLICY_CHANGED -> new PolicyChanged(id, r.text("what"), r.str("name"));
            default -> throw new ProtocolException(Wire.E_BAD_REQUEST, "unknown message type " + type);
        };
        r.end();
        return m;
    }

    /**
     * Encodes a message that always fits one frame (every type but the lists). Long free text is shortened:
     * reasons and error texts to 1000 characters, the fields of refusals to 240.
     *
     * @param m the message
     * @return the frame, big-endian length prefix included, positioned at 0 and ready to write
     * @throws IllegalArgumentException if a list message needs more than one frame (use {@link #encodeNames} or
     *                                  {@link #encodeFlows}), a string field exceeds {@link Wire#MAX_STRING} bytes,
     *                                  or a list exceeds its row limit
     */
    public static ByteBuffer encode(Message m) {
        return switch (m) {
            case Hello h -> w(Wire.HELLO, h.id()).i64(h.pid()).str(h.description()).str(h.shmDir()).frame();
            case Welcome x -> w(Wire.WELCOME, x.id()).str(x.hostId()).str(x.advertiseHost()).str(x.certFingerprint()).i64(x.daemonPid()).frame();
            case Register x -> w(Wire.REGISTER, x.id()).str(x.name()).frame();
            case Ok x -> w(Wire.OK, x.id()).frame();
            case Fail x -> w(Wire.ERROR, x.id()).i32(x.code()).str(clip(x.text())).frame();
            case Listening x -> w(Wire.LISTENING, x.id()).str(x.name()).str(x.unixPath()).str(x.tcpHost()).i32(x.tcpPort()).frame();
            case Unregister x -> w(Wire.UNREGISTER, x.id()).str(x.name()).frame();
            case Resolve x -> w(Wire.RESOLVE, x.id()).str(x.name()).bool(x.trusted()).str(x.forcedTransport()).i64(x.waitMillis()).frame();
            case RouteReply x -> {
                Route r = x.route();
                yield w(Wire.ROUTE, x.id()).str(r.transport()).str(r.reason()).str(r.peerName()).i64(r.peerPid()).str(r.peerHostId())
                        .bool(r.sameHost()).str(r.unixPath()).str(r.tcpHost()).i32(r.tcpPort()).str(r.peerCertFingerprint()).frame();
            }
            case NamesRequest x -> w(Wire.NAMES, x.id()).frame();
            case FlowsRequest x -> w(Wire.FLOWS, x.id()).frame();
            case FlowQuery x -> w(Wire.FLOW_QUERY, x.id()).frame();
            case StatsRequest x -> w(Wire.STATS, x.id()).bool(x.settle()).frame();
            case Stats x -> w(Wire.STATS_REPLY, x.id()).i64(x.usedHeapBytes()).i32(x.names()).i32(x.clients()).i32(x.waiters()).frame();
            case KnownHost x -> w(Wire.KNOWN_HOST, x.id()).str(x.fingerprint()).frame();
            case TrustedAddress x -> w(Wire.TRUSTED_ADDRESS, x.id()).str(x.address()).frame();
            case Refused x -> w(Wire.REFUSED, x.id()).str(clipShort(x.endpoint())).str(clipShort(x.address())).str(clipShort(x.reason())).i32(x.count()).frame();
            case RefusalsRequest x -> w(Wire.REFUSALS, x.id()).frame();
            case TrustListRequest x -> w(Wire.TRUST_LIST, x.id()).frame();
            case NetworkList x -> {
                if (x.networks().size() > 256) throw new IllegalArgumentException("at most 256 networks");
                PayloadWriter p = w(Wire.NETWORK_LIST, x.id()).i32(x.networks().size());
                for (String n : x.networks()) p.str(clipShort(n));
                yield p.frame();
            }
            case RefusalList x -> {
                if (x.entries().size() > Wire.MAX_REFUSAL_ROWS) throw new IllegalArgumentException("at most " + Wire.MAX_REFUSAL_ROWS + " refusal rows");
                PayloadWriter p = w(Wire.REFUSAL_LIST, x.id()).i64(x.total()).i32(x.entries().size());
                for (RefusalEntry e : x.entries()) {   // 64 rows of clipped strings fit one frame
                    p.str(clipShort(e.endpoint())).str(clipShort(e.address())).i64(e.count()).str(clipShort(e.lastReason())).i64(e.lastAtMillis());
                }
                yield p.frame();
            }
            case Reconfigure x -> w(Wire.RECONFIGURE, x.id()).i64(x.pid()).str(x.localName()).str(x.transport()).str(clip(x.reason()))
                    .i64(x.connectionId()).str(x.waitMode()).frame();
            case Trust x -> w(Wire.TRUST, x.id()).str(x.network()).bool(x.trusted()).frame();
            case PolicyChanged x -> w(Wire.POLICY_CHANGED, x.id()).str(clip(x.what())).str(x.name()).frame();
            case NameList x -> single(encodeNames(x.id(), x.entries()), m);
            case FlowList x -> single(encodeFlows(Wire.FLOW_LIST, x.id(), x.entries()), m);
            case FlowReport x -> single(encodeFlows(Wire.FLOW_REPORT, x.id(), x.entries()), m);
        };
    }

    private static ByteBuffer single(List<ByteBuffer> frames, Message m) {
        if (frames.size() != 1) throw new IllegalArgumentException(m.getClass().getSimpleName() + " needs " + frames.size() + " frames: use the list encoders");
        return frames.getFirst();
    }

    /**
     * The name list as as many frames as it needs; the last has {@code last} set.
     *
     * @param id      the id of the {@link Message.NamesRequest} answered
     * @param entries the rows, in the order to send them
     * @return the frames, each with its length prefix, to write in order (one, empty, for an empty list)
     */
    public static List<ByteBuffer> encodeNames(int id, List<NameEntry> entries) {
        return chunked(Wire.NAME_LIST, id, entries, (p, e) -> p.str(e.name()).i64(e.pid()).str(e.hostId()).str(e.unixPath()).str(e.tcpAddress()));
    }

    /**
     * A flow list ({@link Wire#FLOW_LIST} or {@link Wire#FLOW_REPORT}) as as many frames as it needs; the last
     * has {@code last} set.
     *
     * @param type    {@link Wire#FLOW_LIST} or {@link Wire#FLOW_REPORT}
     * @param id      the id of the request or query answered
     * @param entries the rows, in the order to send them
     * @return the frames, each with its length prefix, to write in order (one, empty, for an empty list)
     */
    public static List<ByteBuffer> encodeFlows(int type, int id, List<FlowEntry> entries) {
        return chunked(type, id, entries, (p, e) -> p.i64(e.pid()).str(clip(e.localName())).str(clip(e.peerName())).str(clip(e.transport()))
                .str(clip(e.reason())).i64(e.epoch()).i64(e.bytesSent()).i64(e.bytesReceived()).i64(e.messagesSent())
                .i64(e.messagesReceived()).i64(e.openedAtMillis()).i64(e.connectionId()).bool(e.connector()).str(e.waitMode())
                .bool(e.waitOverridden()).i32(e.sendCpu()).i32(e.recvCpu()),
                e -> e.fanout() == null ? 0 : FANOUT_BYTES, Messages::writeFanouts);
    }

    /**
     * A flow list frame's fan-out section, after its rows, when one of them is a subscription's end: {@code int n}
     * (at least 1), then per such row, in row order, {@code int row} (its index in this frame), {@code bool publisher},
     * {@code long dropped}, {@code int slots held}, {@code int slot count}, {@code string privacy}. A frame without such a row ends after its
     * rows, as before the section existed: older daemons and clients read it, and this side reads theirs.
     */
    private static void writeFanouts(PayloadWriter p, List<FlowEntry> rows) {
        int n = 0;
        for (FlowEntry e : rows) if (e.fanout() != null) n++;
        if (n == 0) return;
        p.i32(n);
        for (int i = 0; i < rows.size(); i++) {
            FlowEntry.Fanout f = rows.get(i).fanout();
            if (f != null) p.i32(i).bool(f.publisher()).i64(f.dropped()).i32(f.slotsHeld()).i32(f.slotCount()).str(clip(f.privacy()));
        }
    }

    /** Reads {@link #writeFanouts}' section into {@code rows}: at least one, row indices increasing (one encoding per list). */
    private static void readFanouts(PayloadReader r, List<FlowEntry> rows) throws ProtocolException {
        int n = r.count("fan-out rows", FANOUT_BYTES);
        if (n == 0) throw new ProtocolException(Wire.E_BAD_REQUEST, "flow list: an empty fan-out section (leave it out)");
        int previous = -1;
        for (int i = 0; i < n; i++) {
            int row = r.i32("fan-out row");
            if (row <= previous || row >= rows.size()) {
                throw new ProtocolException(Wire.E_BAD_REQUEST, "flow list: fan-out row " + row + " (rows 0.." + (rows.size() - 1)
                        + ", each once, in order)");
            }
            previous = row;
            rows.set(row, rows.get(row).withFanout(new FlowEntry.Fanout(r.bool("publisher"), r.i64("dropped"), r.i32("slots held"),
                    r.i32("slot count"), r.text("privacy"))));
        }
    }

    private static <T> List<ByteBuffer> chunked(int type, int id, List<T> entries, BiConsumer<PayloadWriter, T> one) {
        return chunked(type, id, entries, one, e -> 0, (p, rows) -> { });
    }

    /** {@code tail} writes a frame's section after its rows; {@code tailBytes} bounds what a row adds to it. */
    private static <T> List<ByteBuffer> chunked(int type, int id, List<T> entries, BiConsumer<PayloadWriter, T> one,
                                                ToIntFunction<T> tailBytes, BiConsumer<PayloadWriter, List<T>> tail) {
        List<ByteBuffer> frames = new ArrayList<>();
        int i = 0;
        do {
            PayloadWriter p = w(type, id);
            int lastAt = p.size();
            p.bool(false);
            int countAt = p.size();
            p.i32(0);
            int n = 0;
            int from = i;
            int tailSize = 0;   // the section after the rows so far, its count included (the margin holds one more row's part)
            while (i < entries.size() && p.size() + tailSize < LIST_BUDGET - 5 * (Wire.MAX_STRING + 2) - 64) {
                T e = entries.get(i++);
                int t = tailBytes.applyAsInt(e);
                if (t > 0 && tailSize == 0) tailSize = 4;
                tailSize += t;
                one.accept(p, e);
                n++;
            }
            p.patchI32(countAt, n);
            tail.accept(p, entries.subList(from, i));
            if (i >= entries.size()) {
                ByteBuffer f = p.frame();
                f.put(4 + lastAt, (byte) 1);
                frames.add(f);
                break;
            }
            frames.add(p.frame());
        } while (true);
        return frames;
    }

    /** Text of a refusal row: short enough that {@link Wire#MAX_REFUSAL_ROWS} rows fit one frame. */
    static String clipShort(String s) {
        if (s == null || s.length() <= 240) return s;
        return s.substring(0, 240) + "…";
    }

    /** Long free text (reasons, error texts) is shortened to fit a string field. */
    static String clip(String s) {
        if (s == null || s.length() <= 1000) return s;
        return s.substring(0, 1000) + "…";
    }

    private static PayloadWriter w(int type, int id) {
        return new PayloadWriter(type, id);
    }
}
