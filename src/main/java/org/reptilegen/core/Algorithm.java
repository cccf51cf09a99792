package org.reptilegen.core;

/** The meta-gradients of README, The math, 4. */
public enum Algorithm {
    /** theta - mean of the tasks' final parameters. */
    REPTILE,
    /** Mean over tasks of the sum of the inner gradients: MAML without the Hessian terms. */
    FOMAML,
    /** Exact second-order MAML through every inner step, with checkpointing. */
    MAML;

    public String configName() {
        return name().toLowerCase();
    }

    /** Why learned inner learning rates cannot go with this algorithm, or null when they can. */
    public String refusesLearnedRates() {
        return this == REPTILE
                ? "learned inner learning rates need maml or fomaml: Reptile gives them no gradient"
                : null;
    }

    public static Algorithm parse(String s) {
        for (Algorithm a : values()) if (a.configName().equals(s)) return a;
        throw new IllegalArgumentException("unknown algorithm '" + s + "': use reptile, fomaml or maml");
    }
}
