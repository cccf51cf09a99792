package org.reptilegen.engine.cuda;

import java.util.List;
import jcuda.driver.CUdeviceptr;
import org.reptilegen.model.ModelSpec;

/**
 * Everything on the device that scales with the batch: the task copies [B x P], FOMAML's gradient
 * sums [B x P] (when asked for), the inputs and targets of every step [T x B], the losses, the
 * sampling state and the activations of one step. All of it is one allocation, measured first.
 */
final class Workspace implements AutoCloseable {
    final int tasks, steps, paramCount;
    final boolean accumulates;
    final Arena arena;
    /** [B x P] task copies; [B x P] gradient sums (FOMAML) or null. */
    final CUdeviceptr params, acc;
    /** xs [T x B x inDim] ints, ys [T x B] ints (-1: no step), the step counter, nll [B] doubles. */
    final CUdeviceptr xs, ys, step, nll;
    /** Sampling: each sample's random stream start [B] (64-bit), ended flags [B], drawn classes [B x T]. */
    final CUdeviceptr streams, done, out;
    final StepPlan plan;
    private final Launch.Functions fns;
    private final CUdeviceptr base;
    private final Device dev;

    private Workspace(Device dev, CUdeviceptr base, ModelSpec spec, int tasks, int steps, boolean accumulates,
                      Launch.Functions fns) {
        this.dev = dev;
        this.base = base;
        this.fns = fns;
        this.tasks = tasks;
        this.steps = steps;
        this.paramCount = spec.layout().size();
        this.accumulates = accumulates;
        this.arena = base == null ? Arena.measuring() : Arena.over(base);
        long bp = (long) tasks * paramCount;
        params = arena.floats(bp);
        acc = accumulates ? arena.floats(bp) : null;
        xs = arena.ints((long) steps * tasks * spec.task().inputDim);
        ys = arena.ints((long) steps * tasks);
        step = arena.ints(1);
        nll = arena.doubles(tasks);
        streams = arena.longs(tasks);
        done = arena.ints(tasks);
        out = arena.ints((long) tasks * steps);
        plan = new StepPlan(spec, this, fns);
    }

    /** Bytes a workspace of this shape takes. Builds the whole plan against placeholders, so it also checks every launch. */
    static long measure(ModelSpec spec, int tasks, int steps, boolean accumulates) {
        return measuring(spec, tasks, steps, accumulates).arena.used();
    }

    /** A workspace of placeholders: nothing allocated, nothing launchable, every launch argument checked. */
    static Workspace measuring(ModelSpec spec, int tasks, int steps, boolean accumulates) {
        return new Workspace(null, null, spec, tasks, steps, accumulates, sig -> null);
    }

    /**
     * A workspace laid out from base with no device behind it: its launches carry real pointers but
     * cannot run here. For replaying a plan on something else than a GPU (the kernel emulation test).
     */
    static Workspace at(CUdeviceptr base, ModelSpec spec, int tasks, int steps, boolean accumulates) {
        return new Workspace(null, base, spec, tasks, steps, accumulates, sig -> null);
    }

    static Workspace allocate(Device dev, ModelSpec spec, int tasks, int steps, boolean accumulates) {
        long bytes = measure(spec, tasks, steps, accumulates);
        CUdeviceptr base = dev.alloc(bytes, "a batch of " + tasks + " tasks");
        try {
            Workspace ws = new Workspace(dev, base, spec, tasks, steps, accumulates, dev::function);
            ws.arena.uploadConstants(dev);
            return ws;
        } catch (RuntimeException e) {
            dev.free(base);
            throw e;
        }
    }

    /** The update of the inner SGD step; with acc the gradients are also summed (FOMAML). */
    StepPlan.Update sgd(float alpha, boolean accumulate) {
        if (accumulate && acc == null) throw new IllegalStateException("this workspace has no gradient sums");
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
            if (accumulatingStep == null) accumulatingStep = plan.trainStep(sgd(alpha, true));
            return accumulatingStep;
        }
        if (plainStep == null) plainStep = plan.trainStep(sgd(alpha, false));
        return plainStep;
    }

    /** Before a task loop: task copies from theta (and zero gradient sums when accumulating), step 0. */
    List<Launch> start(CUdeviceptr theta, boolean accumulate) {
        // tasks_from_theta(const float* theta, int P, int B, float* p, float* acc, int accOn)
        Launch copies = Launch.of(fns, CudaKernels.TASKS_FROM_THETA, Launch.blocks(paramCount, CudaKernels.TASKS_FROM_THETA.blockX()),
                tasks, theta, paramCount, tasks, params, accumulate ? acc : params, accumulate ? 1 : 0);
        // step_set(int* step, int value)
        return List.of(copies, Launch.of(fns, CudaKernels.STEP_SET, 1, 1, step, 0));
    }

    /** After a task loop: g = theta - mean of the task copies (Reptile) or the mean of the gradient sums (FOMAML). */
    Launch metaGradientMean(CUdeviceptr theta, CUdeviceptr g, boolean fomaml) {
        // meta_gradient_mean(const float* rows, const float* theta, int reptile, int P, int B, double* g)
        return Launch.of(fns, CudaKernels.META_GRADIENT_MEAN, Launch.blocks(paramCount, CudaKernels.META_GRADIENT_MEAN.blockX()), 1,
                fomaml ? acc : params, theta, fomaml ? 0 : 1, paramCount, tasks, g);
    }

    /** The outer Adam step t on theta with the meta-gradient g (float64). */
    static Launch adamStep(Launch.Functions fns, int paramCount, CUdeviceptr theta, CUdeviceptr g, CUdeviceptr m,
                           CUdeviceptr v, org.reptilegen.meta.Adam a, long t) {
        double bc1 = 1 - Math.pow(a.beta1(), t);
        double sqrtBc2 = Math.sqrt(1 - Math.pow(a.beta2(), t));
        // adam_step(float* theta, const double* g, float* m, float* v, int P, double beta1, double beta2, double eps,
        //           double stepSize, double sqrtBc2)
        return Launch.of(fns, CudaKernels.ADAM_STEP, Launch.blocks(paramCount, CudaKernels.ADAM_STEP.blockX()), 1,
                theta, g, m, v, paramCount, a.beta1(), a.beta2(), a.eps(), a.lr() / bc1, sqrtBc2);
    }

    /** Bytes of the one allocation. */
    long bytes() {
        return arena.used();
    }

    @Override
    public void close() {
        if (base != null && dev != null) dev.free(base);
    }
}
