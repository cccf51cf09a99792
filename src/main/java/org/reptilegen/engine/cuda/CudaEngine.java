package org.reptilegen.engine.cuda;

import java.util.List;
import jcuda.Pointer;
import jcuda.driver.CUdeviceptr;
import org.reptilegen.core.Algorithm;
import org.reptilegen.core.InnerLrLayout;
import org.reptilegen.core.MamlSegment;
import org.reptilegen.core.Precision;
import org.reptilegen.core.TaskBatch;
import org.reptilegen.core.TrainState;
import org.reptilegen.engine.Engine;
import org.reptilegen.engine.EngineSettings;
import org.reptilegen.engine.Tuning;
import org.reptilegen.model.ModelSpec;

/**
 * The CUDA engine: the same computation as the CPU engine, with all B tasks of a batch advancing
 * together on GPU 0, parameters in float32.
 *
 * <p>Resident on the device: theta and the outer Adam's moments, the meta-gradient (float64), and a
 * {@link Workspace} per batch shape with the [B x P] task copies, every step's inputs and targets
 * (uploaded once per batch), one step's activations and the per-task losses (read once per batch).
 * The inner loop makes no host round trip: each step replays the same launches ({@link StepPlan}),
 * reading the step index from a device counter.
 *
 * <p>Second-order MAML keeps the [B x P] task copies every K steps of the forward inner loop, then
 * sweeps the segments in reverse: each is recomputed from its checkpoint, and for its steps from last
 * to first the tangent kernels give the gradient and the exact Hessian-vector product H_t lambda
 * (forward-over-reverse) for the adjoint update lambda = g + lambda - alpha H_t lambda.
 *
 * <p>Learned inner learning rates (Meta-SGD) are kept on the host in float32 values with their Adam
 * moments (per tensor they are a handful of numbers, per element one vector of P), expanded to one
 * rate per element and uploaded before each inner loop; the device returns the mean over tasks of the
 * per-element rates' gradient, which the host reduces per tensor when the rates are per tensor.
 */
public final class CudaEngine implements Engine, Tuning {
    private final EngineSettings settings;
    private final ModelSpec model;
    private final int paramCount;
    private final float alpha;
    private final Device dev;
    /** theta, Adam's moments and step, and the meta-gradient. */
    private final DeviceParams params;

    private final CUdeviceptr theta, metaGrad;
    private final InnerLrLayout rates;
    /** Learned rates and their Adam moments (float32 values), else null. */
    private double[] innerLr, innerLrM, innerLrV;
    /** The current batch's device memory, its inputs' way there, and the inner loops' launches. */
    private final BatchMemory memory;

    private final BatchInputs inputs;
    private final InnerLoopRunner loops;
    private boolean closed;

    /**
     * Null when this process can run the engine; else one line saying what is missing (no driver, no
     * device, kernels not built, no code for this GPU). Never throws.
     */
    public static String unavailableReason() {
        try {
            return Device.unavailableReason();
        } catch (Throwable t) {
            return "CUDA could not be probed: " + t;
        }
    }

    /**
     * [B x P] float32 rows MAML keeps per task on this backend with segments of K steps over T steps:
     * ceil(T / K) checkpoints, K segment states, the task copy and the adjoint lambda (learned rates add
     * their gradient sums, direction and rate-gradient rows).
     */
    public static long mamlRowsPerTask(int steps, int segment) {
        int t = Math.max(steps, 1), k = MamlSegment.of(segment, t);
        return (t + k - 1) / k + k + 2L;
    }

    /** What this engine does not do for these settings (it stores float32 only), or null. */
    public static String unsupported(EngineSettings s) {
        if (s.precision() != Precision.FLOAT32)
            return "the cuda backend stores parameters in float32 only: use precision float32, or the cpu backend for float64";
        return null;
    }

    public CudaEngine(EngineSettings settings) {
        settings.checkRates();
        String no = unsupported(settings);
        if (no != null) throw new IllegalArgumentException(no);
        String why = unavailableReason();
        if (why != null) throw new DeviceException("the cuda backend cannot run here: " + why);
        this.settings = settings;
        this.model = settings.model();
        this.paramCount = model.layout().size();
        this.alpha = (float) settings.innerLr();
        this.rates = settings.rates();
        if (rates.learned()) {
            innerLr = toFloatValues(rates.initial(settings.innerLr()));
            innerLrM = new double[rates.size()];
            innerLrV = new double[rates.size()];
        }
        if (model.task().logits > CudaKernels.SAMPLE_MAX_CLASSES)
            throw new IllegalArgumentException(
                    "the cuda backend samples at most " + CudaKernels.SAMPLE_MAX_CLASSES + " classes");
        this.dev = Device.open();
        this.inputs = new BatchInputs(dev, model);
        this.loops = new InnerLoopRunner(dev);
        BatchMemory mem;
        try {
            mem = new BatchMemory(dev, model, rates.learned());
        } catch (RuntimeException e) {
            dev.close();
            throw e;
        }
        this.memory = mem;
        DeviceParams ps;
        try {
            dev.enter();
            ps = new DeviceParams(dev, paramCount);
            dev.sync("the engine's start");
        } catch (RuntimeException e) {
            dev.close();
            throw e;
        }
        params = ps;
        theta = ps.theta;
        metaGrad = ps.grad;
    }

