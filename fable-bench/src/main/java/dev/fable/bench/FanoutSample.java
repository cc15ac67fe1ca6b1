package dev.fable.bench;

import java.util.Arrays;
import java.util.List;
import java.util.Map;

/**
 * One cell of {@code --fanout} in one round: a family with N consumers at one size, kind {@code tput}
 * (flat out) or {@code lat} (paced), with the machine's state around it (placement probe before and
 * after, other processes' CPU, the host's steal). {@code producer} holds the producer's {@code SENT}
 * fields, {@code consumers} each consumer's {@code RESULT} fields (in consumer order, on
 * {@code consumerCpus}); {@code error} is set instead when the cell failed.
 */
record FanoutSample(String family, int consumers, int size, String kind, int round, int producerCpu, List<Integer> consumerCpus,
                    double probeBefore, double probeAfter, double foreignPct, double stealPct, Map<String, String> producer,
                    List<Map<String, String>> perConsumer, String error) {
    boolean failed() {
        return error != null;
    }

    /** As {@link Sample#quiet()}: other processes used at most 5% of a CPU and the host stole at most 5%. */
    boolean quiet() {
        return !(foreignPct > 5) && !(stealPct > 5);
    }

    /** same (the producer's CPU is a consumer's), or near/far/mixed from the probe between the producer's CPU and the first consumer's. */
    String placementLabel() {
        return consumerCpus.contains(producerCpu) ? "same" : PlacementProbe.label(probeBefore, probeAfter);
    }

    static double num(Map<String, String> m, String key) {
        String v = m.get(key);
        return v == null ? Double.NaN : Double.parseDouble(v);
    }

    /** Bytes/s one consumer received in its own measured window (0 if it had no window). */
    double consumerBytesPerSec(int k) {
        double msgs = num(perConsumer.get(k), "msgs"), nanos = num(perConsumer.get(k), "nanos");
        return nanos > 0 && msgs > 1 ? msgs * size * 1e9 / nanos : 0;
    }

    /** tput: the sum over consumers of what each received per second. */
    double aggregateBytesPerSec() {
        double sum = 0;
        for (int k = 0; k < perConsumer.size(); k++) sum += consumerBytesPerSec(k);
        return sum;
    }

    /** Messages per second the producer sent (published once for the fan-out and Aeron; N times, once per connection, for 1to1). */
    double producerMsgsPerSec() {
        double msgs = num(producer, "msgs"), nanos = num(producer, "nanos");
        return nanos > 0 ? msgs * 1e9 / nanos : Double.NaN;
    }

    /**
     * The fan-out: the share of (message, subscriber) pairs lost, in %: what the publisher dropped of what it published in
     * the measured phase, or, when more, what the consumers were told they lost of the messages their sequence numbers
     * covered in their windows (a broadcast log's readers count their laps themselves; the publisher never sees them).
     */
    double droppedPct() {
        double msgs = num(producer, "msgs"), told = 0, covered = 0;
        for (Map<String, String> c : perConsumer) {
            double t = num(c, "told"), m = num(c, "msgs");
            if (t > 0) told += t;
            if (m > 0) covered += m;
        }
        covered += told;
        double byPublisher = msgs > 0 ? 100 * num(producer, "dropped") / (msgs * consumers) : Double.NaN;
        double byConsumers = covered > 0 ? 100 * told / covered : 0;
        return Double.isNaN(byPublisher) ? byPublisher : Math.max(byPublisher, byConsumers);
    }

    /** lat: a percentile key over the consumers: the median consumer's ({@code worst} false) or the worst consumer's. */
    double latency(String key, boolean worst) {
        double[] v = perConsumer.stream().mapToDouble(m -> num(m, key)).filter(d -> !Double.isNaN(d)).sorted().toArray();
        if (v.length == 0) return Double.NaN;
        return worst ? v[v.length - 1] : BenchReport.median(v);
    }

    @Override
    public String toString() {
        return family + " N=" + consumers + " " + size + " " + kind + " round " + round + (failed() ? " FAILED " + error : "")
                + " consumers on " + Arrays.toString(consumerCpus.toArray());
    }
}
