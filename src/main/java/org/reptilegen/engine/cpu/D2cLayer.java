package org.reptilegen.engine.cpu;

/** d2c(n): x / (n/2) - 1, turning integer coordinates into floats in [-1, 1). */
final class D2cLayer extends CpuLayer {
    private final double scale;

    D2cLayer(int in, int n) {
        super(in, in);
        this.scale = 2.0 / n;
    }

    @Override
    void forward(PassBuffers s, double[] x, double[] xT) {
        for (int i = 0; i < in; i++) {
            y[i] = x[i] * scale - 1;
            yT[i] = xT == null ? 0 : xT[i] * scale;
        }
    }

    @Override
    void backward(PassBuffers s, double[] x, double[] xT, double[] dy, double[] dyT) {
        for (int i = 0; i < in; i++) {
            dx[i] = dy[i] * scale;
            if (s.tangent()) dxT[i] = dyT[i] * scale;
        }
    }
}
