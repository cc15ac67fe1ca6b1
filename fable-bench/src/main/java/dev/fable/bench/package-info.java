/**
 * {@code fable bench}: the FABLE paper's transport matrix on the machine it runs on.
 *
 * <p>Who does what:
 * <ul>
 *   <li>The orchestrator ({@link dev.fable.bench.IpcBench} parses and checks the options into a plan,
 *       {@link dev.fable.bench.BenchRun} runs it, {@link dev.fable.bench.BenchReport} and
 *       {@link dev.fable.bench.BenchCharts} print and write the results). It never touches a
 *       transport itself.</li>
 *   <li>Per row (transport, {@link dev.fable.bench.Row}), two peer JVMs that live for the whole run
 *       ({@link dev.fable.bench.RowPeers}): the {@link dev.fable.bench.Driver} takes the
 *       orchestrator's commands on stdin and runs the pinger or writer; the
 *       {@link dev.fable.bench.Responder} echoes or sinks, told what to do in-band.</li>
 *   <li>Both run the same loops ({@link dev.fable.bench.Loops}) over one {@link dev.fable.bench.Link}
 *       per transport: {@link dev.fable.bench.FableLink}, {@link dev.fable.bench.NioLink},
 *       {@link dev.fable.bench.PipeLink}, {@link dev.fable.bench.AeronLink}. What a message holds
 *       and how it is checked: {@link dev.fable.bench.Pattern}.</li>
 *   <li>{@link dev.fable.bench.HandLoop} is the yardstick of the harness's own cost;
 *       {@link dev.fable.bench.PlacementProbe} measures where the host put our vCPUs;
 *       {@link dev.fable.bench.JsseCeiling} measures JSSE alone.</li>
 * </ul>
 */
package dev.fable.bench;
