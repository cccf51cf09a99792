package org.reptilegen.engine.cpu;

import org.reptilegen.model.LayerSpec;

/** layernorm(dim): g * (x - mean) / sqrt(var + 1e-5) + b, with the biased variance. */
final class LayerNormLayer extends CpuLayer {
    private final int gOff, bOff;
    private final double[] xh, xhT, dxh, dxhT;
    private double sig, sigT;

    LayerNormLayer(int dim, int paramStart) {
        super(dim, dim);
        gOff = paramStart;
        bOff = paramStart + dim;
        xh = new double[dim];
        xhT = new double[dim];
        dxh = new double[dim];
        dxhT = new double[dim];
    }

    @Override
    void forward(PassBuffers s, double[] x, double[] xT) {
        int n = in;
        double mu = 0;
        for (int i = 0; i < n; i++) mu += x[i];
        mu /= n;
        double var = 0;
        for (int i = 0; i < n; i++) var += (x[i] - mu) * (x[i] - mu);
        var /= n;
        sig = Math.sqrt(var + LayerSpec.LayerNorm.EPS);
        double[] p = s.p;
        int g = s.base + gOff, b = s.base + bOff;
        for (int i = 0; i < n; i++) {
            xh[i] = (x[i] - mu) / sig;
            y[i] = p[g + i] * xh[i] + p[b + i];
        }
        if (!s.tangent()) return;
        double muT = 0, varT = 0;
        if (xT != null) {
            for (int i = 0; i < n; i++) muT += xT[i];
            muT /= n;
            for (int i = 0; i < n; i++) varT += (x[i] - mu) * (xT[i] - muT);
            varT = 2 * varT / n;
        }
        sigT = varT / (2 * sig);
        int vg = s.vbase + gOff, vb = s.vbase + bOff;
        for (int i = 0; i < n; i++) {
            double xcT = xT == null ? 0 : xT[i] - muT;
            xhT[i] = (xcT - xh[i] * sigT) / sig;
            yT[i] = s.v[vg + i] * xh[i] + p[g + i] * xhT[i] + s.v[vb + i];
        }
    }

    @Override
    void backward(PassBuffers s, double[] x, double[] xT, double[] dy, double[] dyT) {
        int n = in;
        int g = s.base + gOff;
        double m1 = 0, m2 = 0;
        for (int i = 0; i < n; i++) {
            dxh[i] = dy[i] * s.p[g + i];
            m1 += dxh[i];
            m2 += dxh[i] * xh[i];
        }
        m1 /= n;
        m2 /= n;
        for (int i = 0; i < n; i++) dx[i] = (dxh[i] - m1 - xh[i] * m2) / sig;
        if (s.tangent()) {
            int vg = s.vbase + gOff;
            double m1T = 0, m2T = 0;
            for (int i = 0; i < n; i++) {
                dxhT[i] = dyT[i] * s.p[g + i] + dy[i] * s.v[vg + i];
                m1T += dxhT[i];
                m2T += dxhT[i] * xh[i] + dxh[i] * xhT[i];
            }
            m1T /= n;
            m2T /= n;
            for (int i = 0; i < n; i++) {
                double r = dxh[i] - m1 - xh[i] * m2;
                dxT[i] = -sigT / (sig * sig) * r + (dxhT[i] - m1T - xhT[i] * m2 - xh[i] * m2T) / sig;
            }
            int hg = s.hbase + gOff, hb = s.hbase + bOff;
            for (int i = 0; i < n; i++) {
                s.h[hg + i] += s.scale * (dyT[i] * xh[i] + dy[i] * xhT[i]);
                s.h[hb + i] += s.scale * dyT[i];
            }
        }
        // Parameters last: with the in-place SGD step, g is read above before it is written here.
        int gg = s.gbase + gOff, gb = s.gbase + bOff;
        for (int i = 0; i < n; i++) {
            s.add(gg + i, s.scale * dy[i] * xh[i]);
            s.add(gb + i, s.scale * dy[i]);
        }
    }
}
