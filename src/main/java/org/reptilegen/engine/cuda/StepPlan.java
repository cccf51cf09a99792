package org.reptilegen.engine.cuda;

import static org.reptilegen.engine.cuda.CudaKernels.*;
import static org.reptilegen.engine.cuda.Launch.blocks;

import java.util.ArrayList;
import java.util.List;
import jcuda.driver.CUdeviceptr;
import org.reptilegen.model.LayerSpec;
import org.reptilegen.model.ModelSpec;
import org.reptilegen.model.ParamLayout;
import org.reptilegen.model.TaskKind;

/**
 * The launches of one inner step of B tasks, built once per batch shape: every layer's forward, the
 * loss with its gradient, every layer's backward fused with its update, and the step counter's advance.
 * The sequence is the same at every step (the step index lives on the device), so it can be replayed
 * as it is, or captured once into a CUDA graph.
 *
 * <p>The layer tree mirrors the CPU engine's (Layers.build): each node owns its output y [B x out] and
 * input gradient dx [B x in] and reads its input x, the previous node's y. Parameter offsets come from
 * the model's ParamLayout by name, so both engines read the same layout.
 */
final class StepPlan {

    /** What a backward does with a gradient: p += scale * grad, and acc += grad when accOn is 1. */
    record Update(float scale, CUdeviceptr acc, int accOn) {}

    private final Workspace w;
    private final Launch.Functions fns;
    private final ParamLayout layout;
    private final TaskKind kind;
    private final Node[] nodes;
    /** The model's output [B x L] and the loss gradient in it. */
    final CUdeviceptr logits, dlogits;

    StepPlan(ModelSpec spec, Workspace w, Launch.Functions fns) {
        this.w = w;
        this.fns = fns;
        this.layout = spec.layout();
        this.kind = spec.task();
        List<LayerSpec> layers = spec.layers();
        nodes = new Node[layers.size()];
        CUdeviceptr x = null;
        int width = kind.inputDim;
        for (int i = 0; i < layers.size(); i++) {
            nodes[i] = build(layers.get(i), "module_" + i, width, x);
            x = nodes[i].y;
            width = nodes[i].out;
        }
        if (width != kind.logits) throw new IllegalStateException("model ends with width " + width + ", not " + kind.logits);
        logits = x;
        dlogits = w.arena.floats((long) w.tasks * width);
    }

    /** One inner SGD step of every task. */
    List<Launch> trainStep(Update u) {
        List<Launch> ops = new ArrayList<>();
        for (Node n : nodes) n.forward(ops);
        ops.add(loss());
        backward(ops, u);
        ops.add(op(STEP_ADVANCE, 1, 1, w.step));
        return ops;
    }

    /** One sampling step: the forward, a draw of y_t from the logits, then the SGD step on it. */
    List<Launch> sampleStep(Update u, double temperature, boolean stopAtZero) {
        List<Launch> ops = new ArrayList<>();
        for (Node n : nodes) n.forward(ops);
        // sample_draw(int B, int L, double temperature, const float* z, const unsigned long long* streams,
        //             int stopAtZero, const int* step, int steps, int* ys, int* done, int* out)
        ops.add(op(SAMPLE_DRAW, w.tasks, 1, w.tasks, kind.logits, temperature, logits, w.streams,
                stopAtZero ? 1 : 0, w.step, w.steps, w.ys, w.done, w.out));
        ops.add(loss());
        backward(ops, u);
        ops.add(op(STEP_ADVANCE, 1, 1, w.step));
        return ops;
    }

    private Launch loss() {
        int b = w.tasks;
        if (kind == TaskKind.MNIST)
            // bce_loss_grad(int B, const float* z, const int* ys, const int* step, float* dz, double* nll)
            return op(BCE_LOSS_GRAD, blocks(b, BCE_LOSS_GRAD.blockX()), 1, b, logits, w.ys, w.step, dlogits, w.nll);
        // softmax_ce_loss_grad(int B, int L, const float* z, const int* ys, const int* step, float* dz, double* nll)
        return op(SOFTMAX_CE_LOSS_GRAD, b, 1, b, kind.logits, logits, w.ys, w.step, dlogits, w.nll);
    }

