package org.reptilegen.engine.cpu;

import java.util.List;
import org.reptilegen.model.LayerSpec;
import org.reptilegen.model.ParamLayout;

/** Builds the CPU layers of a layer list, handing out parameter offsets in the layout's order. */
final class Layers {
    private Layers() {}

    /**
     * Builds a stack of layers under prefix ("" for the model's top level), each reading its parameters at
     * the offsets the layout gives its names (LayerSpec's names, the same the cuda engine looks up).
     */
    static CpuLayer[] build(List<LayerSpec> specs, int in, String prefix, ParamLayout layout) {
        CpuLayer[] out = new CpuLayer[specs.size()];
        int w = in;
        for (int i = 0; i < specs.size(); i++) {
            out[i] = build(specs.get(i), w, LayerSpec.child(prefix, i), layout);
            w = out[i].out;
        }
        return out;
    }

    private static CpuLayer build(LayerSpec spec, int in, String name, ParamLayout layout) {
        if (spec instanceof LayerSpec.Embed e) {
            String[] tables = new String[e.tables().size()];
            for (int j = 0; j < tables.length; j++) tables[j] = LayerSpec.Embed.table(name, j);
            return new EmbedLayer(e, layout.packed(tables));
        }
        if (spec instanceof LayerSpec.D2c d) return new D2cLayer(in, d.n());
        if (spec instanceof LayerSpec.Linear lin)
            return new LinearLayer(lin.in(), lin.out(), linear(layout, name), false);
        if (spec instanceof LayerSpec.Siren s) return new LinearLayer(s.in(), s.out(), linear(layout, name), true);
        if (spec instanceof LayerSpec.Activation a) return new ActivationLayer(in, a.kind());
        if (spec instanceof LayerSpec.Gated) return new GatedLayer(in);
        if (spec instanceof LayerSpec.LayerNorm n)
            return new LayerNormLayer(
                    n.dim(), layout.packed(LayerSpec.LayerNorm.gain(name), LayerSpec.LayerNorm.bias(name)));
        if (spec instanceof LayerSpec.LstmBlock b)
            return new LstmBlockLayer(b.dim(), layout.packed(LayerSpec.LstmBlock.parameters(name)));
        if (spec instanceof LayerSpec.Residual r) return new ResidualLayer(in, build(r.layers(), in, name, layout));
        if (spec instanceof LayerSpec.GatedResidual g)
            return new GatedResidualLayer(
                    in, build(g.layers(), in, name, layout), linear(layout, LayerSpec.GatedResidual.gate(name)));
        throw new IllegalArgumentException("no CPU layer for " + spec.type());
    }

    /** The weight's offset of the linear named layer, its bias right after it (as LinearLayer reads them). */
    private static int linear(ParamLayout layout, String layer) {
        return layout.packed(LayerSpec.Linear.weight(layer), LayerSpec.Linear.bias(layer));
    }

    /** Runs a stack forward; returns the last output (and leaves tangents in each layer's yT). */
    static double[] forward(CpuLayer[] layers, PassBuffers s, double[] x, double[] xT) {
        double[] cur = x, curT = xT;
        for (CpuLayer l : layers) {
            l.forward(s, cur, curT);
            cur = l.y;
            curT = s.tangent() ? l.yT : null;
        }
        return cur;
    }

    /** Runs a stack backward from dy; the input gradient is left in layers[0].dx (and dxT). */
    static void backward(CpuLayer[] layers, PassBuffers s, double[] x, double[] xT, double[] dy, double[] dyT) {
        for (int i = layers.length - 1; i >= 0; i--) {
            double[] li = i == 0 ? x : layers[i - 1].y;
            double[] liT = i == 0 ? xT : (s.tangent() ? layers[i - 1].yT : null);
            layers[i].backward(s, li, liT, dy, dyT);
            dy = layers[i].dx;
            dyT = layers[i].dxT;
        }
    }
}
