/**
 * {@code fable bench}: the transport matrix between pinned JVMs, its report and charts. Its peer JVMs
 * run on the class path (Aeron's agents need {@code --add-opens ... =ALL-UNNAMED}); see {@code PeerJvm}.
 */
module dev.fable.bench {
    requires dev.fable;
    requires dev.fable.daemon;             // JsseCeiling: a throwaway host key (HostKeys)
    requires java.desktop;                 // charts: java.awt, javax.imageio
    requires java.management;              // the machine's load and CPU time
    requires jdk.management;
    requires info.picocli;                 // IpcBench is the 'fable bench' command
    requires org.knowm.xchart;             // automatic module
    requires org.apache.commons.csv;
    requires HdrHistogram;                 // automatic module (named from its jar)
    requires io.aeron.all;                 // automatic module: the comparison peer
    exports dev.fable.bench;
    opens dev.fable.bench to info.picocli;
}