    private void backward(List<Launch> ops, Update u) {
        CUdeviceptr dy = dlogits;
        for (int i = nodes.length - 1; i >= 0; i--) {
            nodes[i].backward(ops, dy, u);
            dy = nodes[i].dx;
        }
    }

    private Launch op(KernelSig sig, int gridX, int gridY, Object... args) {
        return Launch.of(fns, sig, gridX, gridY, args);
    }

    private int offset(String name) {
        ParamLayout.Tensor t = layout.tensor(name);
        if (t == null) throw new IllegalStateException("the layout has no parameter " + name);
        return t.offset();
    }

    private CUdeviceptr floats(long perTask) {
        return w.arena.floats(perTask * w.tasks);
    }

    // ---- the layer tree ----

    private abstract static class Node {
        final int in, out;
        /** Input [B x in] (null for the first layer, which reads the integer inputs), output, input gradient. */
        final CUdeviceptr x;
        CUdeviceptr y, dx;

        Node(int in, int out, CUdeviceptr x) {
            this.in = in;
            this.out = out;
            this.x = x;
        }

        abstract void forward(List<Launch> ops);

        /** Appends the backward launches for the output gradient dy; leaves the input gradient in dx. */
        abstract void backward(List<Launch> ops, CUdeviceptr dy, Update u);
    }

    private Node build(LayerSpec spec, String prefix, int in, CUdeviceptr x) {
        if (spec instanceof LayerSpec.Embed e) return new EmbedNode(e, prefix);
        if (spec instanceof LayerSpec.D2c d) return new D2cNode(in, d.n());
        if (spec instanceof LayerSpec.Linear l) return new LinearNode(prefix, l.in(), l.out(), false, x);
        if (spec instanceof LayerSpec.Siren s) return new LinearNode(prefix, s.in(), s.out(), true, x);
        if (spec instanceof LayerSpec.Activation a) return new ActivationNode(a.kind(), in, x);
        if (spec instanceof LayerSpec.Gated) return new GatedNode(in, x);
        if (spec instanceof LayerSpec.LayerNorm n) return new LayerNormNode(prefix, n.dim(), x);
        if (spec instanceof LayerSpec.LstmBlock l) return new LstmNode(prefix, l.dim(), x);
        if (spec instanceof LayerSpec.Residual r) return new ResidualNode(prefix, r.layers(), in, x);
        if (spec instanceof LayerSpec.GatedResidual g) return new GatedResidualNode(prefix, g.layers(), g.in(), x);
        throw new IllegalArgumentException("no cuda layer for " + spec.type());
    }

    private Node[] chain(List<LayerSpec> specs, String prefix, int in, CUdeviceptr x) {
        Node[] out = new Node[specs.size()];
        for (int j = 0; j < specs.size(); j++) {
            out[j] = build(specs.get(j), prefix + ".module_" + j, in, x);
            x = out[j].y;
            in = out[j].out;
        }
        return out;
    }

    /** Backward through a chain from dy; returns the chain's input gradient (dy itself for an empty chain). */
    private static CUdeviceptr chainBackward(Node[] chain, List<Launch> ops, CUdeviceptr dy, Update u) {
        for (int j = chain.length - 1; j >= 0; j--) {
            chain[j].backward(ops, dy, u);
            dy = chain[j].dx;
        }
        return dy;
    }

    private final class EmbedNode extends Node {
        private final CUdeviceptr meta;
        private final int tables;

