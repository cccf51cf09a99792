package org.reptilegen.engine.cpu;

/** residual(layers): layers(x) + x. */
final class ResidualLayer extends CpuLayer {
    private final CpuLayer[] layers;

    ResidualLayer(int dim, CpuLayer[] layers) {
        super(dim, dim);
        this.layers = layers;
    }

    @Override
    void forward(PassBuffers s, double[] x, double[] xT) {
        double[] a = Layers.forward(layers, s, x, xT);
        for (int i = 0; i < in; i++) y[i] = a[i] + x[i];
        if (s.tangent()) {
            double[] aT = layers.length == 0 ? xT : layers[layers.length - 1].yT;
            for (int i = 0; i < in; i++) yT[i] = (aT == null ? 0 : aT[i]) + (xT == null ? 0 : xT[i]);
        }
    }

    @Override
    void backward(PassBuffers s, double[] x, double[] xT, double[] dy, double[] dyT) {
        if (layers.length == 0) {
            for (int i = 0; i < in; i++) {
                dx[i] = 2 * dy[i];
                if (s.tangent()) dxT[i] = 2 * dyT[i];
            }
            return;
        }
        Layers.backward(layers, s, x, xT, dy, dyT);
        for (int i = 0; i < in; i++) {
            dx[i] = layers[0].dx[i] + dy[i];
            if (s.tangent()) dxT[i] = layers[0].dxT[i] + dyT[i];
        }
    }
}
