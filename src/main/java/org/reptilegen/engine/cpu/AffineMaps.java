package org.reptilegen.engine.cpu;

/**
 * Affine maps y = W x + b on flat arrays, with W row-major [out x in] (PyTorch's layout), and
 * their reverse and forward-over-reverse derivatives. Every layer with a weight matrix (linear,
 * siren, the LSTM block's gates, the gated residual's gate) is built from these.
 */
final class AffineMaps {
    private AffineMaps() {}

    /** y = W x + b. */
    static void forward(double[] p, int w, int b, int in, int out, double[] x, double[] y) {
        for (int o = 0; o < out; o++) y[o] = p[b + o] + dot(p, w + o * in, x, in);
    }

    /** yT = W xT + V_w x + v_b: the tangent of y along (V, xT); xT null means zero. */
    static void forwardTangent(
            double[] p, int w, double[] v, int vw, int vb, int in, int out, double[] x, double[] xT, double[] yT) {
        for (int o = 0; o < out; o++) {
            double s = v[vb + o] + dot(v, vw + o * in, x, in);
            if (xT != null) s += dot(p, w + o * in, xT, in);
            yT[o] = s;
        }
    }

    /**
     * dx += W^T dy (dx may be null), gW += scale * dy x^T, gb += scale * dy. One pass over W; row o
     * of W is read before it is written, so gW may alias W (the in-place SGD step); with round, the
     * written values are rounded to float32 (float32 storage).
     */
    static void backward(
            double[] p,
            int w,
            int in,
            int out,
            double[] x,
            double[] dy,
            double[] dx,
            double[] g,
            int gw,
            int gb,
            double scale,
            boolean round) {
        for (int o = 0; o < out; o++) {
            double d = dy[o];
            int row = w + o * in, grow = gw + o * in;
            if (dx != null) for (int i = 0; i < in; i++) dx[i] += p[row + i] * d;
            double sd = scale * d;
            if (sd == 0) continue;
            if (round) {
                for (int i = 0; i < in; i++) g[grow + i] = (float) (g[grow + i] + sd * x[i]);
                g[gb + o] = (float) (g[gb + o] + sd);
            } else {
                for (int i = 0; i < in; i++) g[grow + i] += sd * x[i];
                g[gb + o] += sd;
            }
        }
    }

    /**
     * Forward-over-reverse of {@link #backward}: with the tangents xT, dyT and the direction V,
     * dxT += W^T dyT + V^T dy, hW += scale * (dyT x^T + dy xT^T), hb += scale * dyT.
     */
    static void backwardTangent(
            double[] p,
            int w,
            double[] v,
            int vw,
            int in,
            int out,
            double[] x,
            double[] xT,
            double[] dy,
            double[] dyT,
            double[] dxT,
            double[] h,
            int hw,
            int hb,
            double scale) {
        for (int o = 0; o < out; o++) {
            double d = dy[o], dT = dyT[o];
            int row = w + o * in, vrow = vw + o * in, hrow = hw + o * in;
            if (dxT != null) for (int i = 0; i < in; i++) dxT[i] += p[row + i] * dT + v[vrow + i] * d;
            double sd = scale * d, sdT = scale * dT;
            for (int i = 0; i < in; i++) h[hrow + i] += sdT * x[i];
            if (xT != null && sd != 0) for (int i = 0; i < in; i++) h[hrow + i] += sd * xT[i];
            h[hb + o] += sdT;
        }
    }

    /** sum_i a[off + i] * x[i], four partial sums so the loop is not one long dependency chain. */
    static double dot(double[] a, int off, double[] x, int n) {
        double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
        int i = 0;
        for (; i + 3 < n; i += 4) {
            s0 += a[off + i] * x[i];
            s1 += a[off + i + 1] * x[i + 1];
            s2 += a[off + i + 2] * x[i + 2];
            s3 += a[off + i + 3] * x[i + 3];
        }
        for (; i < n; i++) s0 += a[off + i] * x[i];
        return (s0 + s1) + (s2 + s3);
    }
}
