package org.reptilegen.engine.cpu;

import org.reptilegen.model.LayerSpec;

/** relu, tanh, sigmoid: elementwise, with their first and second derivatives for the tangent pass. */
final class ActivationLayer extends CpuLayer {
    private final LayerSpec.Activation.Kind kind;
    private final double[] d1, d2;

    ActivationLayer(int dim, LayerSpec.Activation.Kind kind) {
        super(dim, dim);
        this.kind = kind;
        this.d1 = new double[dim];
        this.d2 = new double[dim];
    }

    @Override
    void forward(PassBuffers s, double[] x, double[] xT) {
        for (int i = 0; i < in; i++) {
            double v = x[i], f, f1, f2;
            switch (kind) {
                case RELU -> {
                    f = v > 0 ? v : 0;
                    f1 = v > 0 ? 1 : 0;
                    f2 = 0;
                }
                case TANH -> {
                    f = Math.tanh(v);
                    f1 = 1 - f * f;
                    f2 = -2 * f * f1;
                }
                default -> {
                    f = Activations.sigmoid(v);
                    f1 = f * (1 - f);
                    f2 = f1 * (1 - 2 * f);
                }
            }
            y[i] = f;
            d1[i] = f1;
            d2[i] = f2;
            if (s.tangent()) yT[i] = xT == null ? 0 : f1 * xT[i];
        }
    }

    @Override
    void backward(PassBuffers s, double[] x, double[] xT, double[] dy, double[] dyT) {
        for (int i = 0; i < in; i++) {
            dx[i] = d1[i] * dy[i];
            if (s.tangent()) dxT[i] = d1[i] * dyT[i] + (xT == null ? 0 : d2[i] * xT[i] * dy[i]);
        }
    }
}
