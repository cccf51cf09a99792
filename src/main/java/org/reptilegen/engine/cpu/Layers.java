package org.reptilegen.engine.cpu;

import java.util.List;
import org.reptilegen.model.LayerSpec;
import org.reptilegen.model.ParamLayout;

/** Builds the CPU layers of a layer list, handing out parameter offsets in the layout's order. */
final class Layers {
    private Layers() {}

    /** Builds layers.get(i) for i = 0.., starting at parameter offset off[0], which it advances. */
    static CpuLayer[] build(List<LayerSpec> specs, int in, int[] off) {
        CpuLayer[] out = new CpuLayer[specs.size()];
        int w = in;
        for (int i = 0; i < specs.size(); i++) {
            out[i] = build(specs.get(i), w, off);
            w = out[i].out;
        }
        return out;
    }

    private static CpuLayer build(LayerSpec spec, int in, int[] off) {
        int po = off[0];
        CpuLayer l;
        if (spec instanceof LayerSpec.Embed e) {
            l = new EmbedLayer(e, po);
        } else if (spec instanceof LayerSpec.D2c d) {
            l = new D2cLayer(in, d.n());
        } else if (spec instanceof LayerSpec.Linear lin) {
            l = new LinearLayer(lin.in(), lin.out(), po, false);
        } else if (spec instanceof LayerSpec.Siren s) {
            l = new LinearLayer(s.in(), s.out(), po, true);
        } else if (spec instanceof LayerSpec.Activation a) {
            l = new ActivationLayer(in, a.kind());
        } else if (spec instanceof LayerSpec.Gated) {
            l = new GatedLayer(in);
        } else if (spec instanceof LayerSpec.LayerNorm n) {
            l = new LayerNormLayer(n.dim(), po);
        } else if (spec instanceof LayerSpec.LstmBlock b) {
            l = new LstmBlockLayer(b.dim(), po);
        } else if (spec instanceof LayerSpec.Residual r) {
            int[] inner = {po};
            CpuLayer[] layers = build(r.layers(), in, inner);
            off[0] = inner[0];
            return new ResidualLayer(in, layers);
        } else if (spec instanceof LayerSpec.GatedResidual g) {
            int[] inner = {po};
            CpuLayer[] layers = build(g.layers(), in, inner);
            off[0] = inner[0] + in * in + in;
            return new GatedResidualLayer(in, layers, inner[0]);
        } else {
            throw new IllegalArgumentException("no CPU layer for " + spec.type());
        }
        off[0] = po + paramCount(spec, in);
        return l;
    }

    private static int paramCount(LayerSpec spec, int in) {
        ParamLayout.Builder b = new ParamLayout.Builder();
        spec.declare("x", b);
        return b.build().size();
    }

    /** Runs a stack forward; returns the last output (and leaves tangents in each layer's yT). */
    static double[] forward(CpuLayer[] layers, Pass s, double[] x, double[] xT) {
        double[] cur = x, curT = xT;
        for (CpuLayer l : layers) {
            l.forward(s, cur, curT);
            cur = l.y;
            curT = s.tangent() ? l.yT : null;
        }
        return cur;
    }

    /** Runs a stack backward from dy; the input gradient is left in layers[0].dx (and dxT). */
    static void backward(CpuLayer[] layers, Pass s, double[] x, double[] xT, double[] dy, double[] dyT) {
        for (int i = layers.length - 1; i >= 0; i--) {
            double[] li = i == 0 ? x : layers[i - 1].y;
            double[] liT = i == 0 ? xT : (s.tangent() ? layers[i - 1].yT : null);
            layers[i].backward(s, li, liT, dy, dyT);
            dy = layers[i].dx;
            dyT = layers[i].dxT;
        }
    }
}
