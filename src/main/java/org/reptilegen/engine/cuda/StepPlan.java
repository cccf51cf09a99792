package org.reptilegen.engine.cuda;

import static org.reptilegen.engine.cuda.CudaKernels.LIN_ACT;
import static org.reptilegen.engine.cuda.CudaKernels.LIN_PLAIN;
import static org.reptilegen.engine.cuda.CudaKernels.LIN_SINE;
import static org.reptilegen.engine.cuda.CudaKernels.LOSS_BCE;
import static org.reptilegen.engine.cuda.CudaKernels.LOSS_SOFTMAX;
import static org.reptilegen.engine.cuda.Launch.blocks;

import java.util.ArrayList;
import java.util.List;
import jcuda.driver.CUdeviceptr;
import org.reptilegen.model.LayerSpec;
import org.reptilegen.model.ModelSpec;
import org.reptilegen.model.TaskKind;

/**
 * The launches of one inner step of B tasks, laid out once per batch shape: the fusion pass turns the
 * model's layers into nodes (one class per layer family, {@link PlanNode}), and each step is then a
 * script over them, read top to bottom:
 * <ul>
 * <li>{@link #trainStep}: every node's forward, the loss with its gradient, every node's backward fused
 * with its update, and the step counter's advance;
 * <li>{@link #hvpStep}, MAML's Hessian-vector step: forward and tangent, the loss with its Hessian, and
 * backward and tangent with the adjoint update of each parameter element;
 * <li>{@link #sampleStep}: the forward, a draw from the logits, then the SGD step on the draw.
 * </ul>
 * A step is an immutable list of launches for an explicit {@link Target} (the rows it reads and updates,
 * where its losses go, the update or the adjoint). The step index lives on the device, so a list is the
 * same at every step and can be replayed as it is or captured once into a CUDA graph.
 * {@code reptile-gen info --plan} prints them.
 */
final class StepPlan {
    private final PlanContext c;
    private final TaskKind kind;
    private final PlanNode[] nodes;
    /** The model's output [B x L] and the loss gradient in it, and their tangents (MAML). */
    final CUdeviceptr logits, dlogits, logitsT, dlogitsT;
    /**
     * Whether the model's head forms the loss's gradient in its own backward (small layers folded): the
     * plain steps then have no loss launch.
     */
    private final boolean lossInHead;
    /**
     * Whether the first big layer's backward, the plain step's last launch, advances the step counter
     * itself (small layers folded): the plain steps then have no step_advance.
     */
    private final boolean advanceInLastLaunch;

    StepPlan(ModelSpec spec, Workspace w, Launch.Functions fns) {
        this.c = new PlanContext(w, fns, spec.layout());
        this.kind = spec.task();
        boolean fold = w.options.smallLayersFolded();
        nodes = new Fusion(c, fold).chain(spec.layers(), "", kind.inputDim, null, null);
        CUdeviceptr x = null, xT = null;
        int width = kind.inputDim;
        if (nodes.length > 0) {
            PlanNode last = nodes[nodes.length - 1];
            x = last.y;
            xT = last.yT;
            width = last.out;
        }
        if (width != kind.logits)
            throw new IllegalStateException("model ends with width " + width + ", not " + kind.logits);
        logits = x;
        logitsT = xT;
        dlogits = c.floats(width, "logits gradient");
        dlogitsT = c.tangentFloats(width, "logits gradient tangent");
        // The head's backward forms the loss; the first big layer's, last of the backward, advances the step.
        LinearNode head =
                nodes.length > 0 && nodes[nodes.length - 1] instanceof LinearNode l && l.mode == LIN_PLAIN ? l : null;
        lossInHead = fold && head != null;
        if (lossInHead) head.folded.loss = kind == TaskKind.MNIST ? LOSS_BCE : LOSS_SOFTMAX;
        // d2c and a folded embedding add no launch of their own to the backward.
        int first = 0;
        while (first < nodes.length
                && (nodes[first] instanceof D2cNode || nodes[first] instanceof EmbedNode e && e.folded)) first++;
        LinearNode last = first == nodes.length
                ? null
                : nodes[first] instanceof LinearNode l
                        ? l
                        : nodes[first] instanceof LinearGatedNode g ? g.linear : null;
        advanceInLastLaunch = fold && last != null;
        if (advanceInLastLaunch) last.folded.stepArrivals = c.zeroInts(1, last.name + ".step arrivals");
    }