    private static double[] toFloatValues(double[] a) {
        if (a == null) return null;
        double[] c = new double[a.length];
        for (int i = 0; i < a.length; i++) c[i] = (float) a[i];
        return c;
    }

    @Override
    public String deviceName() {
        return dev.name;
    }

    @Override
    public synchronized double measureCopyBandwidth() {
        dev.enter();
        try (var r = Nvtx.range("copy bandwidth")) {
            return dev.copyBandwidth();
        }
    }

    /**
     * Starts (on) or stops what a profiler launched with capture off records, so that
     * {@code ncu --profile-from-start off} and {@code nsys --capture-range=cudaProfilerApi} see only
     * the work in between. Without a profiler it does nothing; false when the driver refused.
     */
    @Override
    public synchronized boolean profilerCapture(boolean on) {
        dev.enter();
        try {
            if (on) jcuda.driver.JCudaDriver.cuProfilerStart();
            else jcuda.driver.JCudaDriver.cuProfilerStop();
            return true;
        } catch (jcuda.CudaException | LinkageError e) {
            // Only a profiler's capture depends on it: the timing goes on without.
            return false;
        }
    }

    @Override
    public long peakMemoryBytes() {
        return dev.peakBytes();
    }

    @Override
    public java.util.Optional<Tuning> tuning() {
        return java.util.Optional.of(this);
    }

    @Override
    public String description() {
        return "cuda (" + dev.name + ", sm_" + dev.ccMajor + dev.ccMinor + ", float32"
                + (dev.syncEachLaunch ? ", " + Device.SYNC_ENV + "=1: every launch waited for, no graphs" : "") + ")";
    }

    @Override
    public EngineSettings settings() {
        return settings;
    }

    @Override
    public synchronized void setState(TrainState s) {
        dev.enter();
        params.upload(s);
        if (!rates.learned()) return;
        double[] lr = s.innerLr(), lrM = s.innerLrM(), lrV = s.innerLrV();
        if (lr == null) lr = rates.initial(settings.innerLr());
        if (lrM == null || lrV == null) {
            lrM = new double[lr.length];
            lrV = new double[lr.length];
        }
        if (lr.length != rates.size() || lrM.length != rates.size() || lrV.length != rates.size())
            throw new IllegalArgumentException(
                    "the state has " + lr.length + " inner learning rates, the model " + rates.size());
        innerLr = toFloatValues(lr);
        innerLrM = toFloatValues(lrM);
        innerLrV = toFloatValues(lrV);
    }

    @Override
    public synchronized TrainState state() {
        dev.enter();
        TrainState s = params.download();
        return new TrainState(
                s.theta(),
                s.adamM(),
                s.adamV(),
                s.adamStep(),
                innerLr == null ? null : innerLr.clone(),
                innerLrM == null ? null : innerLrM.clone(),
                innerLrV == null ? null : innerLrV.clone());
    }

    @Override
    public synchronized double[] metaGradient(TaskBatch batch, double[] g, double[] gInnerLr) {
        checkGradients(g, gInnerLr);
        double[] nll = innerLoopsAndMean(batch, null);
        params.downloadGradient(g);
        if (rates.learned()) rates.reduce(rateGradient(), gInnerLr);
        return nll;
    }

    /** A meta-gradient buffer g of P values, and with learned rates gInnerLr of one value per rate. */
    private void checkGradients(double[] g, double[] gInnerLr) {
        if (g.length != paramCount)
            throw new IllegalArgumentException("g has " + g.length + " values, the model " + paramCount);
        if (rates.learned() && (gInnerLr == null || gInnerLr.length != rates.size()))
            throw new IllegalArgumentException(
                    "learned inner learning rates need a gradient buffer of " + rates.size() + " values");
    }

