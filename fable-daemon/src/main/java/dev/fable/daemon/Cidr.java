package dev.fable.daemon;

import java.net.InetAddress;
import java.net.UnknownHostException;
import java.util.ArrayList;
import java.util.List;

/**
 * An IPv4 or IPv6 network in CIDR notation ({@code 10.0.0.0/8}, {@code fd00::/8}); a bare address is a /32 or /128.
 * Made by {@link #parse}.
 *
 * @param network the network's address as given: 4 bytes (IPv4) or 16 (IPv6), network byte order; host bits
 *                are kept as written and ignored by {@link #contains}
 * @param prefix  the number of leading bits that name the network, 0 … 32 (IPv4) or 0 … 128 (IPv6)
 * @param text    the notation it was parsed from, trimmed ({@link #toString()} returns it)
 */
public record Cidr(byte[] network, int prefix, String text) {

    /**
     * Parses one CIDR; fails naming the text and the expected form. Only numeric addresses are accepted: no
     * host name is looked up.
     *
     * @param text {@code address/prefix}, or a bare address; surrounding blanks are ignored
     * @return the network
     * @throws IllegalArgumentException if {@code text} is not a numeric address with an optional prefix in range
     */
    public static Cidr parse(String text) {
        String t = text.trim();
        int slash = t.indexOf('/');
        String addr = slash < 0 ? t : t.substring(0, slash);
        try {
            if (!addr.matches("[0-9a-fA-F:.]+")) throw new UnknownHostException("not a numeric address");
            byte[] a = InetAddress.getByName(addr).getAddress();
            int prefix = slash < 0 ? a.length * 8 : Integer.parseInt(t.substring(slash + 1));
            if (prefix < 0 || prefix > a.length * 8) throw new NumberFormatException("prefix " + prefix + " out of range");
            return new Cidr(a, prefix, t);
        } catch (UnknownHostException | NumberFormatException e) {
            throw new IllegalArgumentException("invalid network '" + text + "': " + e.getMessage()
                    + "; use CIDR notation such as 10.0.0.0/8 or fd00::/8");
        }
    }

    /**
     * Parses a comma-separated list; blank gives an empty list.
     *
     * @param csv networks separated by commas (blank items are skipped), or null
     * @return the networks in the order given, a new modifiable list (empty for null or blank)
     * @throws IllegalArgumentException if an item is not a valid network ({@link #parse})
     */
    public static List<Cidr> parseList(String csv) {
        List<Cidr> l = new ArrayList<>();
        if (csv == null) return l;
        for (String s : csv.split(",")) {
            if (!s.isBlank()) l.add(parse(s));
        }
        return l;
    }

    /**
     * True if the numeric address {@code host} lies in this network; a name or a malformed address never does.
     *
     * @param host a numeric IPv4 or IPv6 address, or null
     * @return whether its first {@link #prefix()} bits equal the network's; {@code false} for null, a host name,
     *         a malformed address, or an address of the other IP version
     */
    public boolean contains(String host) {
        if (host == null || !host.matches("[0-9a-fA-F:.]+")) return false;
        byte[] a;
        try {
            a = InetAddress.getByName(host).getAddress();
        } catch (UnknownHostException e) {
            return false;
        }
        if (a.length != network.length) return false;
        int full = prefix / 8;
        for (int i = 0; i < full; i++) if (a[i] != network[i]) return false;
        int rest = prefix % 8;
        if (rest == 0) return true;
        int mask = 0xFF << (8 - rest) & 0xFF;
        return (a[full] & mask) == (network[full] & mask);
    }

    /**
     * The notation this network was parsed from.
     *
     * @return {@link #text()}
     */
    @Override
    public String toString() {
        return text;
    }
}
