package org.reptilegen.engine.cpu;

/**
 * The buffers one forward/backward pass of one task reads and writes.
 *
 * <p>Indices are absolute: a layer whose parameters start at offset {@code paramStart} in the layout reads
 * weight k at {@code p[base + paramStart + k]}, accumulates {@code scale * dl/dtheta_k} into
 * {@code g[gbase + paramStart + k]} and, in tangent mode, {@code scale * (H v)_k} into {@code h[hbase + paramStart + k]}
 * with the direction {@code v[vbase + paramStart + k]}.
 *
 * <p>When {@code g == p}, {@code gbase == base} and {@code scale == -alpha}, the backward pass is the
 * inner SGD step itself, done in place: every layer reads a parameter for its input gradient before it
 * writes that parameter, so no separate gradient vector is needed.
 */
final class PassBuffers {
    double[] p;
    int base;
    double[] g;
    int gbase;
    double scale = 1;
    /** Direction of the Hessian-vector product; null for a plain (first-order) pass. */
    double[] v;

    int vbase;
    double[] h;
    int hbase;
    /**
     * Round every value written to g to float32: set for the in-place SGD step of float32 storage, so
     * the step needs no second pass over the parameters.
     */
    boolean round;

    boolean tangent() {
        return v != null;
    }

    void plain(double[] p, double[] g, double scale) {
        this.p = p;
        this.base = 0;
        this.g = g;
        this.gbase = 0;
        this.scale = scale;
        this.v = null;
        this.h = null;
        this.round = false;
    }

    /** g[i] += v, rounded to float32 when {@link #round} is set. */
    void add(int i, double v) {
        double r = g[i] + v;
        g[i] = round ? (float) r : r;
    }

    void tangent(double[] p, double[] v, double[] g, double[] h) {
        this.p = p;
        this.base = 0;
        this.g = g;
        this.gbase = 0;
        this.scale = 1;
        this.v = v;
        this.vbase = 0;
        this.h = h;
        this.hbase = 0;
        this.round = false;
    }
}