        EmbedNode(LayerSpec.Embed spec, String prefix) {
            super(spec.tables().size(), spec.outDim(spec.tables().size(), prefix), null);
            tables = spec.tables().size();
            int[] m = new int[4 * tables];
            int outOff = 0;
            for (int j = 0; j < tables; j++) {
                int[] t = spec.tables().get(j);
                m[4 * j] = offset(prefix + ".module_" + j + ".table");
                m[4 * j + 1] = t[0];
                m[4 * j + 2] = t[1];
                m[4 * j + 3] = outOff;
                outOff += t[1];
            }
            meta = w.arena.constInts(m);
            y = floats(out);
        }

        void forward(List<Launch> ops) {
            // embed_gather_forward(const float* p, int P, const int* meta, int tables, int outWidth,
            //                      const int* xs, int inDim, const int* step, int B, float* y)
            ops.add(op(EMBED_GATHER_FORWARD, blocks(out, EMBED_GATHER_FORWARD.blockX()), w.tasks,
                    w.params, w.paramCount, meta, tables, out, w.xs, in, w.step, w.tasks, y));
        }

        void backward(List<Launch> ops, CUdeviceptr dy, Update u) {
            // embed_scatter_update(float* p, int P, float scale, float* acc, int accOn, const int* meta, int tables,
            //                      int outWidth, const int* xs, int inDim, const int* step, int B, const float* dy)
            ops.add(op(EMBED_SCATTER_UPDATE, blocks(out, EMBED_SCATTER_UPDATE.blockX()), w.tasks,
                    w.params, w.paramCount, u.scale(), u.acc(), u.accOn(), meta, tables, out, w.xs, in, w.step, w.tasks, dy));
        }
    }

    private final class D2cNode extends Node {
        private final float scale;

        D2cNode(int in, int n) {
            super(in, in, null);
            scale = (float) (2.0 / n);
            y = floats(in);
        }

        void forward(List<Launch> ops) {
            // d2c_forward(float scale, int inDim, const int* xs, const int* step, int B, float* y)
            ops.add(op(D2C_FORWARD, blocks((long) w.tasks * in, D2C_FORWARD.blockX()), 1, scale, in, w.xs, w.step, w.tasks, y));
        }

        void backward(List<Launch> ops, CUdeviceptr dy, Update u) {
            // No parameters, and the first layer: nothing upstream needs its input gradient.
        }
    }

    private final class LinearNode extends Node {
        private final int wOff, bOff, sine;
        private final CUdeviceptr pre;

        LinearNode(String prefix, int in, int out, boolean sine, CUdeviceptr x) {
            super(in, out, x);
            this.wOff = offset(prefix + ".linear.weight");
            this.bOff = offset(prefix + ".linear.bias");
            this.sine = sine ? 1 : 0;
            y = floats(out);
            pre = sine ? floats(out) : y;
            dx = floats(in);
        }

        void forward(List<Launch> ops) {
            // linear_forward(const float* p, int P, int wOff, int bOff, int in, int out, const float* x, float* y,
            //                float* pre, int sine)
            ops.add(op(LINEAR_FORWARD, blocks(out, LINEAR_FORWARD_ROWS), w.tasks,
                    w.params, w.paramCount, wOff, bOff, in, out, x, y, pre, sine));
        }

        void backward(List<Launch> ops, CUdeviceptr dy, Update u) {
            // linear_backward_update(float* p, int P, float scale, float* acc, int accOn, int wOff, int bOff, int in,
            //                        int out, const float* x, const float* dy, const float* pre, int sine, float* dx)
            ops.add(op(LINEAR_BACKWARD_UPDATE, blocks(in, LINEAR_BACKWARD_COLS), w.tasks,
                    w.params, w.paramCount, u.scale(), u.acc(), u.accOn(), wOff, bOff, in, out, x, dy, pre, sine, dx));
        }
    }

    private final class ActivationNode extends Node {
        private final int act;

        ActivationNode(LayerSpec.Activation.Kind k, int dim, CUdeviceptr x) {
            super(dim, dim, x);
            act = switch (k) {
                case RELU -> ACT_RELU;
                case TANH -> ACT_TANH;
                case SIGMOID -> ACT_SIGMOID;
            };
            y = floats(dim);
            dx = floats(dim);
        }

