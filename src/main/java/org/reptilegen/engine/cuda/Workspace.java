package org.reptilegen.engine.cuda;

import java.util.List;
import jcuda.driver.CUdeviceptr;
import org.reptilegen.model.ModelSpec;

/**
 * Everything on the device that scales with the batch: the task copies [B x P], FOMAML's gradient
 * sums [B x P] (when asked for), MAML's checkpoints and work rows (when asked for), the inputs and
 * targets of every step [T x B], the losses, the sampling state and the activations of one step. All
 * of it is one allocation, measured first.
 *
 * <p>MAML with segment length K over T steps keeps ceil(T / K) checkpoints of the [B x P] task copies
 * (theta_t for t = 0, K, 2K, ...), K states [B x P] of the segment being recomputed, and the adjoint
 * lambda [B x P]: the backward tangent kernels update it in place, so a step's gradient and
 * Hessian-vector product never need rows of their own.
 */
final class Workspace implements AutoCloseable {
    final int tasks, steps, paramCount;
    /**
     * Floats per task in every [B x P] buffer: the parameter count rounded up to 32, so each task's row
     * starts on a 128-byte boundary (the padding is zero in the task copies and read by no layer).
     */
    final int paramStride;

    final boolean accumulates;
    /** MAML's segment length K, 0 without MAML's buffers; the number of checkpoints, ceil(steps / K). */
    final int segment, checkpoints;
    /** MAML: checkpoints and segment states (arrays of [B x P] rows), the adjoint lambda, or null. */
    final CUdeviceptr[] checkpointRows, states;

    final CUdeviceptr lambda;
    /**
     * Learned inner learning rates, else null: the rate of every parameter element innerLr [P], one
     * step's gradient sums stepGrad [B x P] (the fused updates add into them, inner_lr_update applies
     * them), FOMAML's sums of squared gradients gradSquares [B x P], MAML's rows of the rates' gradient
     * lrGrad [B x P] and its tangent direction innerLr * lambda [B x P] (for a fixed rate the direction
     * is lambda itself), and the mean over tasks of the rates' gradient lrGradMean [P] doubles.
     */
    final CUdeviceptr innerLr, stepGrad, gradSquares, lrGrad, direction, lrGradMean;
    /** [B] doubles for the losses of recomputed steps, which must not count twice. */
    final CUdeviceptr nllScratch;

    final Arena arena;
    /** [B x P] task copies; [B x P] gradient sums (FOMAML) or null. */
    final CUdeviceptr params, acc;
    /** xs [T x B x inDim] ints, ys [T x B] ints (-1: no step), the step counter, nll [B] doubles. */
    final CUdeviceptr xs, ys, step, nll;
    /** Sampling: each sample's random stream start [B] (64-bit), ended flags [B], drawn classes [B x T]. */
    final CUdeviceptr streams, done, out;

    final StepPlan plan;
    /** How the plan's launches are laid out: the fused backward launches' row splits, the layernorm tails. */
    final PlanOptions options;

    private final Launch.Functions fns;
    private final CUdeviceptr base;
    private final Device dev;