    /** The row splits of the fused backward launches, first layer first, e.g. "1,3,3,1". */
    String splitCounts() {
        return String.join(",", c.splitCounts.stream().map(String::valueOf).toList());
    }

    // ---- the steps ----

    /** One inner SGD step of every task's parameters in the workspace's task copies. */
    List<Launch> trainStep(Target.Update u) {
        return trainStep(Target.step(c.w.params, c.w.nll, u));
    }

    /** One inner SGD step of the target's parameters, adding the losses to its losses [B]. */
    List<Launch> trainStep(Target t) {
        List<Launch> ops = new ArrayList<>();
        for (PlanNode n : nodes) n.forward(ops, t, false);
        backwardAndAdvance(ops, t);
        return List.copyOf(ops);
    }

    /**
     * One step of MAML's adjoint recursion at the parameters params (theta_t of every task) for step t of
     * the device counter: the forward and its tangent along v = lambda, the loss with its gradient and
     * Hessian in the logits, then the backward and its tangent, which form each parameter element's g_t
     * and H_t lambda and apply lambda = g_t + lambda - alpha H_t lambda to it at once, without touching
     * params; and the counter moved back to t - 1. With learned rates the direction is v = rates * lambda
     * and the adjoint update lambda = g_t + lambda - H_t v also adds -g_t * lambda into the rates'
     * gradient rows; alpha is then unused.
     */
    List<Launch> hvpStep(CUdeviceptr params, double alpha) {
        Workspace w = c.w;
        Target.Adjoint adjoint = w.innerLr != null
                ? new Target.Adjoint(w.lambda, w.lrGrad, 1, 1.0)
                : new Target.Adjoint(w.lambda, w.lambda, 0, alpha);
        Target t = Target.adjoint(params, w.nllScratch, adjoint);
        List<Launch> ops = new ArrayList<>();
        if (w.innerLr != null)
            ops.add(c.build(Kernels.mamlDirection()
                    .grid(blocks(w.paramCount, Kernels.MAML_DIRECTION.blockX()), w.tasks)
                    .lambda(w.lambda)
                    .innerLr(w.innerLr)
                    .v(w.direction)
                    .P(w.paramCount)
                    .S(w.paramStride)
                    .B(w.tasks)
                    .from("tangent direction")));
        for (PlanNode n : nodes) n.forward(ops, t, true);
        ops.add(lossTangent(t));
        chainBackwardTangent(nodes, ops, t, dlogits, dlogitsT);
        ops.add(c.build(Kernels.stepAdd().grid(1, 1).step(w.step).delta(-1).from("step back")));
        return List.copyOf(ops);
    }

    /** One sampling step: the forward, a draw of y_t from the logits, then the SGD step on it. */
    List<Launch> sampleStep(Target.Update u, double temperature, boolean stopAtZero) {
        Workspace w = c.w;
        Target t = Target.step(w.params, w.nll, u);
        List<Launch> ops = new ArrayList<>();
        for (PlanNode n : nodes) n.forward(ops, t, false);
        ops.add(c.build(Kernels.sampleDraw()
                .grid(w.tasks, 1)
                .B(w.tasks)
                .L(kind.logits)
                .temperature(temperature)
                .z(logits)
                .streams(w.streams)
                .stopAtZero(stopAtZero ? 1 : 0)
                .step(w.step)
                .steps(w.steps)
                .ys(w.ys)
                .done(w.done)
                .out(w.out)
                .from("draw")));
        backwardAndAdvance(ops, t);
        return List.copyOf(ops);
    }

    /** A plain step's launches after its forward: the loss, the backward with the update, the advance. */
    private void backwardAndAdvance(List<Launch> ops, Target t) {
        if (!lossInHead) ops.add(loss(t));
        chainBackward(nodes, ops, t, dlogits);
        if (!advanceInLastLaunch)
            ops.add(c.build(Kernels.stepAdvance().grid(1, 1).step(c.w.step).from("step advance")));
    }

    private Launch loss(Target t) {
        Workspace w = c.w;
        int b = w.tasks;
        if (kind == TaskKind.MNIST)
            return c.build(Kernels.bceLossGrad()
                    .grid(blocks(b, Kernels.BCE_LOSS_GRAD.blockX()), 1)
                    .B(b)
                    .z(logits)
                    .ys(w.ys)
                    .step(w.step)
                    .dz(dlogits)
                    .nll(t.losses())
                    .from("loss"));
        return c.build(Kernels.softmaxCeLossGrad()
                .grid(b, 1)
                .B(b)
                .L(kind.logits)
                .z(logits)
                .ys(w.ys)
                .step(w.step)
                .dz(dlogits)
                .nll(t.losses())
                .from("loss"));
    }

