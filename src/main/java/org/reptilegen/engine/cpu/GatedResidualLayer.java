package org.reptilegen.engine.cpu;

/** gated_residual(in, layers): layers(x) * sigmoid(W_g x + b_g); the gate's parameters follow the layers'. */
final class GatedResidualLayer extends CpuLayer {
    private final CpuLayer[] layers;
    private final int w, b;
    private final double[] gp, gpT, sg, da, daT, dg, dgT;

    GatedResidualLayer(int dim, CpuLayer[] layers, int gateOff) {
        super(dim, dim);
        this.layers = layers;
        this.w = gateOff;
        this.b = gateOff + dim * dim;
        gp = new double[dim];
        gpT = new double[dim];
        sg = new double[dim];
        da = new double[dim];
        daT = new double[dim];
        dg = new double[dim];
        dgT = new double[dim];
    }

    private double[] inner(double[] x) {
        return layers.length == 0 ? x : layers[layers.length - 1].y;
    }

    private double[] innerT(double[] xT) {
        return layers.length == 0 ? xT : layers[layers.length - 1].yT;
    }

    @Override
    void forward(PassBuffers s, double[] x, double[] xT) {
        double[] a = Layers.forward(layers, s, x, xT);
        AffineMaps.forward(s.p, s.base + w, s.base + b, in, in, x, gp);
        for (int i = 0; i < in; i++) {
            sg[i] = Activations.sigmoid(gp[i]);
            y[i] = a[i] * sg[i];
        }
        if (!s.tangent()) return;
        AffineMaps.forwardTangent(s.p, s.base + w, s.v, s.vbase + w, s.vbase + b, in, in, x, xT, gpT);
        double[] aT = innerT(xT);
        for (int i = 0; i < in; i++) yT[i] = (aT == null ? 0 : aT[i]) * sg[i] + a[i] * sg[i] * (1 - sg[i]) * gpT[i];
    }

    @Override
    void backward(PassBuffers s, double[] x, double[] xT, double[] dy, double[] dyT) {
        double[] a = inner(x), aT = s.tangent() ? innerT(xT) : null;
        for (int i = 0; i < in; i++) {
            double g = sg[i], g1 = g * (1 - g);
            da[i] = dy[i] * g;
            dg[i] = dy[i] * a[i] * g1;
            if (s.tangent()) {
                double g2 = g1 * (1 - 2 * g), aTi = aT == null ? 0 : aT[i];
                daT[i] = dyT[i] * g + dy[i] * g1 * gpT[i];
                dgT[i] = dyT[i] * a[i] * g1 + dy[i] * aTi * g1 + dy[i] * a[i] * g2 * gpT[i];
            }
        }
        if (layers.length == 0) {
            System.arraycopy(da, 0, dx, 0, in);
            if (s.tangent()) System.arraycopy(daT, 0, dxT, 0, in);
        } else {
            Layers.backward(layers, s, x, xT, da, daT);
            System.arraycopy(layers[0].dx, 0, dx, 0, in);
            if (s.tangent()) System.arraycopy(layers[0].dxT, 0, dxT, 0, in);
        }
        if (s.tangent())
            AffineMaps.backwardTangent(
                    s.p,
                    s.base + w,
                    s.v,
                    s.vbase + w,
                    in,
                    in,
                    x,
                    xT,
                    dg,
                    dgT,
                    dxT,
                    s.h,
                    s.hbase + w,
                    s.hbase + b,
                    s.scale);
        AffineMaps.backward(s.p, s.base + w, in, in, x, dg, dx, s.g, s.gbase + w, s.gbase + b, s.scale, s.round);
    }
}