    private Workspace(Device dev, CUdeviceptr base, Shape shape, Launch.Functions fns) {
        ModelSpec spec = shape.spec();
        int tasks = shape.tasks(), steps = shape.steps(), segment = shape.segment();
        boolean accumulates = shape.accumulates(), rated = shape.learnedLr();
        PlanOptions options = shape.options();
        this.dev = dev;
        this.options = options;
        this.base = base;
        this.fns = fns;
        this.tasks = tasks;
        this.steps = steps;
        this.paramCount = spec.layout().size();
        this.paramStride = strideFor(paramCount);
        this.accumulates = accumulates;
        if (segment < 0 || segment > Math.max(steps, 1))
            throw new IllegalArgumentException("segment " + segment + " for " + steps + " steps");
        this.segment = segment;
        this.checkpoints = segment == 0 ? 0 : (Math.max(steps, 1) + segment - 1) / segment;
        this.arena = base == null ? Arena.measuring() : Arena.over(base);
        long bp = (long) tasks * paramStride;
        params = arena.floats(bp, "task parameters");
        acc = accumulates ? arena.floats(bp, "gradient sums") : null;
        xs = arena.ints((long) steps * tasks * spec.task().inputDim, "inputs");
        ys = arena.ints((long) steps * tasks, "targets");
        step = arena.ints(1, "step counter");
        nll = arena.doubles(tasks, "losses");
        streams = arena.longs(tasks, "sample streams");
        done = arena.ints(tasks, "samples ended");
        out = arena.ints((long) tasks * steps, "samples drawn");
        checkpointRows = new CUdeviceptr[checkpoints];
        for (int i = 0; i < checkpoints; i++) checkpointRows[i] = arena.floats(bp, "checkpoint " + i);
        states = new CUdeviceptr[segment];
        for (int i = 0; i < segment; i++) states[i] = arena.floats(bp, "segment state " + i);
        lambda = segment > 0 ? arena.floats(bp, "adjoint lambda") : null;
        nllScratch = segment > 0 ? arena.doubles(tasks, "recomputed losses") : null;
        innerLr = rated ? arena.floats(paramCount, "inner learning rates") : null;
        stepGrad = rated ? arena.floats(bp, "step gradient sums") : null;
        gradSquares = rated && accumulates ? arena.floats(bp, "squared gradient sums") : null;
        lrGrad = rated && segment > 0 ? arena.floats(bp, "inner lr gradient rows") : null;
        direction = rated && segment > 0 ? arena.floats(bp, "tangent direction") : lambda;
        lrGradMean = rated ? arena.doubles(paramCount, "inner lr gradient mean") : null;
        plan = new StepPlan(spec, this, fns);
    }

    /** The shape of a workspace for B tasks of T steps: no gradient sums, no MAML buffers, fixed rates, default layout. */
    static Shape shape(ModelSpec spec, int tasks, int steps) {
        return new Shape(spec, tasks, steps, false, 0, false, PlanOptions.DEFAULT);
    }

    /**
     * What a workspace holds: B tasks of T steps, FOMAML's gradient sums (accumulates), MAML's buffers
     * for segments of K steps (0: none), learned inner learning rates' buffers (learnedLr), laid out with options. From a
     * shape come its size, a workspace of placeholders, one laid out at a given base, or one on a device.
     */
    record Shape(
            ModelSpec spec,
            int tasks,
            int steps,
            boolean accumulates,
            int segment,
            boolean learnedLr,
            PlanOptions options) {
        Shape accumulating(boolean on) {
            return new Shape(spec, tasks, steps, on, segment, learnedLr, options);
        }

        Shape maml(int k) {
            return new Shape(spec, tasks, steps, accumulates, k, learnedLr, options);
        }

        Shape learnedLr(boolean on) {
            return new Shape(spec, tasks, steps, accumulates, segment, on, options);
        }

        Shape options(PlanOptions o) {
            return new Shape(spec, tasks, steps, accumulates, segment, learnedLr, o);
        }

        /** Bytes a workspace of this shape takes. Builds the whole plan against placeholders, so it also checks every launch. */
        long bytes() {
            return measuring().arena.used();
        }

        /** A workspace of placeholders: nothing allocated, nothing launchable, every launch argument checked. */
        Workspace measuring() {
            return new Workspace(null, null, this, sig -> null);
        }

        /**
         * A workspace laid out from base with no device behind it: its launches carry real pointers but
         * cannot run here (for comparing the launches of two layouts).
         */
        Workspace at(CUdeviceptr base) {
            return new Workspace(null, base, this, sig -> null);
        }

        /**
         * The workspace in one allocation of bytes (this shape's {@link #bytes()}, which the caller has
         * measured to check free memory) on the device, its constant tables uploaded.
         */
        Workspace allocate(Device dev, long bytes) {
            CUdeviceptr base = dev.alloc(bytes, "a batch of " + tasks + " tasks");
            try {
                Workspace ws = new Workspace(dev, base, this, dev::function);
                ws.arena.uploadConstants(dev);
                return ws;
            } catch (RuntimeException e) {
                dev.free(base);
                throw e;
            }
        }
    }

