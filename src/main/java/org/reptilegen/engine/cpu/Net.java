package org.reptilegen.engine.cpu;

import org.reptilegen.model.ModelSpec;
import org.reptilegen.model.TaskKind;

/**
 * The network of one task on the CPU, with its own activation buffers: each worker makes one for a
 * batch. Parameter vectors are passed in, so one Net serves every task its worker runs.
 */
public final class Net implements TaskModel {
    private final TaskKind kind;
    private final CpuLayer[] layers;
    private final int size;
    private final boolean float32;
    private final double[] xin, dz, dzT;
    private final PassBuffers pass = new PassBuffers();

    /** @param float32 whether parameters are stored in float32 (rounded after every update) */
    public Net(ModelSpec spec, boolean float32) {
        this.kind = spec.task();
        this.layers = Layers.build(spec.layers(), kind.inputDim, "", spec.layout());
        this.size = spec.layout().size();
        this.float32 = float32;
        this.xin = new double[kind.inputDim];
        this.dz = new double[kind.logits];
        this.dzT = new double[kind.logits];
    }

    @Override
    public int size() {
        return size;
    }

    public TaskKind kind() {
        return kind;
    }

    private double[] logits() {
        return layers[layers.length - 1].y;
    }

    private double[] run(int[] x) {
        for (int i = 0; i < xin.length; i++) xin[i] = x[i];
        return Layers.forward(layers, pass, xin, null);
    }

    private double lossAndBackward(int y) {
        double[] zT = pass.tangent() ? layers[layers.length - 1].yT : null;
        double l = Loss.apply(kind, logits(), y, dz, zT, dzT);
        Layers.backward(layers, pass, xin, null, dz, dzT);
        return l;
    }

    @Override
    public double sgdStep(double[] p, int[] x, int y, double alpha) {
        pass.plain(p, p, -alpha);
        pass.round = float32;
        run(x);
        return lossAndBackward(y);
    }

    @Override
    public double gradient(double[] p, int[] x, int y, double[] g) {
        pass.plain(p, g, 1);
        run(x);
        return lossAndBackward(y);
    }

    @Override
    public double hessianVector(double[] p, int[] x, int y, double[] v, double[] g, double[] hv) {
        pass.tangent(p, v, g, hv);
        run(x);
        return lossAndBackward(y);
    }

    /** Loss of the pair without touching p. */
    public double loss(double[] p, int[] x, int y) {
        pass.plain(p, null, 0);
        double[] z = run(x);
        return Loss.apply(kind, z, y, dz, null, null);
    }

    /** The model's distribution over y_t (softmax or Bernoulli of the logits / temperature). */
    public void probabilities(double[] p, int[] x, double temperature, double[] out) {
        pass.plain(p, null, 0);
        Loss.probabilities(kind, run(x), temperature, out);
    }

    /** After {@link #probabilities} on the same p and x: the SGD step on the drawn y. Returns the loss. */
    public double stepAfterForward(double[] p, int y, double alpha) {
        pass.plain(p, p, -alpha);
        pass.round = float32;
        return lossAndBackward(y);
    }

    /** As {@link #stepAfterForward(double[], int, double)} with one rate per parameter; g is scratch of size P. */
    public double stepAfterForward(double[] p, int y, double[] alpha, double[] g) {
        java.util.Arrays.fill(g, 0);
        pass.plain(p, g, 1);
        double l = lossAndBackward(y);
        for (int i = 0; i < p.length; i++) p[i] -= alpha[i] * g[i];
        round(p);
        return l;
    }

    @Override
    public void round(double[] p) {
        if (float32) for (int i = 0; i < p.length; i++) p[i] = (float) p[i];
    }
}
