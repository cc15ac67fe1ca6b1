/** The {@code fable} command; {@code ./fable} runs it on the module path. */
module dev.fable.cli {
    requires dev.fable;
    requires dev.fable.daemon;
    requires dev.fable.bench;
    requires info.picocli;
    requires tools.jackson.core;
    opens dev.fable.cli to info.picocli;   // picocli fills the commands' option fields by reflection
}