    /**
     * The update of the inner SGD step; with acc the gradients are also summed (FOMAML). With learned
     * rates the layers only sum the step's gradient into stepGrad, and {@link #innerLrUpdate} updates.
     */
    Target.Update sgd(float alpha, boolean accumulate) {
        if (accumulate && acc == null) throw new IllegalStateException("this workspace has no gradient sums");
        if (innerLr != null) return new Target.Update(0f, stepGrad, 1);
        // Without accumulation the kernels never touch acc; they still get a valid pointer.
        return accumulate ? new Target.Update(-alpha, acc, 1) : new Target.Update(-alpha, params, 0);
    }

    private List<Launch> plainStep, accumulatingStep;
    private float stepAlpha = Float.NaN;

    /** The launches of one inner SGD step, built once per learning rate and mode. */
    List<Launch> trainStep(float alpha, boolean accumulate) {
        if (alpha != stepAlpha) {
            plainStep = null;
            accumulatingStep = null;
            stepAlpha = alpha;
        }
        if (accumulate) {
            if (accumulatingStep == null)
                accumulatingStep = withLearnedLr(plan.trainStep(sgd(alpha, true)), params, true);
            return accumulatingStep;
        }
        if (plainStep == null) plainStep = withLearnedLr(plan.trainStep(sgd(alpha, false)), params, false);
        return plainStep;
    }

    /** A step's launches followed by the update with learned rates of the parameters at p; the launches alone without them. */
    List<Launch> withLearnedLr(List<Launch> step, CUdeviceptr p, boolean accumulate) {
        if (innerLr == null) return step;
        List<Launch> ops = new java.util.ArrayList<>(step);
        ops.add(innerLrUpdate(p, accumulate));
        return List.copyOf(ops);
    }

    /** p -= innerLr * stepGrad (stepGrad then zero); accumulating, FOMAML's sums and squares too. */
    Launch innerLrUpdate(CUdeviceptr p, boolean accumulate) {
        return Kernels.innerLrUpdate()
                .grid(Launch.blocks(paramCount, Kernels.INNER_LR_UPDATE.blockX()), tasks)
                .p(p)
                .stepGrad(stepGrad)
                .innerLr(innerLr)
                .acc(accumulate ? acc : p)
                .gradSquares(accumulate ? gradSquares : p)
                .accOn(accumulate ? 1 : 0)
                .P(paramCount)
                .S(paramStride)
                .B(tasks)
                .from("learned-rate update")
                .build(fns);
    }

    /** Before a task loop: task copies from theta (and zero gradient sums when accumulating), step 0. */
    List<Launch> start(CUdeviceptr theta, boolean accumulate) {
        Launch copies = Kernels.tasksFromTheta()
                .grid(Launch.blocks(paramStride, Kernels.TASKS_FROM_THETA.blockX()), tasks)
                .theta(theta)
                .P(paramCount)
                .S(paramStride)
                .B(tasks)
                .p(params)
                .acc(accumulate ? acc : params)
                .accOn(accumulate ? 1 : 0)
                .from("task copies")
                .build(fns);
        Launch set = stepSet(0);
        if (innerLr == null) return List.of(copies, set);
        List<Launch> ops = new java.util.ArrayList<>(List.of(copies, set));
        ops.add(zeroRows(stepGrad, "zero step gradient sums"));
        if (accumulate) ops.add(zeroRows(gradSquares, "zero squared gradient sums"));
        return List.copyOf(ops);
    }

    /** After FOMAML's loop with learned rates: lrGradMean = the mean over tasks of the per-element rates' gradient. */
    Launch innerLrFomamlGrad() {
        return Kernels.innerLrFomamlGrad()
                .grid(Launch.blocks(paramCount, Kernels.INNER_LR_FOMAML_GRAD.blockX()), 1)
                .acc(acc)
                .gradSquares(gradSquares)
                .P(paramCount)
                .S(paramStride)
                .B(tasks)
                .lrGradMean(lrGradMean)
                .from("rates' gradient")
                .build(fns);
    }

    /** After MAML's reverse sweep with learned rates: lrGradMean = the mean over tasks of the rate-gradient rows. */
    Launch innerLrMamlGrad(CUdeviceptr theta) {
        return mean(lrGrad, theta, false, lrGradMean, "rates' gradient");
    }

