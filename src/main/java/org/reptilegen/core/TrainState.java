package org.reptilegen.core;

/**
 * The meta-parameters theta and the outer Adam's moments after {@code adamStep} steps; with learned
 * inner learning rates also the rates (one per tensor or one per element) and their Adam moments,
 * otherwise those three are null.
 */
public record TrainState(
        double[] theta,
        double[] adamM,
        double[] adamV,
        long adamStep,
        double[] innerLr,
        double[] innerLrM,
        double[] innerLrV) {

    public TrainState(double[] theta, double[] adamM, double[] adamV, long adamStep) {
        this(theta, adamM, adamV, adamStep, null, null, null);
    }

    /** A fresh state: theta with zero moments. */
    public static TrainState fresh(double[] theta) {
        return new TrainState(theta, new double[theta.length], new double[theta.length], 0);
    }

    /** A fresh state with learned inner learning rates (null: fixed rate). */
    public static TrainState fresh(double[] theta, double[] innerLr) {
        if (innerLr == null) return fresh(theta);
        return new TrainState(
                theta,
                new double[theta.length],
                new double[theta.length],
                0,
                innerLr,
                new double[innerLr.length],
                new double[innerLr.length]);
    }

    /**
     * Adam step adamStep + 1 with the meta-gradient g on theta and, with learned rates, with gInnerLr on
     * them (the same step t): updates this state's arrays in place and returns the state at the new step.
     */
    public TrainState afterAdam(Adam adam, double[] g, double[] gInnerLr, boolean float32) {
        long t = adamStep + 1;
        adam.step(theta, g, adamM, adamV, t, float32);
        if (gInnerLr != null) adam.step(innerLr, gInnerLr, innerLrM, innerLrV, t, float32);
        return new TrainState(theta, adamM, adamV, t, innerLr, innerLrM, innerLrV);
    }

    public boolean learnedInnerLr() {
        return innerLr != null;
    }

    /** A deep copy. */
    public TrainState copy() {
        return new TrainState(
                theta.clone(),
                adamM.clone(),
                adamV.clone(),
                adamStep,
                clone(innerLr),
                clone(innerLrM),
                clone(innerLrV));
    }

    private static double[] clone(double[] a) {
        return a == null ? null : a.clone();
    }
}