        private int count() {
            return Math.multiplyExact(w.tasks, in);
        }

        void forward(List<Launch> ops) {
            // activation_forward(int kind, int count, const float* x, float* y)
            ops.add(op(ACTIVATION_FORWARD, blocks(count(), ACTIVATION_FORWARD.blockX()), 1, act, count(), x, y));
        }

        void backward(List<Launch> ops, CUdeviceptr dy, Update u) {
            // activation_backward(int kind, int count, const float* x, const float* y, const float* dy, float* dx)
            ops.add(op(ACTIVATION_BACKWARD, blocks(count(), ACTIVATION_BACKWARD.blockX()), 1, act, count(), x, y, dy, dx));
        }
    }

    private final class GatedNode extends Node {
        GatedNode(int in, CUdeviceptr x) {
            super(in, in / 2, x);
            y = floats(out);
            dx = floats(in);
        }

        void forward(List<Launch> ops) {
            // gated_forward(int d, int B, const float* x, float* y)
            ops.add(op(GATED_FORWARD, blocks((long) w.tasks * out, GATED_FORWARD.blockX()), 1, out, w.tasks, x, y));
        }

        void backward(List<Launch> ops, CUdeviceptr dy, Update u) {
            // gated_backward(int d, int B, const float* x, const float* dy, float* dx)
            ops.add(op(GATED_BACKWARD, blocks((long) w.tasks * out, GATED_BACKWARD.blockX()), 1, out, w.tasks, x, dy, dx));
        }
    }

    private final class LayerNormNode extends Node {
        private final int gOff, bOff;
        private final CUdeviceptr stats;

        LayerNormNode(String prefix, int dim, CUdeviceptr x) {
            super(dim, dim, x);
            gOff = offset(prefix + ".norm.weight");
            bOff = offset(prefix + ".norm.bias");
            stats = floats(2);
            y = floats(dim);
            dx = floats(dim);
        }

        void forward(List<Launch> ops) {
            // layernorm_forward(const float* p, int P, int gOff, int bOff, int dim, const float* x, float* stats, float* y)
            ops.add(op(LAYERNORM_FORWARD, w.tasks, 1, w.params, w.paramCount, gOff, bOff, in, x, stats, y));
        }

        void backward(List<Launch> ops, CUdeviceptr dy, Update u) {
            // layernorm_backward_update(float* p, int P, float scale, float* acc, int accOn, int gOff, int bOff, int dim,
            //                           const float* x, const float* stats, const float* dy, float* dx)
            ops.add(op(LAYERNORM_BACKWARD_UPDATE, w.tasks, 1, w.params, w.paramCount, u.scale(), u.acc(), u.accOn(),
                    gOff, bOff, in, x, stats, dy, dx));
        }
    }

    private final class LstmNode extends Node {
        private final int hOff, dim;
        private final CUdeviceptr z, act, c;

        LstmNode(String prefix, int dim, CUdeviceptr x) {
            super(dim, dim, x);
            this.dim = dim;
            hOff = offset(prefix + ".hidden_vec");
            // lstm.cu finds gate k at hOff + D + k (2D*D + D), its bias after its weight: check the layout agrees.
            long gate = 2L * dim * dim + dim;
            for (int k = 0; k < 4; k++) {
                String g = prefix + "." + LayerSpec.LstmBlock.GATES[k] + ".linear.";
                long wExpected = hOff + dim + k * gate;
                if (offset(g + "weight") != wExpected || offset(g + "bias") != wExpected + 2L * dim * dim)
                    throw new IllegalStateException(prefix + ": lstm_block parameters are not laid out as lstm.cu reads them");
            }
            z = floats(2L * dim);
            act = floats(4L * dim);
            c = floats(dim);
            y = floats(dim);
            dx = floats(dim);
        }

