package org.reptilegen.engine.cpu;

/** gated: for an input [a; c] of width 2d, a * sigmoid(c). */
final class GatedLayer extends CpuLayer {
    private final int d;
    private final double[] sg;

    GatedLayer(int in) {
        super(in, in / 2);
        this.d = in / 2;
        this.sg = new double[d];
    }

    @Override
    void forward(PassBuffers s, double[] x, double[] xT) {
        for (int i = 0; i < d; i++) {
            double g = Activations.sigmoid(x[d + i]);
            sg[i] = g;
            y[i] = x[i] * g;
            if (s.tangent()) yT[i] = xT == null ? 0 : xT[i] * g + x[i] * g * (1 - g) * xT[d + i];
        }
    }

    @Override
    void backward(PassBuffers s, double[] x, double[] xT, double[] dy, double[] dyT) {
        for (int i = 0; i < d; i++) {
            double g = sg[i], g1 = g * (1 - g), a = x[i];
            dx[i] = dy[i] * g;
            dx[d + i] = dy[i] * a * g1;
            if (s.tangent()) {
                double aT = xT == null ? 0 : xT[i], cT = xT == null ? 0 : xT[d + i];
                double g2 = g1 * (1 - 2 * g);
                dxT[i] = dyT[i] * g + dy[i] * g1 * cT;
                dxT[d + i] = dyT[i] * a * g1 + dy[i] * aT * g1 + dy[i] * a * g2 * cT;
            }
        }
    }
}
