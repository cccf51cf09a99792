package org.reptilegen.engine.cpu;

/** linear(in, out): W x + b; and siren(in, out): sin(W x + b), which shares its parameter layout. */
final class LinearLayer extends CpuLayer {
    private final boolean sine;
    private final int w, b;
    /** Pre-activation W x + b of a siren layer and its tangent. */
    private final double[] a, aT, da, daT;

    LinearLayer(int in, int out, int paramStart, boolean sine) {
        super(in, out);
        this.sine = sine;
        this.w = paramStart;
        this.b = paramStart + in * out;
        this.a = sine ? new double[out] : y;
        this.aT = sine ? new double[out] : yT;
        this.da = sine ? new double[out] : null;
        this.daT = sine ? new double[out] : null;
    }

    @Override
    void forward(PassBuffers s, double[] x, double[] xT) {
        AffineMaps.forward(s.p, s.base + w, s.base + b, in, out, x, a);
        if (s.tangent()) AffineMaps.forwardTangent(s.p, s.base + w, s.v, s.vbase + w, s.vbase + b, in, out, x, xT, aT);
        if (sine) {
            for (int o = 0; o < out; o++) {
                y[o] = Math.sin(a[o]);
                if (s.tangent()) yT[o] = Math.cos(a[o]) * aT[o];
            }
        }
    }

    @Override
    void backward(PassBuffers s, double[] x, double[] xT, double[] dy, double[] dyT) {
        double[] d = dy, dT = dyT;
        if (sine) {
            for (int o = 0; o < out; o++) {
                double c = Math.cos(a[o]);
                da[o] = dy[o] * c;
                if (s.tangent()) daT[o] = dyT[o] * c - dy[o] * Math.sin(a[o]) * aT[o];
            }
            d = da;
            dT = daT;
        }
        zero(dx);
        if (s.tangent()) {
            zero(dxT);
            AffineMaps.backwardTangent(
                    s.p,
                    s.base + w,
                    s.v,
                    s.vbase + w,
                    in,
                    out,
                    x,
                    xT,
                    d,
                    dT,
                    dxT,
                    s.h,
                    s.hbase + w,
                    s.hbase + b,
                    s.scale);
        }
        AffineMaps.backward(s.p, s.base + w, in, out, x, d, dx, s.g, s.gbase + w, s.gbase + b, s.scale, s.round);
    }
}
