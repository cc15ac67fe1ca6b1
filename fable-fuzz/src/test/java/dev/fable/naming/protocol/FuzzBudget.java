package dev.fable.naming.protocol;

/** Executions per fuzz test when the suite runs (5 targets: 200,000 in all); offline runs use the standalone entry points. */
public final class FuzzBudget {
    private FuzzBudget() {}

    public static final long SUITE = 40_000;
}
