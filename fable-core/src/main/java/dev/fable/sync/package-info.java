/**
 * Synchronisation orthogonal to data (the tripwire paper): how a thread waits for a word another
 * process writes, and what its waits tell.
 * <ul>
 * <li>{@link dev.fable.sync.Tripwire}: the waiter's parked word, both the "I sleep" advertisement and the futex.</li>
 * <li>{@link dev.fable.sync.Waiter}: spin, then park, on a tripwire until a condition holds (SPIN / BLOCK / ADAPTIVE).</li>
 * <li>{@link dev.fable.sync.AsymmetricFence}: a compiler barrier on the hot side, {@code membarrier} on the rare side.</li>
 * <li>{@link dev.fable.sync.Futex}, {@link dev.fable.sync.Futex2}: the system calls ({@code futex}, {@code futex_waitv}).</li>
 * <li>{@link dev.fable.sync.CpuSample}: the CPU a waiting thread last ran on ({@code sched_getcpu}), input of the daemon's contention policy.</li>
 * <li>{@link dev.fable.sync.ThreadAffinity}: pins a thread to a CPU.</li>
 * </ul>
 */
package dev.fable.sync;
