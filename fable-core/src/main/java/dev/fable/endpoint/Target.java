package dev.fable.endpoint;

import java.net.URI;

/**
 * A parsed connect URI: a Fable name ({@code xio://name}, {@code xio://orders.eu/ledger} for a hierarchical one,
 * or {@code xio+<transport>://name} to force a transport) or a plain external peer ({@code tcp://host:port}, {@code unix:///path}).
 */
public record Target(String scheme, String name, String forcedTransport, String host, int port, String path) {
    
    private static final String FORMS = "expected xio://name, xio+shm|unix|tcp|tls://name, tcp://host:port or unix:///path";

    boolean external() {
        return name == null;
    }

    static Target parse(String uri) {
        URI u;
        try {
            u = URI.create(uri);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("not a Fable URI: '" + uri + "' (" + FORMS + ")", e);
        }
        String scheme = u.getScheme();
        if (scheme == null) throw new IllegalArgumentException("no scheme in '" + uri + "' (" + FORMS + ")");
        switch (scheme) {
            case "tcp" -> {
                if (u.getHost() == null || u.getPort() < 1) {
                    throw new IllegalArgumentException("'" + uri + "' needs a host and a port: tcp://host:port");
                }
                return new Target(scheme, null, null, u.getHost(), u.getPort(), null);
            }
            case "unix" -> {
                if (u.getPath() == null || u.getPath().isEmpty()) throw new IllegalArgumentException("'" + uri + "' needs a path: unix:///path");
                return new Target(scheme, null, null, null, 0, u.getPath());
            }
            default -> {
                String forced = null;
                if (scheme.startsWith("xio+")) {
                    forced = scheme.substring(4);
                    if (!dev.fable.TransportName.isKnown(forced)) {
                        throw new IllegalArgumentException("unknown transport '" + forced + "' in '" + uri + "' (" + FORMS + ")");
                    }
                } else if (!scheme.equals("xio")) {
                    throw new IllegalArgumentException("unsupported scheme '" + scheme + "' in '" + uri + "' (" + FORMS + ")");
                }
                if (u.getAuthority() == null) throw new IllegalArgumentException("no endpoint name in '" + uri + "' (" + FORMS + ")");
                if (u.getQuery() != null || u.getFragment() != null) {
                    throw new IllegalArgumentException("'" + uri + "' has a query or fragment; a Fable name has neither (" + FORMS + ")");
                }
                String path = u.getRawPath() == null ? "" : u.getRawPath();   // raw: %2F must not sneak a separator in
                return new Target(scheme, u.getRawAuthority() + path, forced, null, 0, null);
            }
        }
    }
}
