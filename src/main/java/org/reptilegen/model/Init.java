package org.reptilegen.model;

/** How a parameter tensor is initialised (README, The math, 2). */
public record Init(Kind kind, double bound) {
    public enum Kind {
        NORMAL,
        UNIFORM,
        CONSTANT
    }

    /** N(0, 1). */
    public static Init normal() {
        return new Init(Kind.NORMAL, 0);
    }

    /** U(-bound, bound). */
    public static Init uniform(double bound) {
        return new Init(Kind.UNIFORM, bound);
    }

    /** Every element equal to value. */
    public static Init constant(double value) {
        return new Init(Kind.CONSTANT, value);
    }
}
