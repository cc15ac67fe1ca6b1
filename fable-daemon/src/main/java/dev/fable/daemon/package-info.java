/**
 * {@code fabled}, the per-host, per-user name daemon: registry, rendezvous with the transport
 * selection policy ({@link dev.fable.daemon.TransportPolicy}), flow table, names of other hosts
 * through a cluster directory ({@code fable.zookeeper}, {@link dev.fable.daemon.cluster}), and the policies that switch live connections: trust (an operator's
 * {@code fable trust}), migration (an endpoint listens on another host now)
 * and contention ({@link dev.fable.daemon.ContentionPolicy}: both ends of a spinning shm
 * connection on one CPU). Run it with {@code fable daemon}; the library starts one when none
 * answers. See {@code docs/naming.md} and {@code docs/reconfiguration.md}.
 *
 * <h2>Files and their jobs</h2>
 * One thread, the <em>loop thread</em>, does all the daemon's work; every class below is confined to it
 * unless it says otherwise. Blocking calls to the cluster directory and the wait for a dead process run on
 * virtual threads that touch no daemon state and post their results to the loop.
 * <ul>
 * <li>{@code NameDaemon}: {@code main}, configuration ({@code fromConfig}) and wiring: which part gets
 *     each message, each turn's housekeeping and each closed connection; start and stop.
 * <li>{@code EventLoop}: the loop thread: the selector, the tasks other threads post, the turn.
 * <li>{@code DaemonLock}: {@code fabled.lock}, one daemon per runtime directory.
 * <li>{@code ClientSessions}: session I/O: binds the Unix socket (the daemon has no network port), accepts
 *     clients (same uid only), reads and writes frames, HELLO, per-client limits (malformed or stalled frames, unread
 *     replies), closing with the reason logged. {@code Session}: one connection and its reply queue.
 *     {@code LingeringSockets}: a client closed for a violation gets its owed replies, the error and an
 *     orderly end of stream; its socket drains what it still sends until it closes (bounded).
 * <li>{@code NameRequests}: names and resolves (REGISTER, LISTENING, UNREGISTER, NAMES, RESOLVE, STATS),
 *     waiting resolves and their deadlines, on the {@code Registry} (the names and the waiters).
 * <li>{@code ClusterLinks}: the cluster directory: lookups, publishing and withdrawing this host's names
 *     (virtual threads), moves seen there, the known hosts' certificates (KNOWN_HOST).
 * <li>{@code TrustAndMigration}: the current {@code TransportPolicy} (replaced by {@code fable trust}) and
 *     POLICY_CHANGED to every client on a trust change or a migration. {@code Cidr}: a trusted network.
 * <li>{@code SwitchOrders}: RECONFIGURE orders to the process that holds a connection, from
 *     {@code fable reconfigure} and from the {@code ContentionPolicy}'s rounds; their answers.
 * <li>{@code FlowCollector}: flow tables: asks the clients, gathers and checks their rows, pairs a
 *     connection's two ends.
 * <li>{@code Sweeper}: stalled clients, lingering sockets past their time and the idle exit, every 250 ms; the shared-memory files of a
 *     client process that died (on a virtual thread).
 * <li>{@code DaemonLogging}: the log's format (ISO-8601 time, level) on stderr, through
 *     {@code System.Logger} and {@code java.util.logging}; any thread.
 * </ul>
 */
package dev.fable.daemon;