    private Launch lossTangent(Target t) {
        Workspace w = c.w;
        int b = w.tasks;
        if (kind == TaskKind.MNIST)
            return c.build(Kernels.bceLossGradTangent()
                    .grid(blocks(b, Kernels.BCE_LOSS_GRAD_TANGENT.blockX()), 1)
                    .B(b)
                    .z(logits)
                    .zT(logitsT)
                    .ys(w.ys)
                    .step(w.step)
                    .dz(dlogits)
                    .dzT(dlogitsT)
                    .nll(t.losses())
                    .from("loss and tangent"));
        return c.build(Kernels.softmaxCeLossGradTangent()
                .grid(b, 1)
                .B(b)
                .L(kind.logits)
                .z(logits)
                .zT(logitsT)
                .ys(w.ys)
                .step(w.step)
                .dz(dlogits)
                .dzT(dlogitsT)
                .nll(t.losses())
                .from("loss and tangent"));
    }

    // ---- helpers the nodes share ----

    /** y = a + b over [B x width] (residual adds). */
    static Launch add(PlanContext c, int width, CUdeviceptr a, CUdeviceptr b, CUdeviceptr y, String what) {
        long count = (long) c.w.tasks * width;
        return c.build(Kernels.elementwiseAdd()
                .grid(blocks(count, Kernels.ELEMENTWISE_ADD.blockX()), 1)
                .count(Math.toIntExact(count))
                .a(a)
                .c(b)
                .y(y)
                .from(what));
    }

    /** rows = 0 over [B x width]. */
    static Launch zero(PlanContext c, CUdeviceptr rows, int width, String what) {
        return c.build(Kernels.rowsZero()
                .grid(blocks(width, Kernels.ROWS_ZERO.blockX()), c.w.tasks)
                .dst(rows)
                .P(width)
                .B(c.w.tasks)
                .from(what));
    }

    /** The output (or its tangent) of a chain of nodes fed with input: the input itself for an empty chain. */
    static CUdeviceptr chainOut(PlanNode[] chain, CUdeviceptr input, boolean tangent) {
        if (chain.length == 0) return input;
        PlanNode last = chain[chain.length - 1];
        return tangent ? last.yT : last.y;
    }

    /** Backward through a chain from dy; returns the chain's input gradient (dy itself for an empty chain). */
    static CUdeviceptr chainBackward(PlanNode[] chain, List<Launch> ops, Target t, CUdeviceptr dy) {
        for (int j = chain.length - 1; j >= 0; j--) {
            chain[j].backward(ops, t, dy);
            dy = chain[j].dx;
        }
        return dy;
    }

    /** As chainBackward with tangents: returns {dx, dxT} of the chain's input ({dy, dyT} for an empty chain). */
    static CUdeviceptr[] chainBackwardTangent(
            PlanNode[] chain, List<Launch> ops, Target t, CUdeviceptr dy, CUdeviceptr dyT) {
        for (int j = chain.length - 1; j >= 0; j--) {
            chain[j].backwardTangent(ops, t, dy, dyT);
            dy = chain[j].dx;
            dyT = chain[j].dxT;
        }
        return new CUdeviceptr[] {dy, dyT};
    }

    // ---- the fusion pass ----

    /**
     * Turns a list of layers into nodes. A linear followed by gated, relu, tanh or sigmoid becomes one node,
     * whose kernels apply the activation (one launch and one trip of the activations through memory less
     * each way); after anything else they keep their own kernels. With small layers folded, each chain's
     * small layers then run inside the kernels of the big ones next to them (mnist-lstm: 18 launches to 8
     * with the loss and the step counter's advance, which the plan folds into the head's and the first
     * linear's backward; kernels/README.md):
     * <ul>
     * <li>a layernorm's forward into the linear or lstm_block before it, which runs it in the last of each
     * task's blocks once the task's output is complete, and its backward into the one after it, once that
     * layer's input gradient is (layernorm.cuh's tails);
     * <li>an embedding into the linear after it, whose forward reads its input from the tables and whose
     * backward applies each input gradient element to the table element it came from.
     * </ul>
     * Only neighbours within one chain pair up, so the small layer's output and input gradient have no other
     * reader. MAML's Hessian-vector step keeps the small layers' own kernels for its tangents.
     */
    static final class Fusion {
        private final PlanContext c;
        private final boolean fold;

