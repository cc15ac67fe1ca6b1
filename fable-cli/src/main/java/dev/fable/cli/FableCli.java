package dev.fable.cli;

import dev.fable.bench.IpcBench;
import picocli.CommandLine;
import picocli.CommandLine.Command;

/**
 * {@code fable}: the command-line tool. Exit codes: 0 success; 1 bad usage; 2 could not set up
 * (no such listener, name in use, no shared memory); 3 the transfer is incomplete (the peer died or
 * the channel failed); 4 local I/O error (stdin/stdout).
 */
@Command(name = "fable", mixinStandardHelpOptions = true, versionProvider = FableCli.Version.class,
        description = "Reconfigurable, zero-copy I/O channels: name a peer, Fable picks the transport.",
        subcommands = {SendCommand.class, RecvCommand.class, RelayCommand.class, PublishCommand.class, SubscribeCommand.class, DaemonCommand.class, NamesCommand.class, HostsCommand.class, FlowsCommand.class, ReconfigureCommand.class, TrustCommand.class, IpcBench.class, CommandLine.HelpCommand.class})
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

    /** {@code fable --version}: the version the build stamped into {@code version.properties}. */
    static final class Version implements CommandLine.IVersionProvider {
        @Override
        public String[] getVersion() throws java.io.IOException {
            java.util.Properties p = new java.util.Properties();
            try (var in = FableCli.class.getResourceAsStream("version.properties")) {
                if (in != null) p.load(in);
            }
            return new String[] {"fable " + p.getProperty("version", "(unknown: built without Maven)")
                    + " (Java " + Runtime.version() + ", " + System.getProperty("java.home") + ")"};
        }
    }

    public static void main(String[] args) {
        System.exit(run(args));
    }

    public static int run(String... args) {
        CommandLine cl = new CommandLine(new FableCli()).setExitCodeExceptionMapper(t -> SETUP);
        CommandLine completion = new CommandLine(new picocli.AutoComplete.GenerateCompletion());
        completion.getCommandSpec().name("completion").usageMessage().hidden(false)
                .description("Print a bash completion script: source <(fable completion), or save it in /etc/bash_completion.d/fable.");
        cl.addSubcommand("completion", completion);
        // Bad input and failures are one line naming the command, never a stack trace or a page of usage.
        cl.setParameterExceptionHandler((e, a) -> {
            String who = who(e.getCommandLine());
            e.getCommandLine().getErr().println(who + ": " + e.getMessage() + " (see '" + who + " --help')");
            return USAGE;
        });
        cl.setExecutionExceptionHandler((e, c, parsed) -> {
            c.getErr().println(who(c) + ": " + (e.getMessage() != null ? e.getMessage() : e.toString()));
            return e instanceof IllegalArgumentException ? USAGE : SETUP;
        });
        return cl.execute(args);
    }

    private static String who(CommandLine c) {
        return c.getParent() == null ? "fable" : "fable " + c.getCommandName();
    }
}