        void forward(List<Launch> ops) {
            // lstm_block_forward(const float* p, int P, int hOff, int D, const float* x, float* z, float* act,
            //                    float* c, float* y)
            ops.add(op(LSTM_BLOCK_FORWARD, blocks(dim, LSTM_FORWARD_UNITS), w.tasks,
                    w.params, w.paramCount, hOff, dim, x, z, act, c, y));
        }

        void backward(List<Launch> ops, CUdeviceptr dy, Update u) {
            // lstm_block_backward_update(float* p, int P, float scale, float* acc, int accOn, int hOff, int D,
            //                            const float* z, const float* act, const float* c, const float* dy, float* dx)
            ops.add(op(LSTM_BLOCK_BACKWARD_UPDATE, blocks(2L * dim, LSTM_BACKWARD_COLS), w.tasks,
                    w.params, w.paramCount, u.scale(), u.acc(), u.accOn(), hOff, dim, z, act, c, dy, dx));
        }
    }

    private Launch add(long count, CUdeviceptr a, CUdeviceptr c, CUdeviceptr y) {
        // elementwise_add(int count, const float* a, const float* c, float* y)
        return op(ELEMENTWISE_ADD, blocks(count, ELEMENTWISE_ADD.blockX()), 1, Math.toIntExact(count), a, c, y);
    }

    private final class ResidualNode extends Node {
        private final Node[] inner;

        ResidualNode(String prefix, List<LayerSpec> layers, int dim, CUdeviceptr x) {
            super(dim, dim, x);
            inner = chain(layers, prefix, dim, x);
            y = floats(dim);
            dx = floats(dim);
        }

        private CUdeviceptr innerOut() {
            return inner.length == 0 ? x : inner[inner.length - 1].y;
        }

        void forward(List<Launch> ops) {
            for (Node n : inner) n.forward(ops);
            ops.add(add((long) w.tasks * in, innerOut(), x, y));
        }

        void backward(List<Launch> ops, CUdeviceptr dy, Update u) {
            CUdeviceptr innerDx = chainBackward(inner, ops, dy, u);
            ops.add(add((long) w.tasks * in, innerDx, dy, dx));
        }
    }

    private final class GatedResidualNode extends Node {
        private final Node[] inner;
        private final LinearNode gate;
        private final CUdeviceptr da, dgp;

        GatedResidualNode(String prefix, List<LayerSpec> layers, int dim, CUdeviceptr x) {
            super(dim, dim, x);
            inner = chain(layers, prefix, dim, x);
            gate = new LinearNode(prefix + ".weights", dim, dim, false, x);
            y = floats(dim);
            da = floats(dim);
            dgp = floats(dim);
            dx = floats(dim);
        }

        private CUdeviceptr innerOut() {
            return inner.length == 0 ? x : inner[inner.length - 1].y;
        }

        void forward(List<Launch> ops) {
            for (Node n : inner) n.forward(ops);
            gate.forward(ops);
            // gate_mul_forward(int count, const float* a, const float* gp, float* y)
            long count = (long) w.tasks * in;
            ops.add(op(GATE_MUL_FORWARD, blocks(count, GATE_MUL_FORWARD.blockX()), 1, Math.toIntExact(count), innerOut(), gate.y, y));
        }

        void backward(List<Launch> ops, CUdeviceptr dy, Update u) {
            long count = (long) w.tasks * in;
            // gate_mul_backward(int count, const float* a, const float* gp, const float* dy, float* da, float* dgp)
            ops.add(op(GATE_MUL_BACKWARD, blocks(count, GATE_MUL_BACKWARD.blockX()), 1, Math.toIntExact(count),
                    innerOut(), gate.y, dy, da, dgp));
            CUdeviceptr innerDx = chainBackward(inner, ops, da, u);
            gate.backward(ops, dgp, u);
            ops.add(add(count, innerDx, gate.dx, dx));
        }
    }
}