        Fusion(PlanContext c, boolean fold) {
            this.c = c;
            this.fold = fold;
        }

        /** The nodes of a list of layers (prefix "" for the model's top level). */
        PlanNode[] chain(List<LayerSpec> specs, String prefix, int in, CUdeviceptr x, CUdeviceptr xT) {
            List<PlanNode> out = new ArrayList<>();
            for (int j = 0; j < specs.size(); j++) {
                String name = LayerSpec.child(prefix, j);
                PlanNode n;
                LayerSpec next = j + 1 < specs.size() ? specs.get(j + 1) : null;
                if (specs.get(j) instanceof LayerSpec.Linear l && next instanceof LayerSpec.Gated) {
                    n = new LinearGatedNode(c, name, l.in(), l.out(), x, xT);
                    j++;
                } else if (specs.get(j) instanceof LayerSpec.Linear l && next instanceof LayerSpec.Activation a) {
                    n = new LinearNode(c, name, l.in(), l.out(), LIN_ACT + ActivationNode.kind(a.kind()), x, xT);
                    j++;
                } else {
                    n = node(specs.get(j), name, in, x, xT);
                }
                out.add(n);
                x = n.y;
                xT = n.yT;
                in = n.out;
            }
            if (fold) foldSmallLayers(out);
            return out.toArray(new PlanNode[0]);
        }

        private PlanNode node(LayerSpec spec, String name, int in, CUdeviceptr x, CUdeviceptr xT) {
            if (spec instanceof LayerSpec.Embed e) return new EmbedNode(c, e, name);
            if (spec instanceof LayerSpec.D2c d) return new D2cNode(c, name, in, d.n());
            if (spec instanceof LayerSpec.Linear l) return new LinearNode(c, name, l.in(), l.out(), LIN_PLAIN, x, xT);
            if (spec instanceof LayerSpec.Siren s) return new LinearNode(c, name, s.in(), s.out(), LIN_SINE, x, xT);
            if (spec instanceof LayerSpec.Activation a) return new ActivationNode(c, name, a.kind(), in, x, xT);
            if (spec instanceof LayerSpec.Gated) return new GatedNode(c, name, in, x, xT);
            if (spec instanceof LayerSpec.LayerNorm n) return new LayerNormNode(c, name, n.dim(), x, xT);
            if (spec instanceof LayerSpec.LstmBlock l) return new LstmNode(c, name, l.dim(), x, xT);
            if (spec instanceof LayerSpec.Residual r) return new ResidualNode(c, this, name, r.layers(), in, x, xT);
            if (spec instanceof LayerSpec.GatedResidual g)
                return new GatedResidualNode(c, this, name, g.layers(), g.in(), x, xT);
            throw new IllegalArgumentException("no cuda layer for " + spec.type());
        }

        private void foldSmallLayers(List<PlanNode> chain) {
            for (int j = 0; j < chain.size(); j++) {
                FoldedNeighbours before = j > 0 ? foldedOf(chain.get(j - 1)) : null;
                FoldedNeighbours after = j + 1 < chain.size() ? foldedOf(chain.get(j + 1)) : null;
                if (chain.get(j) instanceof EmbedNode e
                        && after != null
                        && after.linear
                        && e.out <= CudaKernels.LINEAR_EMBED_MAX) {
                    after.input = e;
                    e.folded = true;
                }
                if (!(chain.get(j) instanceof LayerNormNode ln)) continue;
                if (before != null) {
                    before.after = ln;
                    before.afterArrivals = c.zeroInts(c.w.tasks, ln.name + ".forward tail arrivals");
                    ln.forwardFolded = true;
                }
                if (after != null) {
                    after.before = ln;
                    after.beforeArrivals = c.zeroInts(c.w.tasks, ln.name + ".backward tail arrivals");
                    ln.backwardFolded = true;
                }
            }
        }

        /** What a node whose plain kernels take small layers in (linear, gated linear, lstm_block) holds, or null. */
        private static FoldedNeighbours foldedOf(PlanNode n) {
            if (n instanceof LinearNode l) return l.folded;
            if (n instanceof LinearGatedNode g) return g.linear.folded;
            if (n instanceof LstmNode l) return l.folded;
            return null;
        }
    }
}
