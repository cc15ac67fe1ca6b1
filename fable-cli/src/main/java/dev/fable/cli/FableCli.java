package dev.fable.cli;

import dev.fable.bench.IpcBench;
import picocli.CommandLine;
import picocli.CommandLine.Command;

/**
 * {@code fable}: the command-line tool. Exit codes: 0 success; 1 bad usage; 2 could not set up
 * (no such listener, name in use, no shared memory); 3 the transfer is incomplete (the peer died or
 * the channel failed); 4 local I/O error (stdin/stdout).
 */
@Command(name = "fable", mixinStandardHelpOptions = true, version = "fable 0.1.0",
        description = "Reconfigurable, zero-copy I/O channels: name a peer, Fable picks the transport.",
        subcommands = {SendCommand.class, RecvCommand.class, DaemonCommand.class, NamesCommand.class, FlowsCommand.class, IpcBench.class, CommandLine.HelpCommand.class})
public final class FableCli implements Runnable {
    public static final int OK = 0;
    public static final int USAGE = 1;
    public static final int SETUP = 2;
    public static final int INCOMPLETE = 3;
    public static final int IO = 4;

    @Override
    public void run() {
        CommandLine.usage(this, System.out);
    }

    public static void main(String[] args) {
        System.exit(run(args));
    }

    public static int run(String... args) {
        return new CommandLine(new FableCli()).setExitCodeExceptionMapper(t -> SETUP).execute(args);
    }
}
