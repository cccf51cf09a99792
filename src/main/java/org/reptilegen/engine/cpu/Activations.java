package org.reptilegen.engine.cpu;

/** Scalar functions shared by the layers and the losses. */
final class Activations {
    private Activations() {}

    /** The logistic sigmoid, computed without overflow for large |x|. */
    static double sigmoid(double x) {
        if (x >= 0) return 1 / (1 + Math.exp(-x));
        double e = Math.exp(x);
        return e / (1 + e);
    }

    /** log(1 + exp(x)) without overflow. */
    static double softplus(double x) {
        return x > 0 ? x + Math.log1p(Math.exp(-x)) : Math.log1p(Math.exp(x));
    }
}