    /** The mean over tasks of the per-element rates' gradient the last loop left on the device. */
    private double[] rateGradient() {
        double[] perElement = new double[paramCount];
        dev.download(
                Pointer.to(perElement),
                memory.current().lrGradMean,
                (long) paramCount * Double.BYTES,
                "the inner learning rates' gradient");
        return perElement;
    }

    /** Before an inner loop with learned rates: their per-element expansion into the workspace. */
    private void uploadRates(Workspace w) {
        if (!rates.learned()) return;
        double[] perElement = new double[paramCount];
        rates.expand(innerLr, perElement);
        dev.upload(
                w.innerLr,
                Pointer.to(DeviceParams.toFloats(perElement)),
                (long) paramCount * Float.BYTES,
                "the inner learning rates");
    }

    /** Task copies from theta (and zero gradient sums), zero losses, step 0. */
    private void startTasks(Workspace w, boolean accumulate) {
        uploadRates(w);
        for (Launch l : w.start(theta, accumulate)) dev.run(l);
        dev.zero(w.nll, (long) w.tasks * Double.BYTES, "the losses");
    }

    @Override
    public synchronized double timeInnerLoops(TaskBatch batch) {
        double[] ms = new double[1];
        innerLoopsAndMean(batch, ms);
        return ms[0];
    }

    @Override
    public synchronized double[] metaStep(TaskBatch batch) {
        try (var r = Nvtx.range("meta-step")) {
            double[] nll = innerLoopsAndMean(batch, null);
            double[] gLr = null;
            if (rates.learned()) {
                gLr = new double[rates.size()];
                rates.reduce(rateGradient(), gLr);
            }
            adam(gLr);
            return nll;
        }
    }

    /** The Adam step with g on the device: uploaded into the meta-gradient buffer, then as metaStep's. */
    @Override
    public synchronized void adamStep(double[] g, double[] gInnerLr) {
        checkGradients(g, gInnerLr);
        dev.enter();
        params.uploadGradient(g);
        adam(rates.learned() ? gInnerLr : null);
    }

    /** Adam step t + 1 of theta with the meta-gradient on the device, and of the learned rates with gLr. */
    private void adam(double[] gLr) {
        long t = params.adam(settings.adam());
        // The same Adam and step t as theta's, as the CPU engine, on the float32 values.
        if (gLr != null) settings.adam().step(innerLr, gLr, innerLrM, innerLrV, t, true);
    }

    /**
     * Runs every task's inner loop from theta and leaves the meta-gradient in metaGrad; returns each
     * task's NLL. With {@code millis}, millis[0] is the device time of the inner loops alone.
     */
    private double[] innerLoopsAndMean(TaskBatch batch, double[] millis) {
        Algorithm alg = settings.algorithm();
        inputs.check(batch);
        if (alg == Algorithm.MAML) return maml(batch, millis);
        boolean fomaml = alg == Algorithm.FOMAML;
        int tasks = batch.size(), steps = batch.maxSteps();
        dev.enter();
        Workspace w = memory.workspace(tasks, steps, fomaml, 0);
        inputs.upload(w, batch);
        startTasks(w, fomaml);
        List<Launch> step = w.trainStep(alpha, fomaml);
        Runnable run = () -> {
            try (var r = Nvtx.range("inner loops")) {
                loops.steps(w, step, steps, true);
            }
        };
        if (millis != null) millis[0] = dev.timed(run);
        else run.run();
        try (var r = Nvtx.range("meta-gradient mean")) {
            dev.run(w.metaGradientMean(theta, metaGrad, fomaml));
            if (rates.learned()) dev.run(w.innerLrFomamlGrad());
        }
        return inputs.readNll(w, tasks);
    }

    /**
     * Second-order MAML: the forward inner loop with a checkpoint of the task copies every K steps,
     * then the reverse sweep segment by segment; leaves the mean of the tasks' lambda_0 in metaGrad.
     * With millis, millis[0] is the device time of both sweeps.
     */
    private double[] maml(TaskBatch batch, double[] millis) {
        int tasks = batch.size(), steps = batch.maxSteps();
        int k = MamlSegment.of(settings.segment(), steps);
        dev.enter();
        Workspace w = memory.workspace(tasks, steps, false, k);
        inputs.upload(w, batch);
        startTasks(w, false);
        List<Launch> step = w.trainStep(alpha, false);
        Runnable run = () -> {
            try (var r = Nvtx.range("inner loops")) {
                try (var f = Nvtx.range("MAML forward sweep")) {
                    loops.mamlForward(w, step, steps, k);
                }
                for (Launch l : w.mamlStart()) dev.run(l);
                try (var b = Nvtx.range("MAML reverse sweep")) {
                    loops.mamlReverse(w, steps, k, alpha);
                }
            }
        };
        if (millis != null) millis[0] = dev.timed(run);
        else run.run();
        try (var r = Nvtx.range("meta-gradient mean")) {
            dev.run(w.mamlMean(theta, metaGrad));
            if (rates.learned()) dev.run(w.innerLrMamlGrad(theta));
        }
        return inputs.readNll(w, tasks);
    }

