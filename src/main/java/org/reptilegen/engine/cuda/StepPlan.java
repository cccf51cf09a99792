package org.reptilegen.engine.cuda;

import static org.reptilegen.engine.cuda.CudaKernels.*;
import static org.reptilegen.engine.cuda.Launch.blocks;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import jcuda.driver.CUdeviceptr;
import org.reptilegen.model.LayerSpec;
import org.reptilegen.model.ModelSpec;
import org.reptilegen.model.ParamLayout;
import org.reptilegen.model.TaskKind;

/**
 * The launches of one inner step of B tasks, built once per batch shape: every layer's forward, the
 * loss with its gradient, every layer's backward fused with its update, and the step counter's advance.
 * For MAML also the Hessian-vector step: forward and tangent, the loss with its Hessian, and backward
 * and tangent with the adjoint update of each parameter element.
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
    /** The model's output [B x L] and the loss gradient in it, and their tangents (MAML). */
    final CUdeviceptr logits, dlogits, logitsT, dlogitsT;
    /**
     * The task parameters [B x P] the launches being built read and update, and where the losses go:
     * the inner loop runs on the task copies, MAML's recomputed segments on their own states.
     */
    private CUdeviceptr p, nll;
    /**
     * Where the Hessian-vector step's backward tangents apply the adjoint update: lambda, the rates'
     * gradient rows rg when rgOn is 1 (learned rates; otherwise rg is lambda, never written), alpha.
     */
    private record Adjoint(CUdeviceptr lambda, CUdeviceptr rg, int rgOn, double alpha) {}

    private Adjoint adjoint;
    /**
     * The model's head when it is a plain linear that forms the loss's gradient in its own backward
     * (small layers folded), else null: the plain steps then have no loss launch.
     */
    private final LinearNode lossHead;
    /**
     * The linear whose backward is the plain step's last launch and advances the step counter itself
     * (small layers folded), else null: the plain steps then end with step_advance.
     */
    private final LinearNode stepHost;
    /** The row splits of each fused backward launch, in the order the layers were built. */
    private final List<Integer> splitCounts = new ArrayList<>();

    StepPlan(ModelSpec spec, Workspace w, Launch.Functions fns) {
        this.w = w;
        this.fns = fns;
        this.layout = spec.layout();
        this.kind = spec.task();
        List<LayerSpec> layers = spec.layers();
        nodes = chain(layers, "", kind.inputDim, null, null);
        CUdeviceptr x = null, xT = null;
        int width = kind.inputDim;
        if (nodes.length > 0) {
            Node last = nodes[nodes.length - 1];
            x = last.y;
            xT = last.yT;
            width = last.out;
        }
        if (width != kind.logits) throw new IllegalStateException("model ends with width " + width + ", not " + kind.logits);
        logits = x;
        logitsT = xT;
        dlogits = w.arena.floats((long) w.tasks * width);
        dlogitsT = tangentFloats(width);
        LinearNode head = nodes.length > 0 && nodes[nodes.length - 1] instanceof LinearNode l && l.mode == LIN_PLAIN ? l : null;
        lossHead = w.options.smallLayersFolded() ? head : null;
        if (lossHead != null) lossHead.folded.loss = kind == TaskKind.MNIST ? LOSS_BCE : LOSS_SOFTMAX;
        // The backward runs last to first; d2c and a folded embedding add no launch of their own.
        int first = 0;
        while (first < nodes.length && (nodes[first] instanceof D2cNode || nodes[first] instanceof EmbedNode e && e.folded)) first++;
        LinearNode last = first == nodes.length ? null
                : nodes[first] instanceof LinearNode l ? l : nodes[first] instanceof LinearGatedNode g ? g.linear : null;
        stepHost = w.options.smallLayersFolded() ? last : null;
        if (stepHost != null) stepHost.folded.stepArrivals = w.arena.constInts(new int[1]);
    }

    /** The step counter's advance at the end of a plain step: in the last launch (stepHost), or its own. */
    private void advance(List<Launch> ops) {
        if (stepHost == null) ops.add(op(STEP_ADVANCE, 1, 1, w.step));
    }

    /** The row splits of the fused backward launches, first layer first, e.g. "1,3,3,1". */
    String splitCounts() {
        return String.join(",", splitCounts.stream().map(String::valueOf).toList());
    }

    /** One inner SGD step of every task. */
    List<Launch> trainStep(Update u) {
        return trainStep(u, w.params, w.nll);
    }

    /** One inner SGD step of the task parameters at params, adding the losses to nll [B]. */
    List<Launch> trainStep(Update u, CUdeviceptr params, CUdeviceptr nll) {
        p = params;
        this.nll = nll;
        List<Launch> ops = new ArrayList<>();
        for (Node n : nodes) n.forward(ops, false);
        if (lossHead == null) ops.add(loss());
        backward(ops, u);
        advance(ops);
        return ops;
    }

    /**
     * One step of MAML's adjoint recursion at the parameters params (theta_t of every task) for step t
     * of the device counter: the forward and its tangent along v = lambda, the loss with its gradient
     * and Hessian in the logits, then the backward and its tangent, which form each parameter element's
     * g_t and H_t lambda and apply lambda = g_t + lambda - alpha H_t lambda to it at once, without
     * touching params; and the counter moved back to t - 1. With learned rates the direction is
     * v = rates * lambda and the adjoint update lambda = g_t + lambda - H_t v also adds -g_t * lambda
     * into the rates' gradient rows; alpha is then unused.
     */
    List<Launch> hvpStep(CUdeviceptr params, double alpha) {
        p = params;
        this.nll = w.nllScratch;
        adjoint = w.rates != null ? new Adjoint(w.lambda, w.rateGrad, 1, 1.0) : new Adjoint(w.lambda, w.lambda, 0, alpha);
        List<Launch> ops = new ArrayList<>();
        // maml_direction(const float* lambda, const float* rates, float* v, int P, int S, int B)
        if (w.rates != null) ops.add(op(MAML_DIRECTION, blocks(w.paramCount, MAML_DIRECTION.blockX()), w.tasks,
                w.lambda, w.rates, w.direction, w.paramCount, w.paramStride, w.tasks));
        for (Node n : nodes) n.forward(ops, true);
        ops.add(lossTangent());
        CUdeviceptr dy = dlogits, dyT = dlogitsT;
        for (int i = nodes.length - 1; i >= 0; i--) {
            nodes[i].backwardTangent(ops, dy, dyT);
            dy = nodes[i].dx;
            dyT = nodes[i].dxT;
        }
        // step_add(int* step, int delta)
        ops.add(op(STEP_ADD, 1, 1, w.step, -1));
        return ops;
    }

    /** One sampling step: the forward, a draw of y_t from the logits, then the SGD step on it. */
    List<Launch> sampleStep(Update u, double temperature, boolean stopAtZero) {
        p = w.params;
        nll = w.nll;
        List<Launch> ops = new ArrayList<>();
        for (Node n : nodes) n.forward(ops, false);
        // sample_draw(int B, int L, double temperature, const float* z, const unsigned long long* streams,
        //             int stopAtZero, const int* step, int steps, int* ys, int* done, int* out)
        ops.add(op(SAMPLE_DRAW, w.tasks, 1, w.tasks, kind.logits, temperature, logits, w.streams,
                stopAtZero ? 1 : 0, w.step, w.steps, w.ys, w.done, w.out));
        if (lossHead == null) ops.add(loss());
        backward(ops, u);
        advance(ops);
        return ops;
    }

    private Launch loss() {
        int b = w.tasks;
        if (kind == TaskKind.MNIST)
            // bce_loss_grad(int B, const float* z, const int* ys, const int* step, float* dz, double* nll)
            return op(BCE_LOSS_GRAD, blocks(b, BCE_LOSS_GRAD.blockX()), 1, b, logits, w.ys, w.step, dlogits, nll);
        // softmax_ce_loss_grad(int B, int L, const float* z, const int* ys, const int* step, float* dz, double* nll)
        return op(SOFTMAX_CE_LOSS_GRAD, b, 1, b, kind.logits, logits, w.ys, w.step, dlogits, nll);
    }

    private Launch lossTangent() {
        int b = w.tasks;
        if (kind == TaskKind.MNIST)
            // bce_loss_grad_tangent(int B, const float* z, const float* zT, const int* ys, const int* step, float* dz,
            //                       float* dzT, double* nll)
            return op(BCE_LOSS_GRAD_TANGENT, blocks(b, BCE_LOSS_GRAD_TANGENT.blockX()), 1,
                    b, logits, logitsT, w.ys, w.step, dlogits, dlogitsT, nll);
        // softmax_ce_loss_grad_tangent(int B, int L, const float* z, const float* zT, const int* ys, const int* step,
        //                              float* dz, float* dzT, double* nll)
        return op(SOFTMAX_CE_LOSS_GRAD_TANGENT, b, 1, b, kind.logits, logits, logitsT, w.ys, w.step, dlogits, dlogitsT, nll);
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

    /** A tangent's activations: only in a workspace for MAML, the one plan that reads them (null elsewhere). */
    private CUdeviceptr tangentFloats(long perTask) {
        return w.segment > 0 ? floats(perTask) : null;
    }

    // ---- the layer tree ----

    private abstract static class Node {
        final int in, out;
        /**
         * Input [B x in] and its tangent (null for the first layer, which reads the integer inputs); output,
         * input gradient and their tangents, the tangents used only by MAML's Hessian-vector products.
         */
        final CUdeviceptr x, xT;
        CUdeviceptr y, dx, yT, dxT;

        Node(int in, int out, CUdeviceptr x, CUdeviceptr xT) {
            this.in = in;
            this.out = out;
            this.x = x;
            this.xT = xT;
        }

        /** Appends the forward launches; with tangent, also those of yT along w.direction (lambda, or rates * lambda). */
        abstract void forward(List<Launch> ops, boolean tangent);

        /** Appends the backward launches for the output gradient dy; leaves the input gradient in dx. */
        abstract void backward(List<Launch> ops, CUdeviceptr dy, Update u);

        /**
         * Appends the backward and its tangent for dy, dyT: leaves dx and dxT, applies the adjoint update
         * to the layer's elements of lambda with their gradient and H v, and leaves the parameters alone.
         */
        abstract void backwardTangent(List<Launch> ops, CUdeviceptr dy, CUdeviceptr dyT);
    }

    private Node build(LayerSpec spec, String prefix, int in, CUdeviceptr x, CUdeviceptr xT) {
        if (spec instanceof LayerSpec.Embed e) return new EmbedNode(e, prefix);
        if (spec instanceof LayerSpec.D2c d) return new D2cNode(in, d.n());
        if (spec instanceof LayerSpec.Linear l) return new LinearNode(prefix, l.in(), l.out(), LIN_PLAIN, x, xT);
        if (spec instanceof LayerSpec.Siren s) return new LinearNode(prefix, s.in(), s.out(), LIN_SINE, x, xT);
        if (spec instanceof LayerSpec.Activation a) return new ActivationNode(a.kind(), in, x, xT);
        if (spec instanceof LayerSpec.Gated) return new GatedNode(in, x, xT);
        if (spec instanceof LayerSpec.LayerNorm n) return new LayerNormNode(prefix, n.dim(), x, xT);
        if (spec instanceof LayerSpec.LstmBlock l) return new LstmNode(prefix, l.dim(), x, xT);
        if (spec instanceof LayerSpec.Residual r) return new ResidualNode(prefix, r.layers(), in, x, xT);
        if (spec instanceof LayerSpec.GatedResidual g) return new GatedResidualNode(prefix, g.layers(), g.in(), x, xT);
        throw new IllegalArgumentException("no cuda layer for " + spec.type());
    }

    /**
     * The nodes of a list of layers (prefix "" for the model's top level). A linear followed by gated,
     * relu, tanh or sigmoid becomes one node, whose kernels apply the activation (one launch and one trip
     * of the activations through memory less each way); after anything else they keep their own kernels.
     */
    private Node[] chain(List<LayerSpec> specs, String prefix, int in, CUdeviceptr x, CUdeviceptr xT) {
        List<Node> out = new ArrayList<>();
        for (int j = 0; j < specs.size(); j++) {
            String name = (prefix.isEmpty() ? "" : prefix + ".") + "module_" + j;
            Node n;
            LayerSpec next = j + 1 < specs.size() ? specs.get(j + 1) : null;
            if (specs.get(j) instanceof LayerSpec.Linear l && next instanceof LayerSpec.Gated) {
                n = new LinearGatedNode(name, l.in(), l.out(), x, xT);
                j++;
            } else if (specs.get(j) instanceof LayerSpec.Linear l && next instanceof LayerSpec.Activation a) {
                n = new LinearNode(name, l.in(), l.out(), LIN_ACT + activationKind(a.kind()), x, xT);
                j++;
            } else {
                n = build(specs.get(j), name, in, x, xT);
            }
            out.add(n);
            x = n.y;
            xT = n.yT;
            in = n.out;
        }
        if (w.options.smallLayersFolded()) foldSmallLayers(out);
        return out.toArray(new Node[0]);
    }

    /**
     * Folds the small layers of a chain into the kernels of the big ones next to them, so that each saves
     * the step a launch and a dependent phase each way (mnist-lstm: 18 launches to 8 with the loss and the
     * step counter's advance, which the constructor folds into the head's and the first linear's backward;
     * kernels/README.md):
     * <ul>
     * <li>a layernorm's forward into the linear or lstm_block before it, which runs it in the last of each
     * task's blocks once the task's output is complete, and its backward into the one after it, once that
     * layer's input gradient is (layernorm.cuh's tails);
     * <li>an embedding into the linear after it, whose forward reads its input from the tables and whose
     * backward applies each input gradient element to the table element it came from.
     * </ul>
     * Only neighbours within one chain pair up, so the small layer's output and input gradient have no
     * other reader. MAML's Hessian-vector step keeps the small layers' own kernels for its tangents.
     */
    private void foldSmallLayers(List<Node> chain) {
        for (int j = 0; j < chain.size(); j++) {
            Folded before = j > 0 ? foldedOf(chain.get(j - 1)) : null;
            Folded after = j + 1 < chain.size() ? foldedOf(chain.get(j + 1)) : null;
            if (chain.get(j) instanceof EmbedNode e && after != null && after.linear && e.out <= LINEAR_EMBED_MAX) {
                after.input = e;
                e.folded = true;
            }
            if (!(chain.get(j) instanceof LayerNormNode ln)) continue;
            if (before != null) {
                before.after = ln;
                before.afterArrivals = w.arena.constInts(new int[w.tasks]);
                ln.forwardFolded = true;
            }
            if (after != null) {
                after.before = ln;
                after.beforeArrivals = w.arena.constInts(new int[w.tasks]);
                ln.backwardFolded = true;
            }
        }
    }

    /** What a node whose plain kernels take small layers in (linear, gated linear, lstm_block) holds, or null. */
    private static Folded foldedOf(Node n) {
        if (n instanceof LinearNode l) return l.folded;
        if (n instanceof LinearGatedNode g) return g.linear.folded;
        if (n instanceof LstmNode l) return l.folded;
        return null;
    }

    /**
     * The small layers a big layer's plain kernels run: input, the embedding its forward reads from and its
     * backward updates (linear only); after, the layernorm its output feeds (forward tail); before, the
     * one that feeds its input (backward tail), each with its per-task arrival counts [B], zero when
     * uploaded and set back to zero by every launch. Absent, the kernels get null and skip the work.
     */
    private final class Folded {
        final boolean linear;
        /** LOSS_NONE, or the loss the model's plain head forms in its backward (linear only). */
        int loss = LOSS_NONE;
        EmbedNode input;
        LayerNormNode after, before;
        CUdeviceptr afterArrivals, beforeArrivals;
        /** The grid's arrival count [1] when this linear's backward is the step's last launch and advances the counter. */
        CUdeviceptr stepArrivals;

        Folded(boolean linear) {
            this.linear = linear;
        }

        /**
         * The linear kernels' step counter and embedding arguments: const int* step, const int* emMeta,
         * int emTables, const int* xs, int inDim.
         */
        Object[] embed() {
            if (input == null) return new Object[]{w.step, Launch.NULL, 0, Launch.NULL, 0};
            return new Object[]{w.step, input.meta, input.tables, w.xs, input.in};
        }

        /** The linear backward's loss arguments: int loss, const int* ys, double* nll (the plan's losses). */
        Object[] loss() {
            return loss == LOSS_NONE ? new Object[]{LOSS_NONE, Launch.NULL, Launch.NULL} : new Object[]{loss, w.ys, nll};
        }

        /** The forward kernels' last arguments: int* lnArrivals, int lnG, int lnB, float* lnStats, float* lnY. */
        Object[] layerNormForward() {
            if (after == null) return new Object[]{Launch.NULL, 0, 0, Launch.NULL, Launch.NULL};
            return new Object[]{afterArrivals, after.gOff, after.bOff, after.stats, after.y};
        }

        /**
         * The backward kernels' last arguments: int* lnArrivals, int lnG, int lnB, const float* lnX,
         * const float* lnStats, float* lnDx.
         */
        Object[] layerNormBackward() {
            if (before == null) return new Object[]{Launch.NULL, 0, 0, Launch.NULL, Launch.NULL, Launch.NULL};
            return new Object[]{beforeArrivals, before.gOff, before.bOff, before.x, before.stats, before.dx};
        }

        /** The linear backward's last argument: int* stepArrivals. */
        Object[] stepAdvance() {
            return new Object[]{stepArrivals == null ? Launch.NULL : stepArrivals};
        }
    }

    private static Object[] with(Object[]... parts) {
        List<Object> all = new ArrayList<>();
        for (Object[] part : parts) all.addAll(Arrays.asList(part));
        return all.toArray();
    }

    /**
     * The row splits of a fused backward-and-update launch over a matrix of width columns (slabs of
     * cols) and rows rows, from the workspace's policy, and their scratch: the splits' column sums
     * [splits x 2 x B x width] (the Hessian-vector kernels keep two) and the arrival counts [B x slabs],
     * zero when uploaded and set back to zero by every launch (split_total in kernels/common.cuh); one
     * element each for one split, which never touches them. The update and the tangent launch of a node
     * share them: launches run one after another.
     */
    private final class Splits {
        final int slabs, count;
        final CUdeviceptr partial, arrivals;

        Splits(int width, int cols, int rows) {
            slabs = blocks(width, cols);
            count = w.options.rowSplits().splits((long) slabs * w.tasks, rows);
            splitCounts.add(count);
            partial = w.arena.floats(count > 1 ? 2L * count * w.tasks * width : 1);
            arrivals = w.arena.constInts(new int[count > 1 ? Math.multiplyExact(w.tasks, slabs) : 1]);
        }

        int gridX() {
            return Math.multiplyExact(slabs, count);
        }
    }

    private static int activationKind(LayerSpec.Activation.Kind k) {
        return switch (k) {
            case RELU -> ACT_RELU;
            case TANH -> ACT_TANH;
            case SIGMOID -> ACT_SIGMOID;
        };
    }

    /** Backward through a chain from dy; returns the chain's input gradient (dy itself for an empty chain). */
    private static CUdeviceptr chainBackward(Node[] chain, List<Launch> ops, CUdeviceptr dy, Update u) {
        for (int j = chain.length - 1; j >= 0; j--) {
            chain[j].backward(ops, dy, u);
            dy = chain[j].dx;
        }
        return dy;
    }

    /** As chainBackward with tangents: returns {dx, dxT} of the chain's input ({dy, dyT} for an empty chain). */
    private static CUdeviceptr[] chainBackwardTangent(Node[] chain, List<Launch> ops, CUdeviceptr dy, CUdeviceptr dyT) {
        for (int j = chain.length - 1; j >= 0; j--) {
            chain[j].backwardTangent(ops, dy, dyT);
            dy = chain[j].dx;
            dyT = chain[j].dxT;
        }
        return new CUdeviceptr[]{dy, dyT};
    }

    private final class EmbedNode extends Node {
        final CUdeviceptr meta;
        final int tables;
        /** Whether the linear after it runs its plain forward and backward (foldSmallLayers). */
        boolean folded;

        EmbedNode(LayerSpec.Embed spec, String prefix) {
            super(spec.tables().size(), spec.outDim(spec.tables().size(), prefix), null, null);
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
            yT = tangentFloats(out);
        }

        private Launch gather(CUdeviceptr table, CUdeviceptr into) {
            // embed_gather_forward(const float* p, int P, const int* meta, int tables, int outWidth,
            //                      const int* xs, int inDim, const int* step, int B, float* y)
            return op(EMBED_GATHER_FORWARD, blocks(out, EMBED_GATHER_FORWARD.blockX()), w.tasks,
                    table, w.paramStride, meta, tables, out, w.xs, in, w.step, w.tasks, into);
        }

        private Launch scatter(CUdeviceptr table, Update u, CUdeviceptr dy) {
            // embed_scatter_update(float* p, int P, float scale, float* acc, int accOn, const int* meta, int tables,
            //                      int outWidth, const int* xs, int inDim, const int* step, int B, const float* dy)
            return op(EMBED_SCATTER_UPDATE, blocks(out, EMBED_SCATTER_UPDATE.blockX()), w.tasks,
                    table, w.paramStride, u.scale(), u.acc(), u.accOn(), meta, tables, out, w.xs, in, w.step, w.tasks, dy);
        }

        void forward(List<Launch> ops, boolean tangent) {
            if (folded && !tangent) return;
            ops.add(gather(p, y));
            // The output is linear in the tables: its tangent is the direction's rows.
            if (tangent) ops.add(gather(w.direction, yT));
        }

        void backward(List<Launch> ops, CUdeviceptr dy, Update u) {
            if (folded) return;
            ops.add(scatter(p, u, dy));
        }

        void backwardTangent(List<Launch> ops, CUdeviceptr dy, CUdeviceptr dyT) {
            // Linear in the tables, so no second-order term of its own: a looked-up row's g is dy, its H v dyT.
            // embed_scatter_adjoint(int P, const int* meta, int tables, int outWidth, const int* xs, int inDim,
            //                       const int* step, int B, const float* dy, const float* dyT, float* lambda,
            //                       float* rg, int rgOn, double alpha)
            ops.add(op(EMBED_SCATTER_ADJOINT, blocks(out, EMBED_SCATTER_ADJOINT.blockX()), w.tasks, w.paramStride, meta,
                    tables, out, w.xs, in, w.step, w.tasks, dy, dyT, adjoint.lambda(), adjoint.rg(), adjoint.rgOn(),
                    adjoint.alpha()));
        }
    }

    private final class D2cNode extends Node {
        private final float scale;

        D2cNode(int in, int n) {
            super(in, in, null, null);
            scale = (float) (2.0 / n);
            y = floats(in);
            yT = tangentFloats(in);
        }

        void forward(List<Launch> ops, boolean tangent) {
            // d2c_forward(float scale, int inDim, const int* xs, const int* step, int B, float* y)
            ops.add(op(D2C_FORWARD, blocks((long) w.tasks * in, D2C_FORWARD.blockX()), 1, scale, in, w.xs, w.step, w.tasks, y));
            // Integer inputs do not move along a parameter direction.
            if (tangent) ops.add(zero(yT, in));
        }

        void backward(List<Launch> ops, CUdeviceptr dy, Update u) {
            // No parameters, and the first layer: nothing upstream needs its input gradient.
        }

        void backwardTangent(List<Launch> ops, CUdeviceptr dy, CUdeviceptr dyT) {
        }
    }

    private Launch zero(CUdeviceptr rows, int width) {
        // rows_zero(float* dst, int P, int B)
        return op(ROWS_ZERO, blocks(width, ROWS_ZERO.blockX()), w.tasks, rows, width, w.tasks);
    }

    private final class LinearNode extends Node {
        /**
         * LIN_PLAIN, LIN_SINE or LIN_ACT + an activation kind (those two keep the pre-activation in pre);
         * the gated pair passes LIN_GATED to its launches.
         */
        private final int wOff, bOff;
        final int mode;
        private final CUdeviceptr pre, preT;
        private final Splits splits;
        final Folded folded = new Folded(true);

        LinearNode(String prefix, int in, int out, int mode, CUdeviceptr x, CUdeviceptr xT) {
            super(in, out, x, xT);
            this.wOff = offset(prefix + ".linear.weight");
            this.bOff = offset(prefix + ".linear.bias");
            this.mode = mode;
            splits = new Splits(in, LINEAR_BACKWARD_COLS, out);
            boolean elementwise = mode != LIN_PLAIN;
            y = floats(out);
            yT = tangentFloats(out);
            pre = elementwise ? floats(out) : y;
            preT = elementwise ? tangentFloats(out) : yT;
            dx = floats(in);
            dxT = tangentFloats(in);
        }

        void forward(List<Launch> ops, boolean tangent) {
            if (tangent) {
                // The forward and its tangent in one pass over W and V.
                ops.add(forwardTangentLaunch(y, yT, mode));
                return;
            }
            ops.add(forwardLaunch(y, mode));
        }

        /** linear_forward_tangent into y, yT in the given mode (for LIN_GATED the gated output and its tangent). */
        Launch forwardTangentLaunch(CUdeviceptr into, CUdeviceptr intoT, int mode) {
            // linear_forward_tangent(const float* p, const float* v, int P, int wOff, int bOff, int in, int out,
            //                        const float* x, const float* xT, int mode, float* y, float* pre, float* yT,
            //                        float* preT)
            int rows = mode == LIN_GATED ? out / 2 : out;
            return op(LINEAR_FORWARD_TANGENT, blocks(rows, LINEAR_FORWARD_ROWS), w.tasks,
                    p, w.direction, w.paramStride, wOff, bOff, in, out, x, xT, mode, into, pre, intoT, preT);
        }

        /**
         * linear_forward into y in the given mode (for LIN_GATED y is the gated output, pre this node's y),
         * or linear_forward_folded where an embedding or a layernorm is folded in.
         */
        Launch forwardLaunch(CUdeviceptr into, int mode) {
            int rows = mode == LIN_GATED ? out / 2 : out;
            int grid = blocks(rows, LINEAR_FORWARD_ROWS);
            if (folded.input == null && folded.after == null)
                // linear_forward(const float* p, int P, int wOff, int bOff, int in, int out, const float* x, float* y,
                //                float* pre, int mode)
                return op(LINEAR_FORWARD, grid, w.tasks, p, w.paramStride, wOff, bOff, in, out, x, into, pre, mode);
            // linear_forward_folded(const float* p, int P, int wOff, int bOff, int in, int out, float* x, float* y,
            //                       float* pre, int mode, const int* step, const int* emMeta, int emTables,
            //                       const int* xs, int inDim, int* lnArrivals, int lnG, int lnB, float* lnStats,
            //                       float* lnY)
            return op(LINEAR_FORWARD_FOLDED, grid, w.tasks, with(new Object[]{p, w.paramStride, wOff, bOff, in, out, x, into,
                    pre, mode}, folded.embed(), folded.layerNormForward()));
        }

        void backward(List<Launch> ops, CUdeviceptr dy, Update u) {
            ops.add(backwardLaunch(dy, u, mode));
        }

        /** linear_backward_update for dy in the given mode (for LIN_GATED dy is the gated output's gradient). */
        Launch backwardLaunch(CUdeviceptr dy, Update u, int mode) {
            // linear_backward_update(float* p, int P, float scale, float* acc, int accOn, int wOff, int bOff, int in,
            //                        int out, const float* x, const float* dy, const float* pre, int mode, float* dx,
            //                        int splits, float* partial, int* arrivals, int* step, const int* emMeta,
            //                        int emTables, const int* xs, int inDim, int loss, const int* ys, double* nll,
            //                        int* lnArrivals, int lnG, int lnB, const float* lnX, const float* lnStats, float* lnDx,
            //                        int* stepArrivals)
            return op(LINEAR_BACKWARD_UPDATE, splits.gridX(), w.tasks, with(new Object[]{p, w.paramStride, u.scale(), u.acc(),
                    u.accOn(), wOff, bOff, in, out, x, dy, pre, mode, dx, splits.count, splits.partial, splits.arrivals},
                    folded.embed(), folded.loss(), folded.layerNormBackward(), folded.stepAdvance()));
        }

        void backwardTangent(List<Launch> ops, CUdeviceptr dy, CUdeviceptr dyT) {
            ops.add(backwardTangentLaunch(dy, dyT, mode));
        }

        /** linear_backward_tangent for dy, dyT in the given mode (for LIN_GATED the gated output's gradients). */
        Launch backwardTangentLaunch(CUdeviceptr dy, CUdeviceptr dyT, int mode) {
            // linear_backward_tangent(const float* p, const float* v, int P, float* lambda, float* rg, int rgOn,
            //                         double alpha, int wOff, int bOff, int in, int out, const float* x, const float* xT,
            //                         const float* dy, const float* dyT, const float* pre, const float* preT, int mode,
            //                         float* dx, float* dxT, int splits, float* partial, int* arrivals)
            return op(LINEAR_BACKWARD_TANGENT, splits.gridX(), w.tasks,
                    p, w.direction, w.paramStride, adjoint.lambda(), adjoint.rg(), adjoint.rgOn(), adjoint.alpha(), wOff, bOff,
                    in, out, x, xT, dy, dyT, pre, preT, mode, dx, dxT, splits.count, splits.partial, splits.arrivals);
        }
    }

    /**
     * linear(in, 2d) followed by gated, run as one linear in LIN_GATED mode: the linear's own output
     * buffer (and its tangent's) keeps the pre-activations [a; c], the pair's y is the gated output.
     */
    private final class LinearGatedNode extends Node {
        final LinearNode linear;

        LinearGatedNode(String prefix, int in, int out, CUdeviceptr x, CUdeviceptr xT) {
            super(in, out / 2, x, xT);
            linear = new LinearNode(prefix, in, out, LIN_PLAIN, x, xT);
            y = floats(this.out);
            yT = tangentFloats(this.out);
            dx = linear.dx;
            dxT = linear.dxT;
        }

        void forward(List<Launch> ops, boolean tangent) {
            ops.add(tangent ? linear.forwardTangentLaunch(y, yT, LIN_GATED) : linear.forwardLaunch(y, LIN_GATED));
        }

        void backward(List<Launch> ops, CUdeviceptr dy, Update u) {
            ops.add(linear.backwardLaunch(dy, u, LIN_GATED));
        }

        void backwardTangent(List<Launch> ops, CUdeviceptr dy, CUdeviceptr dyT) {
            ops.add(linear.backwardTangentLaunch(dy, dyT, LIN_GATED));
        }
    }

    private final class ActivationNode extends Node {
        private final int act;

        ActivationNode(LayerSpec.Activation.Kind k, int dim, CUdeviceptr x, CUdeviceptr xT) {
            super(dim, dim, x, xT);
            act = activationKind(k);
            y = floats(dim);
            dx = floats(dim);
            yT = tangentFloats(dim);
            dxT = tangentFloats(dim);
        }

        private int count() {
            return Math.multiplyExact(w.tasks, in);
        }

        void forward(List<Launch> ops, boolean tangent) {
            // activation_forward(int kind, int count, const float* x, float* y)
            ops.add(op(ACTIVATION_FORWARD, blocks(count(), ACTIVATION_FORWARD.blockX()), 1, act, count(), x, y));
            if (!tangent) return;
            // activation_forward_tangent(int kind, int count, const float* x, const float* y, const float* xT, float* yT)
            ops.add(op(ACTIVATION_FORWARD_TANGENT, blocks(count(), ACTIVATION_FORWARD_TANGENT.blockX()), 1,
                    act, count(), x, y, xT, yT));
        }

        void backward(List<Launch> ops, CUdeviceptr dy, Update u) {
            // activation_backward(int kind, int count, const float* x, const float* y, const float* dy, float* dx)
            ops.add(op(ACTIVATION_BACKWARD, blocks(count(), ACTIVATION_BACKWARD.blockX()), 1, act, count(), x, y, dy, dx));
        }

        void backwardTangent(List<Launch> ops, CUdeviceptr dy, CUdeviceptr dyT) {
            // activation_backward_tangent(int kind, int count, const float* x, const float* y, const float* xT,
            //                             const float* dy, const float* dyT, float* dx, float* dxT)
            ops.add(op(ACTIVATION_BACKWARD_TANGENT, blocks(count(), ACTIVATION_BACKWARD_TANGENT.blockX()), 1,
                    act, count(), x, y, xT, dy, dyT, dx, dxT));
        }
    }

    private final class GatedNode extends Node {
        GatedNode(int in, CUdeviceptr x, CUdeviceptr xT) {
            super(in, in / 2, x, xT);
            y = floats(out);
            dx = floats(in);
            yT = tangentFloats(out);
            dxT = tangentFloats(in);
        }

        private int blocksOut() {
            return blocks((long) w.tasks * out, GATED_FORWARD.blockX());
        }

        void forward(List<Launch> ops, boolean tangent) {
            // gated_forward(int d, int B, const float* x, float* y)
            ops.add(op(GATED_FORWARD, blocksOut(), 1, out, w.tasks, x, y));
            // gated_forward_tangent(int d, int B, const float* x, const float* xT, float* yT)
            if (tangent) ops.add(op(GATED_FORWARD_TANGENT, blocksOut(), 1, out, w.tasks, x, xT, yT));
        }

        void backward(List<Launch> ops, CUdeviceptr dy, Update u) {
            // gated_backward(int d, int B, const float* x, const float* dy, float* dx)
            ops.add(op(GATED_BACKWARD, blocksOut(), 1, out, w.tasks, x, dy, dx));
        }

        void backwardTangent(List<Launch> ops, CUdeviceptr dy, CUdeviceptr dyT) {
            // gated_backward_tangent(int d, int B, const float* x, const float* xT, const float* dy, const float* dyT,
            //                        float* dx, float* dxT)
            ops.add(op(GATED_BACKWARD_TANGENT, blocksOut(), 1, out, w.tasks, x, xT, dy, dyT, dx, dxT));
        }
    }

    private final class LayerNormNode extends Node {
        final int gOff, bOff;
        final CUdeviceptr stats, tstats;
        /** Whether the plain forward or backward runs as a tail of a neighbour's kernel (foldSmallLayers). */
        boolean forwardFolded, backwardFolded;

        LayerNormNode(String prefix, int dim, CUdeviceptr x, CUdeviceptr xT) {
            super(dim, dim, x, xT);
            gOff = offset(prefix + ".norm.weight");
            bOff = offset(prefix + ".norm.bias");
            stats = floats(2);
            tstats = tangentFloats(2);
            y = floats(dim);
            dx = floats(dim);
            yT = tangentFloats(dim);
            dxT = tangentFloats(dim);
        }

        void forward(List<Launch> ops, boolean tangent) {
            if (forwardFolded && !tangent) return;
            // layernorm_forward(const float* p, int P, int gOff, int bOff, int dim, const float* x, float* stats, float* y)
            ops.add(op(LAYERNORM_FORWARD, w.tasks, 1, p, w.paramStride, gOff, bOff, in, x, stats, y));
            if (!tangent) return;
            // layernorm_forward_tangent(const float* p, const float* v, int P, int gOff, int bOff, int dim, const float* x,
            //                           const float* xT, const float* stats, float* tstats, float* yT)
            ops.add(op(LAYERNORM_FORWARD_TANGENT, w.tasks, 1, p, w.direction, w.paramStride, gOff, bOff, in, x, xT, stats, tstats, yT));
        }

        void backward(List<Launch> ops, CUdeviceptr dy, Update u) {
            if (backwardFolded) return;
            // layernorm_backward_update(float* p, int P, float scale, float* acc, int accOn, int gOff, int bOff, int dim,
            //                           const float* x, const float* stats, const float* dy, float* dx)
            ops.add(op(LAYERNORM_BACKWARD_UPDATE, w.tasks, 1, p, w.paramStride, u.scale(), u.acc(), u.accOn(),
                    gOff, bOff, in, x, stats, dy, dx));
        }

        void backwardTangent(List<Launch> ops, CUdeviceptr dy, CUdeviceptr dyT) {
            // layernorm_backward_tangent(const float* p, const float* v, int P, float* lambda, float* rg, int rgOn,
            //                            double alpha, int gOff, int bOff, int dim, const float* x, const float* xT, const float* stats, const float* tstats,
            //                            const float* dy, const float* dyT, float* dx, float* dxT)
            ops.add(op(LAYERNORM_BACKWARD_TANGENT, w.tasks, 1, p, w.direction, w.paramStride, adjoint.lambda(), adjoint.rg(),
                    adjoint.rgOn(), adjoint.alpha(), gOff, bOff, in, x, xT, stats, tstats, dy, dyT, dx, dxT));
        }
    }

    private final class LstmNode extends Node {
        private final int hOff, dim;
        private final CUdeviceptr z, act, c, zT, aT, cT;
        private final Splits splits;
        final Folded folded = new Folded(false);

        LstmNode(String prefix, int dim, CUdeviceptr x, CUdeviceptr xT) {
            super(dim, dim, x, xT);
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
            splits = new Splits(2 * dim, LSTM_BACKWARD_COLS, 4 * dim);
            z = floats(2L * dim);
            act = floats(4L * dim);
            c = floats(dim);
            y = floats(dim);
            dx = floats(dim);
            zT = tangentFloats(2L * dim);
            aT = tangentFloats(4L * dim);
            cT = tangentFloats(dim);
            yT = tangentFloats(dim);
            dxT = tangentFloats(dim);
        }

        void forward(List<Launch> ops, boolean tangent) {
            if (tangent) {
                // The forward and its tangent in one pass over the gates' W and V.
                // lstm_block_forward_tangent(const float* p, const float* v, int P, int hOff, int D, const float* x,
                //                            const float* xT, float* z, float* act, float* c, float* y, float* zT,
                //                            float* aT, float* cT, float* yT)
                ops.add(op(LSTM_BLOCK_FORWARD_TANGENT, blocks(dim, LSTM_FORWARD_UNITS), w.tasks,
                        p, w.direction, w.paramStride, hOff, dim, x, xT, z, act, c, y, zT, aT, cT, yT));
                return;
            }
            // lstm_block_forward(const float* p, int P, int hOff, int D, const float* x, float* z, float* act,
            //                    float* c, float* y, int* lnArrivals, int lnG, int lnB, float* lnStats, float* lnY)
            ops.add(op(LSTM_BLOCK_FORWARD, blocks(dim, LSTM_FORWARD_UNITS), w.tasks,
                    with(new Object[]{p, w.paramStride, hOff, dim, x, z, act, c, y}, folded.layerNormForward())));
        }

        void backward(List<Launch> ops, CUdeviceptr dy, Update u) {
            // lstm_block_backward_update(float* p, int P, float scale, float* acc, int accOn, int hOff, int D,
            //                            const float* z, const float* act, const float* c, const float* dy, float* dx,
            //                            int splits, float* partial, int* arrivals, int* lnArrivals, int lnG, int lnB,
            //                            const float* lnX, const float* lnStats, float* lnDx)
            ops.add(op(LSTM_BLOCK_BACKWARD_UPDATE, splits.gridX(), w.tasks, with(new Object[]{p, w.paramStride, u.scale(),
                    u.acc(), u.accOn(), hOff, dim, z, act, c, dy, dx, splits.count, splits.partial, splits.arrivals},
                    folded.layerNormBackward())));
        }

        void backwardTangent(List<Launch> ops, CUdeviceptr dy, CUdeviceptr dyT) {
            // lstm_block_backward_tangent(const float* p, const float* v, int P, float* lambda, float* rg, int rgOn,
            //                             double alpha, int hOff, int D,
            //                             const float* z, const float* zT, const float* act, const float* aT,
            //                             const float* c, const float* cT, const float* dy, const float* dyT,
            //                             float* dx, float* dxT, int splits, float* partial, int* arrivals)
            ops.add(op(LSTM_BLOCK_BACKWARD_TANGENT, splits.gridX(), w.tasks,
                    p, w.direction, w.paramStride, adjoint.lambda(), adjoint.rg(), adjoint.rgOn(), adjoint.alpha(), hOff, dim,
                    z, zT, act, aT, c, cT, dy, dyT, dx, dxT, splits.count, splits.partial, splits.arrivals));
        }
    }

    private Launch add(long count, CUdeviceptr a, CUdeviceptr c, CUdeviceptr y) {
        // elementwise_add(int count, const float* a, const float* c, float* y)
        return op(ELEMENTWISE_ADD, blocks(count, ELEMENTWISE_ADD.blockX()), 1, Math.toIntExact(count), a, c, y);
    }

    /** The output (or its tangent) of a chain of nodes fed with input: the input itself for an empty chain. */
    private static CUdeviceptr chainOut(Node[] chain, CUdeviceptr input, boolean tangent) {
        if (chain.length == 0) return input;
        Node last = chain[chain.length - 1];
        return tangent ? last.yT : last.y;
    }

    /** A node around a chain of inner layers fed with its own input (residual and gated_residual). */
    private abstract class ChainNode extends Node {
        final Node[] inner;

        ChainNode(String prefix, List<LayerSpec> layers, int dim, CUdeviceptr x, CUdeviceptr xT) {
            super(dim, dim, x, xT);
            inner = chain(layers, prefix, dim, x, xT);
        }

        /** The inner chain's output: the input itself when the chain is empty. */
        CUdeviceptr innerOut() {
            return chainOut(inner, x, false);
        }

        CUdeviceptr innerOutT() {
            return chainOut(inner, xT, true);
        }
    }

    private final class ResidualNode extends ChainNode {
        ResidualNode(String prefix, List<LayerSpec> layers, int dim, CUdeviceptr x, CUdeviceptr xT) {
            super(prefix, layers, dim, x, xT);
            y = floats(dim);
            dx = floats(dim);
            yT = tangentFloats(dim);
            dxT = tangentFloats(dim);
        }

        void forward(List<Launch> ops, boolean tangent) {
            for (Node n : inner) n.forward(ops, tangent);
            ops.add(add((long) w.tasks * in, innerOut(), x, y));
            if (tangent) ops.add(add((long) w.tasks * in, innerOutT(), xT, yT));
        }

        void backward(List<Launch> ops, CUdeviceptr dy, Update u) {
            CUdeviceptr innerDx = chainBackward(inner, ops, dy, u);
            ops.add(add((long) w.tasks * in, innerDx, dy, dx));
        }

        void backwardTangent(List<Launch> ops, CUdeviceptr dy, CUdeviceptr dyT) {
            CUdeviceptr[] innerDx = chainBackwardTangent(inner, ops, dy, dyT);
            ops.add(add((long) w.tasks * in, innerDx[0], dy, dx));
            ops.add(add((long) w.tasks * in, innerDx[1], dyT, dxT));
        }
    }

    private final class GatedResidualNode extends ChainNode {
        private final LinearNode gate;
        private final CUdeviceptr da, dgp, daT, dgpT;

        GatedResidualNode(String prefix, List<LayerSpec> layers, int dim, CUdeviceptr x, CUdeviceptr xT) {
            super(prefix, layers, dim, x, xT);
            gate = new LinearNode(prefix + ".weights", dim, dim, LIN_PLAIN, x, xT);
            y = floats(dim);
            da = floats(dim);
            dgp = floats(dim);
            dx = floats(dim);
            yT = tangentFloats(dim);
            daT = tangentFloats(dim);
            dgpT = tangentFloats(dim);
            dxT = tangentFloats(dim);
        }

        void forward(List<Launch> ops, boolean tangent) {
            for (Node n : inner) n.forward(ops, tangent);
            gate.forward(ops, tangent);
            // gate_mul_forward(int count, const float* a, const float* gp, float* y)
            long count = (long) w.tasks * in;
            ops.add(op(GATE_MUL_FORWARD, blocks(count, GATE_MUL_FORWARD.blockX()), 1, Math.toIntExact(count), innerOut(), gate.y, y));
            if (!tangent) return;
            // gate_mul_forward_tangent(int count, const float* a, const float* aT, const float* gp, const float* gpT, float* yT)
            ops.add(op(GATE_MUL_FORWARD_TANGENT, blocks(count, GATE_MUL_FORWARD_TANGENT.blockX()), 1, Math.toIntExact(count),
                    innerOut(), innerOutT(), gate.y, gate.yT, yT));
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

        void backwardTangent(List<Launch> ops, CUdeviceptr dy, CUdeviceptr dyT) {
            long count = (long) w.tasks * in;
            // gate_mul_backward_tangent(int count, const float* a, const float* aT, const float* gp, const float* gpT,
            //                           const float* dy, const float* dyT, float* da, float* daT, float* dgp, float* dgpT)
            ops.add(op(GATE_MUL_BACKWARD_TANGENT, blocks(count, GATE_MUL_BACKWARD_TANGENT.blockX()), 1, Math.toIntExact(count),
                    innerOut(), innerOutT(), gate.y, gate.yT, dy, dyT, da, daT, dgp, dgpT));
            CUdeviceptr[] innerDx = chainBackwardTangent(inner, ops, da, daT);
            gate.backwardTangent(ops, dgp, dgpT);
            ops.add(add(count, innerDx[0], gate.dx, dx));
            ops.add(add(count, innerDx[1], gate.dxT, dxT));
        }
    }
}
