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
     * Learned inner learning rates, else null: the rate of every parameter element [P], one step's
     * gradient sums gs [B x P] (the fused updates add into them, rated_step applies them), FOMAML's
     * sums of squared gradients q [B x P], MAML's rate-gradient rows rateGrad [B x P] and its tangent
     * direction rates * lambda [B x P] (for a fixed rate the direction is lambda itself), and the mean
     * over tasks of the rates' gradient rateMean [P] doubles.
     */
    final CUdeviceptr rates, gs, q, rateGrad, direction, rateMean;
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

    private Workspace(Device dev, CUdeviceptr base, ModelSpec spec, int tasks, int steps, boolean accumulates,
                      int segment, boolean rated, PlanOptions options, Launch.Functions fns) {
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
        params = arena.floats(bp);
        acc = accumulates ? arena.floats(bp) : null;
        xs = arena.ints((long) steps * tasks * spec.task().inputDim);
        ys = arena.ints((long) steps * tasks);
        step = arena.ints(1);
        nll = arena.doubles(tasks);
        streams = arena.longs(tasks);
        done = arena.ints(tasks);
        out = arena.ints((long) tasks * steps);
        checkpointRows = new CUdeviceptr[checkpoints];
        for (int i = 0; i < checkpoints; i++) checkpointRows[i] = arena.floats(bp);
        states = new CUdeviceptr[segment];
        for (int i = 0; i < segment; i++) states[i] = arena.floats(bp);
        lambda = segment > 0 ? arena.floats(bp) : null;
        nllScratch = segment > 0 ? arena.doubles(tasks) : null;
        rates = rated ? arena.floats(paramCount) : null;
        gs = rated ? arena.floats(bp) : null;
        q = rated && accumulates ? arena.floats(bp) : null;
        rateGrad = rated && segment > 0 ? arena.floats(bp) : null;
        direction = rated && segment > 0 ? arena.floats(bp) : lambda;
        rateMean = rated ? arena.doubles(paramCount) : null;
        plan = new StepPlan(spec, this, fns);
    }


    /** Bytes a workspace of this shape takes. Builds the whole plan against placeholders, so it also checks every launch. */
    static long measure(ModelSpec spec, int tasks, int steps, boolean accumulates) {
        return measure(spec, tasks, steps, accumulates, 0);
    }

    /** As {@link #measure(ModelSpec, int, int, boolean)} with MAML's buffers for segment length K (0: none). */
    static long measure(ModelSpec spec, int tasks, int steps, boolean accumulates, int segment) {
        return measure(spec, tasks, steps, accumulates, segment, false);
    }

    /** With the buffers of learned inner learning rates when rated. */
    static long measure(ModelSpec spec, int tasks, int steps, boolean accumulates, int segment, boolean rated) {
        return measure(spec, tasks, steps, accumulates, segment, rated, PlanOptions.DEFAULT);
    }

    /** Laid out with these options (the row splits' scratch, the layernorm tails' counts). */
    static long measure(ModelSpec spec, int tasks, int steps, boolean accumulates, int segment, boolean rated,
                        PlanOptions options) {
        return new Workspace(null, null, spec, tasks, steps, accumulates, segment, rated, options, sig -> null).arena.used();
    }

    /** A workspace of placeholders: nothing allocated, nothing launchable, every launch argument checked. */
    static Workspace measuring(ModelSpec spec, int tasks, int steps, boolean accumulates) {
        return measuring(spec, tasks, steps, accumulates, 0);
    }

    static Workspace measuring(ModelSpec spec, int tasks, int steps, boolean accumulates, int segment) {
        return measuring(spec, tasks, steps, accumulates, segment, PlanOptions.DEFAULT);
    }

    static Workspace measuring(ModelSpec spec, int tasks, int steps, boolean accumulates, int segment, PlanOptions options) {
        return new Workspace(null, null, spec, tasks, steps, accumulates, segment, false, options, sig -> null);
    }

    /**
     * A workspace laid out from base with no device behind it: its launches carry real pointers but
     * cannot run here. For replaying a plan on something else than a GPU (the kernel emulation test).
     */
    static Workspace at(CUdeviceptr base, ModelSpec spec, int tasks, int steps, boolean accumulates) {
        return at(base, spec, tasks, steps, accumulates, 0);
    }

    static Workspace at(CUdeviceptr base, ModelSpec spec, int tasks, int steps, boolean accumulates, int segment) {
        return at(base, spec, tasks, steps, accumulates, segment, false);
    }

    static Workspace at(CUdeviceptr base, ModelSpec spec, int tasks, int steps, boolean accumulates, int segment, boolean rated) {
        return at(base, spec, tasks, steps, accumulates, segment, rated, PlanOptions.DEFAULT);
    }

    static Workspace at(CUdeviceptr base, ModelSpec spec, int tasks, int steps, boolean accumulates, int segment, boolean rated,
                        PlanOptions options) {
        return new Workspace(null, base, spec, tasks, steps, accumulates, segment, rated, options, sig -> null);
    }

    static Workspace allocate(Device dev, ModelSpec spec, int tasks, int steps, boolean accumulates, int segment, boolean rated,
                              PlanOptions options) {
        long bytes = measure(spec, tasks, steps, accumulates, segment, rated, options);
        CUdeviceptr base = dev.alloc(bytes, "a batch of " + tasks + " tasks");
        try {
            Workspace ws = new Workspace(dev, base, spec, tasks, steps, accumulates, segment, rated, options, dev::function);
            ws.arena.uploadConstants(dev);
            return ws;
        } catch (RuntimeException e) {
            dev.free(base);
            throw e;
        }
    }

    /**
     * The update of the inner SGD step; with acc the gradients are also summed (FOMAML). With learned
     * rates the layers only sum the step's gradient into gs, and {@link #ratedStep} updates.
     */
    StepPlan.Update sgd(float alpha, boolean accumulate) {
        if (accumulate && acc == null) throw new IllegalStateException("this workspace has no gradient sums");
        if (rates != null) return new StepPlan.Update(0f, gs, 1);
        // Without accumulation the kernels never touch acc; they still get a valid pointer.
        return accumulate ? new StepPlan.Update(-alpha, acc, 1) : new StepPlan.Update(-alpha, params, 0);
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
            if (accumulatingStep == null) accumulatingStep = rated(plan.trainStep(sgd(alpha, true)), params, true);
            return accumulatingStep;
        }
        if (plainStep == null) plainStep = rated(plan.trainStep(sgd(alpha, false)), params, false);
        return plainStep;
    }

    /** A step's launches followed by the update with learned rates of the parameters at p; the launches alone without them. */
    List<Launch> rated(List<Launch> step, CUdeviceptr p, boolean accumulate) {
        if (rates == null) return step;
        List<Launch> ops = new java.util.ArrayList<>(step);
        ops.add(ratedStep(p, accumulate));
        return ops;
    }

    /** p -= rates * gs (gs then zero); accumulating, FOMAML's sums and squares too. */
    Launch ratedStep(CUdeviceptr p, boolean accumulate) {
        // rated_step(float* p, float* gs, const float* rates, float* acc, float* q, int accOn, int P, int S, int B)
        return Launch.of(fns, CudaKernels.RATED_STEP, Launch.blocks(paramCount, CudaKernels.RATED_STEP.blockX()), tasks,
                p, gs, rates, accumulate ? acc : p, accumulate ? q : p, accumulate ? 1 : 0, paramCount, paramStride, tasks);
    }

    /** Before a task loop: task copies from theta (and zero gradient sums when accumulating), step 0. */
    List<Launch> start(CUdeviceptr theta, boolean accumulate) {
        // tasks_from_theta(const float* theta, int P, int S, int B, float* p, float* acc, int accOn)
        Launch copies = Launch.of(fns, CudaKernels.TASKS_FROM_THETA, Launch.blocks(paramStride, CudaKernels.TASKS_FROM_THETA.blockX()),
                tasks, theta, paramCount, paramStride, tasks, params, accumulate ? acc : params, accumulate ? 1 : 0);
        // step_set(int* step, int value)
        Launch set = Launch.of(fns, CudaKernels.STEP_SET, 1, 1, step, 0);
        if (rates == null) return List.of(copies, set);
        List<Launch> ops = new java.util.ArrayList<>(List.of(copies, set));
        // rows_zero(float* dst, int P, int B)
        ops.add(rows(CudaKernels.ROWS_ZERO, gs, paramStride, tasks));
        if (accumulate) ops.add(rows(CudaKernels.ROWS_ZERO, q, paramStride, tasks));
        return ops;
    }

    /** After FOMAML's loop with learned rates: rateMean = the mean over tasks of the per-element rates' gradient. */
    Launch ratesFomamlMean() {
        // rates_fomaml_mean(const float* acc, const float* q, int P, int S, int B, double* gr)
        return Launch.of(fns, CudaKernels.RATES_FOMAML_MEAN, Launch.blocks(paramCount, CudaKernels.RATES_FOMAML_MEAN.blockX()), 1,
                acc, q, paramCount, paramStride, tasks, rateMean);
    }

    /** After MAML's reverse sweep with learned rates: rateMean = the mean over tasks of the rate-gradient rows. */
    Launch ratesMamlMean(CUdeviceptr theta) {
        // meta_gradient_mean(const float* rows, const float* theta, int reptile, int P, int S, int B, double* g)
        return Launch.of(fns, CudaKernels.META_GRADIENT_MEAN, Launch.blocks(paramCount, CudaKernels.META_GRADIENT_MEAN.blockX()), 1,
                rateGrad, theta, 0, paramCount, paramStride, tasks, rateMean);
    }

    /** After a task loop: g = theta - mean of the task copies (Reptile) or the mean of the gradient sums (FOMAML). */
    Launch metaGradientMean(CUdeviceptr theta, CUdeviceptr g, boolean fomaml) {
        // meta_gradient_mean(const float* rows, const float* theta, int reptile, int P, int S, int B, double* g)
        return Launch.of(fns, CudaKernels.META_GRADIENT_MEAN, Launch.blocks(paramCount, CudaKernels.META_GRADIENT_MEAN.blockX()), 1,
                fomaml ? acc : params, theta, fomaml ? 0 : 1, paramCount, paramStride, tasks, g);
    }

    /** The outer Adam step t on theta with the meta-gradient g (float64). */
    static Launch adamStep(Launch.Functions fns, int paramCount, CUdeviceptr theta, CUdeviceptr g, CUdeviceptr m,
                           CUdeviceptr v, org.reptilegen.core.Adam a, long t) {
        double bc1 = 1 - Math.pow(a.beta1(), t);
        double sqrtBc2 = Math.sqrt(1 - Math.pow(a.beta2(), t));
        // adam_step(float* theta, const double* g, float* m, float* v, int P, double beta1, double beta2, double eps,
        //           double stepSize, double sqrtBc2)
        return Launch.of(fns, CudaKernels.ADAM_STEP, Launch.blocks(paramCount, CudaKernels.ADAM_STEP.blockX()), 1,
                theta, g, m, v, paramCount, a.beta1(), a.beta2(), a.eps(), a.lr() / bc1, sqrtBc2);
    }

    // ---- MAML ----

    /** A one-thread-per-element launch over the [B x stride] rows (rows_copy, rows_zero). */
    private Launch rows(KernelSig sig, Object... args) {
        return Launch.of(fns, sig, Launch.blocks(paramStride, sig.blockX()), tasks, args);
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
        // rows_zero(float* dst, int P, int B)
        List<Launch> ops = new java.util.ArrayList<>(List.of(rows(CudaKernels.ROWS_ZERO, lambda, paramStride, tasks)));
        if (rateGrad != null) ops.add(rows(CudaKernels.ROWS_ZERO, rateGrad, paramStride, tasks));
        return ops;
    }

    /** In the forward inner loop, before step seg * K: the task copies into checkpoint seg. */
    Launch checkpoint(int seg) {
        needMaml();
        // rows_copy(const float* src, float* dst, int P, int B)
        return rows(CudaKernels.ROWS_COPY, params, checkpointRows[seg], paramStride, tasks);
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
        // rows_copy(const float* src, float* dst, int P, int B)
        return List.of(rows(CudaKernels.ROWS_COPY, checkpointRows[seg], states[0], paramStride, tasks),
                // step_set(int* step, int value)
                Launch.of(fns, CudaKernels.STEP_SET, 1, 1, step, seg * segment));
    }

    /**
     * A segment's body, the same launches for every segment of {@code length} steps (so it can be
     * recorded once and replayed): states[j] = one SGD step from states[j - 1] up to the segment's last
     * step, then for its steps from last to first the Hessian-vector step at that step's state and the
     * adjoint update. The plans per state slot are built once per learning rate.
     */
    List<Launch> mamlSegmentBody(int length, float alpha) {
        needMaml();
        if (length < 1 || length > segment) throw new IllegalArgumentException("a segment of " + length + " steps, K = " + segment);
        if (alpha != mamlAlpha) {
            recomputeSteps = new java.util.ArrayList<>();
            hvpSteps = new java.util.ArrayList<>();
            for (int j = 0; j < segment; j++) {
                // The recomputed losses go to scratch: the forward loop already counted them.
                StepPlan.Update u = rates != null ? new StepPlan.Update(0f, gs, 1) : new StepPlan.Update(-alpha, states[j], 0);
                recomputeSteps.add(j == 0 ? List.of() : rated(plan.trainStep(u, states[j], nllScratch), states[j], false));
                hvpSteps.add(plan.hvpStep(states[j], alpha));
            }
            mamlAlpha = alpha;
        }
        List<Launch> ops = new java.util.ArrayList<>();
        for (int j = 1; j < length; j++) {
            // rows_copy(const float* src, float* dst, int P, int B)
            ops.add(rows(CudaKernels.ROWS_COPY, states[j - 1], states[j], paramStride, tasks));
            ops.addAll(recomputeSteps.get(j));
        }
        // The recomputation leaves the counter at the segment's last step; each Hessian-vector step moves it back by one.
        for (int j = length - 1; j >= 0; j--) ops.addAll(hvpSteps.get(j));
        return ops;
    }

    /** After the reverse sweep: g = the mean over tasks of lambda_0. */
    Launch mamlMean(CUdeviceptr theta, CUdeviceptr g) {
        needMaml();
        // meta_gradient_mean(const float* rows, const float* theta, int reptile, int P, int S, int B, double* g)
        return Launch.of(fns, CudaKernels.META_GRADIENT_MEAN, Launch.blocks(paramCount, CudaKernels.META_GRADIENT_MEAN.blockX()), 1,
                lambda, theta, 0, paramCount, paramStride, tasks, g);
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
