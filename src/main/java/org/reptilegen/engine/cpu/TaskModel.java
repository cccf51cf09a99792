package org.reptilegen.engine.cpu;

/**
 * One task's network on one pair (x_t, y_t), over a flat parameter vector laid out by the model's
 * {@link org.reptilegen.model.ParamLayout}. The per-task meta-learning algorithms are written
 * against this, so each is stated once.
 */
public interface TaskModel {
    /** Number of parameters P. */
    int size();

    /** l = loss(f(p; x), y); then p <- p - alpha * grad l, in place, rounded to the storage precision. Returns l. */
    double sgdStep(double[] p, int[] x, int y, double alpha);

    /** g += grad l(p); returns l. */
    double gradient(double[] p, int[] x, int y, double[] g);

    /** g += grad l(p), hv += H(p) v (exact, forward-over-reverse); returns l. */
    double hessianVector(double[] p, int[] x, int y, double[] v, double[] g, double[] hv);

    /** Rounds a parameter vector to the storage precision (identity in float64). */
    void round(double[] p);
}