    /** After a task loop: g = theta - mean of the task copies (Reptile) or the mean of the gradient sums (FOMAML). */
    Launch metaGradientMean(CUdeviceptr theta, CUdeviceptr g, boolean fomaml) {
        return mean(fomaml ? acc : params, theta, !fomaml, g, "meta-gradient");
    }

    /** g = the mean over tasks of rows, or of theta - rows (reptile). */
    private Launch mean(CUdeviceptr rows, CUdeviceptr theta, boolean reptile, CUdeviceptr g, String what) {
        return Kernels.metaGradientMean()
                .grid(Launch.blocks(paramCount, Kernels.META_GRADIENT_MEAN.blockX()), 1)
                .rows(rows)
                .theta(theta)
                .reptile(reptile ? 1 : 0)
                .P(paramCount)
                .S(paramStride)
                .B(tasks)
                .g(g)
                .from(what)
                .build(fns);
    }

    /** The outer Adam step t on theta with the meta-gradient g (float64). */
    static Launch adamUpdate(
            Launch.Functions fns,
            int paramCount,
            CUdeviceptr theta,
            CUdeviceptr g,
            CUdeviceptr m,
            CUdeviceptr v,
            org.reptilegen.core.Adam a,
            long t) {
        double bc1 = 1 - Math.pow(a.beta1(), t);
        double sqrtBc2 = Math.sqrt(1 - Math.pow(a.beta2(), t));
        return Kernels.adamUpdate()
                .grid(Launch.blocks(paramCount, Kernels.ADAM_UPDATE.blockX()), 1)
                .theta(theta)
                .g(g)
                .m(m)
                .v(v)
                .P(paramCount)
                .beta1(a.beta1())
                .beta2(a.beta2())
                .eps(a.eps())
                .lrCorrected(a.lr() / bc1)
                .sqrtBc2(sqrtBc2)
                .from("Adam step")
                .build(fns);
    }

    // ---- MAML ----

    /** dst = src over the [B x stride] rows. */
    private Launch copyRows(CUdeviceptr src, CUdeviceptr dst, String what) {
        return Kernels.rowsCopy()
                .grid(Launch.blocks(paramStride, Kernels.ROWS_COPY.blockX()), tasks)
                .src(src)
                .dst(dst)
                .P(paramStride)
                .B(tasks)
                .from(what)
                .build(fns);
    }

    /** dst = 0 over the [B x stride] rows. */
    private Launch zeroRows(CUdeviceptr dst, String what) {
        return Kernels.rowsZero()
                .grid(Launch.blocks(paramStride, Kernels.ROWS_ZERO.blockX()), tasks)
                .dst(dst)
                .P(paramStride)
                .B(tasks)
                .from(what)
                .build(fns);
    }

    private Launch stepSet(int value) {
        return Kernels.stepSet()
                .grid(1, 1)
                .step(step)
                .value(value)
                .from("step counter set")
                .build(fns);
    }

    /** Floats per task row for count parameters: count rounded up to 32 (128 bytes). */
    static int strideFor(int count) {
        return Math.addExact(count, 31) / 32 * 32;
    }

    private void needMaml() {
        if (segment == 0) throw new IllegalStateException("this workspace has no room for MAML");
    }

    /** Before MAML's reverse sweep: lambda_T = 0 (and the rates' gradient rows 0). */
    List<Launch> mamlStart() {
        needMaml();
        List<Launch> ops = new java.util.ArrayList<>(List.of(zeroRows(lambda, "lambda_T = 0")));
        if (lrGrad != null) ops.add(zeroRows(lrGrad, "zero rate gradient rows"));
        return List.copyOf(ops);
    }

    /** In the forward inner loop, before step seg * K: the task copies into checkpoint seg. */
    Launch checkpoint(int seg) {
        needMaml();
        return copyRows(params, checkpointRows[seg], "checkpoint " + seg);
    }

    private List<List<Launch>> recomputeSteps, hvpSteps;
    private double mamlAlpha = Double.NaN;

