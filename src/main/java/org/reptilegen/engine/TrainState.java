package org.reptilegen.engine;

/** The meta-parameters theta and the outer Adam's moments after {@code adamStep} steps. */
public record TrainState(double[] theta, double[] adamM, double[] adamV, long adamStep) {
    /** A fresh state: theta with zero moments. */
    public static TrainState fresh(double[] theta) {
        return new TrainState(theta, new double[theta.length], new double[theta.length], 0);
    }
}