    /**
     * Whether the inner loop is replayed as recorded CUDA graphs (default) or launched kernel by
     * kernel; the results are the same, only the host's launch overhead differs.
     */
    @Override
    public synchronized void useGraphs(boolean on) {
        loops.useGraphs(on);
    }

    /**
     * How many blocks share each column slab's rows in the fused backward kernels: 0 chooses per launch
     * for this GPU (the default), 1 to 16 fixes the number. The results differ only in the order in which
     * the input gradient's sums are added; the batch's buffers are laid out again on the next call.
     */
    @Override
    public synchronized void useRowSplits(int splits) {
        memory.replan(memory.options().withRowSplits(splits == 0 ? memory.autoRowSplits() : RowSplits.fixed(splits)));
    }

    /**
     * Whether the layernorms, the embedding and the loss next to a linear or lstm_block run inside that
     * layer's kernels (on, the default) or in launches of their own: the same values, fewer dependent
     * launches per step. The batch's buffers are laid out again on the next call.
     */
    @Override
    public synchronized void foldSmallLayers(boolean on) {
        memory.replan(memory.options().withSmallLayersFolded(on));
    }

    /**
     * The row splits in use: "auto" or their fixed number, and once a batch is laid out, what each fused
     * backward launch got, first layer first (e.g. "auto: 1,3,3,1").
     */
    @Override
    public synchronized String rowSplits() {
        return memory.rowSplits();
    }

    @Override
    public synchronized double[] evaluate(TaskBatch batch) {
        inputs.check(batch);
        dev.enter();
        int steps = batch.maxSteps();
        double[] nll = new double[batch.size()];
        int chunk = memory.chunkSize(batch.size(), steps);
        try (var r = Nvtx.range("evaluate")) {
            for (int from = 0; from < batch.size(); from += chunk) {
                int to = Math.min(batch.size(), from + chunk);
                TaskBatch part = batch.slice(from, to);
                Workspace w = memory.workspace(to - from, steps, false, 0);
                inputs.upload(w, part);
                startTasks(w, false);
                List<Launch> step = w.trainStep(alpha, false);
                loops.steps(w, step, steps, true);
                System.arraycopy(inputs.readNll(w, to - from), 0, nll, from, to - from);
            }
        }
        return nll;
    }

    @Override
    public synchronized int[][] sample(
            int[][] positions, int count, double temperature, long seed, boolean stopAtZero) {
        return sample(positions, 0, count, temperature, seed, stopAtZero);
    }

    @Override
    public synchronized int[][] sample(
            int[][] positions, int first, int count, double temperature, long seed, boolean stopAtZero) {
        SampleStreams.checkRequest(first, count, temperature);
        int steps = positions.length;
        for (int t = 0; t < steps; t++) inputs.checkInput(positions[t], "position " + t);
        int[][] out = new int[count][steps];
        if (count == 0 || steps == 0) return out;
        dev.enter();
        int chunk = memory.chunkSize(count, steps);
        try (var r = Nvtx.range("sample")) {
            for (int from = 0; from < count; from += chunk) {
                int n = Math.min(count, from + chunk) - from;
                Workspace w = memory.workspace(n, steps, false, 0);
                inputs.uploadSampling(w, positions, seed, first + from);
                startTasks(w, false);
                List<Launch> step = w.withLearnedLr(
                        w.plan.sampleStep(w.sgd(alpha, false), temperature, stopAtZero), w.params, false);
                loops.steps(w, step, steps, false);
                int[] drawn = new int[n * w.steps];
                dev.download(Pointer.to(drawn), w.out, (long) drawn.length * Integer.BYTES, "the samples");
                for (int b = 0; b < n; b++) System.arraycopy(drawn, b * w.steps, out[from + b], 0, steps);
            }
        }
        return out;
    }

    @Override
    public synchronized void close() {
        if (closed) return;
        closed = true;
        // Best effort: after a device fault every call fails, and all must still be released.
        Cleanup c = new Cleanup();
        c.run(dev::enter);
        c.run(() -> dev.sync("closing the engine"));
        memory.close(c);
        c.run(params::close);
        c.run(dev::close);
        c.rethrow("closing the engine");
    }
}