    /**
     * The reverse sweep over segment seg of a loop of {@code steps} steps: its entry, then its body.
     */
    List<Launch> mamlSegmentReverse(int seg, int steps, float alpha) {
        int start = seg * segment, end = Math.min(start + segment, steps);
        List<Launch> ops = new java.util.ArrayList<>(mamlSegmentEntry(seg));
        ops.addAll(mamlSegmentBody(end - start, alpha));
        return ops;
    }

    /** A segment's entry: states[0] from checkpoint seg, the step counter at the segment's first step. */
    List<Launch> mamlSegmentEntry(int seg) {
        needMaml();
        return List.of(
                copyRows(checkpointRows[seg], states[0], "segment " + seg + " from its checkpoint"),
                stepSet(seg * segment));
    }

    /**
     * A segment's body, the same launches for every segment of {@code length} steps (so it can be
     * recorded once and replayed): states[j] = one SGD step from states[j - 1] up to the segment's last
     * step, then for its steps from last to first the Hessian-vector step at that step's state and the
     * adjoint update. The plans per state slot are built once per learning rate.
     */
    List<Launch> mamlSegmentBody(int length, float alpha) {
        needMaml();
        if (length < 1 || length > segment)
            throw new IllegalArgumentException("a segment of " + length + " steps, K = " + segment);
        if (alpha != mamlAlpha) {
            recomputeSteps = new java.util.ArrayList<>();
            hvpSteps = new java.util.ArrayList<>();
            for (int j = 0; j < segment; j++) {
                // The recomputed losses go to scratch: the forward loop already counted them.
                Target.Update u =
                        innerLr != null ? new Target.Update(0f, stepGrad, 1) : new Target.Update(-alpha, states[j], 0);
                recomputeSteps.add(
                        j == 0
                                ? List.of()
                                : withLearnedLr(
                                        plan.trainStep(Target.step(states[j], nllScratch, u)), states[j], false));
                hvpSteps.add(plan.hvpStep(states[j], alpha));
            }
            mamlAlpha = alpha;
        }
        List<Launch> ops = new java.util.ArrayList<>();
        for (int j = 1; j < length; j++) {
            ops.add(copyRows(states[j - 1], states[j], "segment state " + j));
            ops.addAll(recomputeSteps.get(j));
        }
        // The recomputation leaves the counter at the segment's last step; each Hessian-vector step moves it back by
        // one.
        for (int j = length - 1; j >= 0; j--) ops.addAll(hvpSteps.get(j));
        return ops;
    }

    /** After the reverse sweep: g = the mean over tasks of lambda_0. */
    Launch mamlMean(CUdeviceptr theta, CUdeviceptr g) {
        needMaml();
        return mean(lambda, theta, false, g, "meta-gradient");
    }

    /** Bytes of the one allocation. */
    long bytes() {
        return arena.used();
    }

    /**
     * Graphs recorded against this workspace's buffers, by what they record. A recording holds the
     * launches' pointers, which stay valid as long as the workspace, and the launches read their step
     * from the device, so one recording serves every meta-step that reuses the workspace.
     */
    private final java.util.Map<Object, jcuda.driver.CUgraphExec> graphs = new java.util.HashMap<>();

    /**
     * The graph recorded under key, recorded by {@code record} the first time. A key must name the same
     * launches every time (a cached plan, or a plan's shape), or the cache would grow with each call.
     */
    jcuda.driver.CUgraphExec graph(Object key, Runnable record) {
        jcuda.driver.CUgraphExec exec = graphs.get(key);
        if (exec == null) {
            exec = dev.capture(record);
            graphs.put(key, exec);
        }
        return exec;
    }

    @Override
    public void close() {
        Cleanup c = new Cleanup();
        close(c);
        c.rethrow("freeing a batch's memory");
    }

    /** Frees the recorded graphs and the memory, each step attempted whatever the others do. */
    void close(Cleanup c) {
        if (dev != null) {
            for (jcuda.driver.CUgraphExec exec : graphs.values()) c.run(() -> dev.destroy(exec));
            graphs.clear();
        }
        if (base != null && dev != null) c.run(() -> dev.free(base));
    }
}
