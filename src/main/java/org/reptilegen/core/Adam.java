package org.reptilegen.core;

/** The outer optimiser: Adam with PyTorch's semantics (bias-corrected, eps added after the square root). */
public record Adam(double lr, double beta1, double beta2, double eps) {

    /**
     * One step t (1-based) on theta with gradient g, updating the moments m and v in place.
     * With float32 storage, theta and the moments are rounded to float so that a checkpoint
     * (float32) holds the state exactly and a resumed run continues bit for bit.
     */
    public void step(double[] theta, double[] g, double[] m, double[] v, long t, boolean float32) {
        double bc1 = 1 - Math.pow(beta1, t);
        double sqrtBc2 = Math.sqrt(1 - Math.pow(beta2, t));
        double stepSize = lr / bc1;
        for (int i = 0; i < theta.length; i++) {
            double mi = beta1 * m[i] + (1 - beta1) * g[i];
            double vi = beta2 * v[i] + (1 - beta2) * g[i] * g[i];
            double th = theta[i] - stepSize * mi / (Math.sqrt(vi) / sqrtBc2 + eps);
            if (float32) {
                mi = (float) mi;
                vi = (float) vi;
                th = (float) th;
            }
            m[i] = mi;
            v[i] = vi;
            theta[i] = th;
        }
    }
}
