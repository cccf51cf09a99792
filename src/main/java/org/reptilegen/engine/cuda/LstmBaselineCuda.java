package org.reptilegen.engine.cuda;

import java.util.ArrayList;
import java.util.List;
import jcuda.Pointer;
import jcuda.driver.CUdeviceptr;
import org.reptilegen.core.Precision;
import org.reptilegen.core.TaskBatch;
import org.reptilegen.core.TrainState;
import org.reptilegen.engine.Engine;
import org.reptilegen.engine.EngineSettings;
import org.reptilegen.model.LstmBaseline;
import org.reptilegen.model.ParamLayout;
import org.reptilegen.model.TaskKind;

/**
 * The lstm baseline on GPU 0 (README, The LSTM baseline): the same model and gradient as the cpu
 * backend's {@code BaselineEngine}, on the NVIDIA libraries. The LSTM stack runs in cuDNN ({@link
 * CudnnLstm}: a batch's whole sequences in one call each for the forward pass, the input gradient and the
 * weight gradient), the output layer in cuBLAS GEMMs ({@link Cublas}), and the rest in baseline.cu's
 * kernels: the embedding gather and its gradient, the initial states, the loss, the copies between the
 * parameters and cuDNN's weight space, and sampling.
 *
 * <p>Resident on the device: theta and Adam's moments (float32), the gradient (float64), cuDNN's weight
 * space and a batch's buffers. A training step uploads the batch's indices and targets, and reads back
 * only the losses.
 */
public final class LstmBaselineCuda implements Engine {
    /** Sequences evaluated or sampled together. */
    static final int CHUNK = 100;

    private final EngineSettings settings;
    private final LstmBaseline spec;
    private final int paramCount, tables, embed, hidden, layers, logits, width;
    private final int h0Off, c0Off, outW, outB;
    private final Device dev;
    private final Cublas blas;
    private final CudnnLstm rnn;
    private final DeviceParams params;
    /** LSTM chunks between theta and cuDNN's weight space, the output layer's weight into g; device copies. */
    private final int lstmSegments;

    private final Address segs, outSeg, tableOff, tableRow0;
    private final int rowsTotal;
    private Buffers buf;
    private boolean closed;

    /** What this engine does not do for these settings, or null. */
    public static String unsupported(EngineSettings s) {
        LstmBaseline spec = s.model().baseline();
        if (spec == null) return "the cuda lstm baseline runs the lstm baseline only";
        if (s.precision() != Precision.FLOAT32)
            return "the cuda backend stores parameters in float32 only: use precision float32, or the cpu backend";
        return null;
    }

    /** Null when cuDNN and cuBLAS can be used here (after the CUDA checks); else one line saying which is missing. */
    public static String librariesProblem() {
        String p = NvidiaLibraries.cublasProblem();
        return p != null ? p : NvidiaLibraries.cudnnProblem();
    }

    public LstmBaselineCuda(EngineSettings settings) {
        String no = unsupported(settings);
        if (no != null) throw new IllegalArgumentException(no);
        String why = CudaEngine.unavailableReason();
        if (why == null) why = librariesProblem();
        if (why != null) throw new DeviceException("the cuda backend cannot run here: " + why);
        this.settings = settings;
        this.spec = settings.model().baseline();
        ParamLayout layout = spec.layout();
        this.paramCount = layout.size();
        this.tables = spec.tables().size();
        this.embed = spec.embed();
        this.hidden = spec.hidden();
        this.layers = spec.layers();
        this.logits = spec.task().logits;
        this.width = spec.inputWidth();
        if (logits > CudaKernels.SAMPLE_MAX_CLASSES)
            throw new IllegalArgumentException(
                    "the cuda backend samples at most " + CudaKernels.SAMPLE_MAX_CLASSES + " classes");
        h0Off = layout.offset(LstmBaseline.HIDDEN_H);
        c0Off = layout.offset(LstmBaseline.HIDDEN_C);
        outW = layout.offset(LstmBaseline.OUT_WEIGHT);
        outB = layout.offset(LstmBaseline.OUT_BIAS);
        this.dev = Device.open();
        List<AutoCloseable> made = new ArrayList<>();
        try {
            dev.enter();
            blas = own(made, new Cublas(dev));
            rnn = own(made, new CudnnLstm(dev, layers, hidden, width));
            params = own(made, new DeviceParams(dev, paramCount));
            int[] lstm = rnn.segments(spec, layout);
            lstmSegments = lstm.length / 3;
            segs = upload(made, lstm, "the weight space's map");
            outSeg = upload(made, new int[] {outW, 0, logits * hidden}, "the output layer's map");
            int[] off = new int[tables], row0 = new int[tables];
            int rows = 0;
            for (int j = 0; j < tables; j++) {
                off[j] = layout.offset(spec.tables().get(j).getKey());
                row0[j] = rows;
                rows += spec.tables().get(j).getValue();
            }
            rowsTotal = rows;
            tableOff = upload(made, off, "the embedding tables' offsets");
            tableRow0 = upload(made, row0, "the embedding tables' rows");
            dev.sync("the engine's start");
        } catch (RuntimeException e) {
            for (int i = made.size() - 1; i >= 0; i--) closeQuietly(made.get(i));
            dev.close();
            throw e;
        }
    }

    private static <T extends AutoCloseable> T own(List<AutoCloseable> made, T t) {
        made.add(t);
        return t;
    }

    private Address upload(List<AutoCloseable> made, int[] values, String what) {
        Address p = dev.alloc((long) values.length * Integer.BYTES, what);
        made.add(() -> dev.free(p));
        dev.upload(p, Pointer.to(values), (long) values.length * Integer.BYTES, what);
        return p;
    }

    private static void closeQuietly(AutoCloseable c) {
        try {
            c.close();
        } catch (Exception ignored) {
            // the first error is the one reported
        }
    }

    @Override
    public String description() {
        return "cuda lstm baseline (" + dev.name + ", sm_" + dev.ccMajor + dev.ccMinor + ", float32, cuDNN "
                + NvidiaLibraries.cudnnVersion() + ", cuBLAS " + NvidiaLibraries.cublasVersion() + ")";
    }

    @Override
    public String deviceName() {
        return dev.name;
    }

    @Override
    public EngineSettings settings() {
        return settings;
    }

    @Override
    public synchronized void setState(TrainState s) {
        if (s.learnedInnerLr()) throw new IllegalArgumentException("the lstm baseline has no inner learning rates");
        dev.enter();
        params.upload(s);
    }

    @Override
    public synchronized TrainState state() {
        dev.enter();
        return params.download();
    }

    @Override
    public synchronized double[] metaGradient(TaskBatch batch, double[] g, double[] gInnerLr) {
        if (gInnerLr != null) throw new IllegalArgumentException("the lstm baseline has no inner learning rates");
        params.checkGradient(g);
        double[] nll = run(batch, true);
        params.downloadGradient(g);
        return nll;
    }

    @Override
    public synchronized double[] metaStep(TaskBatch batch) {
        try (var r = Nvtx.range("training step")) {
            double[] nll = run(batch, true);
            params.adam(settings.adam());
            return nll;
        }
    }

    @Override
    public synchronized void adamStep(double[] g, double[] gInnerLr) {
        if (gInnerLr != null) throw new IllegalArgumentException("the lstm baseline has no inner learning rates");
        dev.enter();
        params.uploadGradient(g);
        params.adam(settings.adam());
    }

    @Override
    public synchronized double[] evaluate(TaskBatch batch) {
        double[] nll = new double[batch.size()];
        try (var r = Nvtx.range("evaluate")) {
            for (int from = 0; from < batch.size(); from += CHUNK) {
                int to = Math.min(batch.size(), from + CHUNK);
                System.arraycopy(run(batch.slice(from, to), false), 0, nll, from, to - from);
            }
        }
        return nll;
    }

    /**
     * The device buffers of a batch of rows = T x B rows (grown, never shrunk). With stop_grad, also every
     * step's states (hist, one step at a time) and each row's states before it (cut: [layers x rows x H])
     * with their gradients.
     */
    private final class Buffers implements AutoCloseable {
        final int rows, batch;
        final Address idx, ys, x, y, z, dz, dy, dx, rowNll, nll, hx, cx, dhx, dcx, outGrad;
        final Address hHist, cHist, hCut, cCut, dhCut, dcCut;
        private final List<Address> got = new ArrayList<>();

        Buffers(int rows, int batch) {
            this.rows = rows;
            this.batch = batch;
            long r = rows, s = (long) layers * batch * hidden * Float.BYTES;
            try {
                idx = add(got, r * tables * Integer.BYTES, "the embedding indices");
                ys = add(got, r * Integer.BYTES, "the targets");
                x = add(got, r * width * Float.BYTES, "the LSTM's input");
                y = add(got, r * hidden * Float.BYTES, "the LSTM's output");
                z = add(got, r * logits * Float.BYTES, "the logits");
                dz = add(got, r * logits * Float.BYTES, "the logits' gradient");
                dy = add(got, r * hidden * Float.BYTES, "the LSTM output's gradient");
                dx = add(got, r * width * Float.BYTES, "the LSTM input's gradient");
                rowNll = add(got, r * Double.BYTES, "the losses per step");
                nll = add(got, (long) batch * Double.BYTES, "the losses");
                hx = add(got, s, "the initial states");
                cx = add(got, s, "the initial states");
                dhx = add(got, s, "the initial states' gradient");
                dcx = add(got, s, "the initial states' gradient");
                outGrad = add(got, (long) logits * hidden * Float.BYTES, "the output layer's gradient");
                long all = spec.stopGrad() ? r * layers * hidden * Float.BYTES : 0;
                hHist = spec.stopGrad() ? add(got, all, "every step's states") : null;
                cHist = spec.stopGrad() ? add(got, all, "every step's states") : null;
                hCut = spec.stopGrad() ? add(got, all, "each step's states before it") : null;
                cCut = spec.stopGrad() ? add(got, all, "each step's states before it") : null;
                dhCut = spec.stopGrad() ? add(got, all, "the states' gradients") : null;
                dcCut = spec.stopGrad() ? add(got, all, "the states' gradients") : null;
            } catch (RuntimeException e) {
                for (Address a : got) dev.free(a);
                throw e;
            }
        }

        private Address add(List<Address> got, long bytes, String what) {
            Address a = dev.alloc(bytes, what);
            got.add(a);
            return a;
        }

        @Override
        public void close() {
            for (Address a : got) dev.free(a);
        }
    }

    private Buffers buffers(int rows, int batch) {
        if (buf != null && buf.rows >= rows && buf.batch >= batch) return buf;
        if (buf != null) {
            rows = Math.max(rows, buf.rows);
            batch = Math.max(batch, buf.batch);
            dev.sync("growing the batch's buffers");
            buf.close();
            buf = null;
        }
        buf = new Buffers(rows, batch);
        return buf;
    }

    private CUdeviceptr at(CUdeviceptr base, long floats) {
        return base.withByteOffset(floats * Float.BYTES);
    }

    /**
     * The batch's losses (nats per sequence); with backward also the gradient of their mean into the
     * gradient buffer. Sequences of unequal length run padded to the longest.
     */
    private double[] run(TaskBatch batch, boolean backward) {
        int n = batch.size(), steps = batch.maxSteps();
        double[] out = new double[n];
        if (n == 0 || steps == 0) {
            if (backward) params.clearGradient();
            return out;
        }
        TaskKind kind = spec.task();
        int rows = steps * n;
        int[] idx = new int[rows * tables], ys = new int[rows], lengths = new int[n];
        java.util.Arrays.fill(ys, -1);
        for (int b = 0; b < n; b++) {
            int len = batch.steps(b);
            lengths[b] = Math.max(len, 1); // cuDNN runs a sequence for at least one step; its loss is 0 here
            for (int t = 0; t < len; t++) {
                int r = t * n + b;
                int[] x = batch.x()[b][t];
                for (int j = 0; j < kind.inputDim; j++) idx[r * tables + j] = check(x[j], j, b, t);
                idx[r * tables + tables - 1] = check(t == 0 ? 0 : batch.y()[b][t - 1], tables - 1, b, t);
                ys[r] = batch.y()[b][t];
            }
        }
        dev.enter();
        Buffers w = buffers(rows, n);
        dev.upload(w.idx, Pointer.to(idx), (long) idx.length * Integer.BYTES, "the embedding indices");
        dev.upload(w.ys, Pointer.to(ys), (long) rows * Integer.BYTES, "the targets");
        boolean cut = backward && spec.stopGrad();
        CUdeviceptr theta = params.theta;
        embed(w, rows);
        initialStates(w, n);
        weightsToCudnn();
        CudnnLstm.Shape s;
        if (cut) {
            s = cutForward(w, steps, n);
        } else {
            s = rnn.shape(steps, lengths, backward);
            rnn.forward(s, backward, w.x, w.y, w.hx, w.cx, null, null);
        }
        dev.run(Kernels.baselineClearPadding()
                .grid(Launch.blocks((long) rows * hidden, 256), 1)
                .a(w.y)
                .ys(w.ys)
                .N(rows)
                .width(hidden)
                .from("the LSTM output past each sequence's end")
                .build(dev::function));
        blas.gemm("the logits (output layer)", false, true, rows, logits, hidden, w.y, at(theta, outW), false, w.z);
        float scale = 1f / n;
        loss(w, rows, scale, backward);
        dev.run(Kernels.baselineNllSum()
                .grid(Launch.blocks(n, 256), 1)
                .rowNll(w.rowNll)
                .T(steps)
                .B(n)
                .nll(w.nll)
                .from("losses per sequence")
                .build(dev::function));
        if (backward) backward(w, s, rows, n, cut);
        dev.download(Pointer.to(out), w.nll, (long) n * Double.BYTES, "the losses");
        return out;
    }

    /** The LSTM's input of rows rows from their embedding indices (w.idx). */
    private void embed(Buffers w, int rows) {
        dev.run(Kernels.baselineEmbed()
                .grid(Launch.blocks((long) rows * width, 256), 1)
                .theta(params.theta)
                .tableOff(tableOff)
                .tables(tables)
                .E(embed)
                .idx(w.idx)
                .N(rows)
                .x(w.x)
                .from("embedding")
                .build(dev::function));
    }

    /** The trainable initial states repeated for n sequences into w.hx, w.cx. */
    private void initialStates(Buffers w, int n) {
        dev.run(Kernels.baselineInitialState()
                .grid(Launch.blocks((long) layers * n * hidden, 256), 1)
                .theta(params.theta)
                .h0Off(h0Off)
                .c0Off(c0Off)
                .layers(layers)
                .B(n)
                .H(hidden)
                .hx(w.hx)
                .cx(w.cx)
                .from("initial states")
                .build(dev::function));
    }

    /** theta's LSTM tensors into cuDNN's weight space. */
    private void weightsToCudnn() {
        dev.run(Kernels.baselineSegmentsCopy()
                .grid(Launch.blocks(longestSegment(), 256), lstmSegments)
                .theta(params.theta)
                .other(rnn.weights)
                .segs(segs)
                .segments(lstmSegments)
                .from("parameters to cuDNN's weight space")
                .build(dev::function));
    }

    private int longestSegment() {
        return Math.max(hidden * Math.max(width, hidden), logits * hidden);
    }

    private int check(int v, int table, int b, int t) {
        int rows = spec.tables().get(table).getValue();
        if (v < 0 || v >= rows)
            throw new IllegalArgumentException("task " + b + " step " + t + ": input " + v
                    + " is outside the lstm baseline's table "
                    + spec.tables().get(table).getKey() + " of " + rows
                    + " rows" + (spec.task() == TaskKind.TEXT && table == 0 ? " (positions up to max_len - 1)" : ""));
        return v;
    }

    /** Each row's loss, and with grad the logits' gradient scaled by scale. */
    private void loss(Buffers w, int rows, float scale, boolean grad) {
        CUdeviceptr bias = at(params.theta, outB);
        CUdeviceptr dz = grad ? w.dz : Launch.NULL;
        if (logits == 1) {
            dev.run(Kernels.baselineBceLoss()
                    .grid(Launch.blocks(rows, 256), 1)
                    .N(rows)
                    .z(w.z)
                    .bias(bias)
                    .ys(w.ys)
                    .scale(scale)
                    .dz(dz)
                    .rowNll(w.rowNll)
                    .from("loss")
                    .build(dev::function));
            return;
        }
        addBias(w.z, rows);
        dev.run(Kernels.baselineSoftmaxLoss()
                .grid(rows, 1)
                .N(rows)
                .L(logits)
                .z(w.z)
                .ys(w.ys)
                .scale(scale)
                .dz(dz)
                .rowNll(w.rowNll)
                .from("loss")
                .build(dev::function));
    }

    private void addBias(CUdeviceptr z, int rows) {
        dev.run(Kernels.baselineAddBias()
                .grid(Launch.blocks((long) rows * logits, 256), 1)
                .z(z)
                .bias(at(params.theta, outB))
                .N(rows)
                .L(logits)
                .from("output bias")
                .build(dev::function));
    }

    /**
     * stop_grad's forward pass (the gradient stops at every step's states): the states of every step, one
     * step at a time from the initial ones, then every row as a sequence of one step from the states before
     * it, in one training call (the shape it returns); its output is the whole batch's.
     */
    private CudnnLstm.Shape cutForward(Buffers w, int steps, int n) {
        int rows = steps * n;
        int[] ones = new int[n];
        java.util.Arrays.fill(ones, 1);
        CudnnLstm.Shape step = rnn.shape(1, ones, false);
        long state = (long) layers * n * hidden;
        for (int t = 0; t < steps; t++) {
            CUdeviceptr h = t == 0 ? w.hx : at(w.hHist, (t - 1) * state),
                    c = t == 0 ? w.cx : at(w.cHist, (t - 1) * state);
            rnn.forward(
                    step,
                    false,
                    at(w.x, (long) t * n * width),
                    at(w.y, (long) t * n * hidden),
                    h,
                    c,
                    at(w.hHist, t * state),
                    at(w.cHist, t * state));
        }
        for (Address[] pair : new Address[][] {{w.hx, w.hHist, w.hCut}, {w.cx, w.cHist, w.cCut}})
            dev.run(Kernels.baselineStatesGather()
                    .grid(Launch.blocks((long) rows * layers * hidden, 256), 1)
                    .init(pair[0])
                    .hist(pair[1])
                    .T(steps)
                    .layers(layers)
                    .B(n)
                    .H(hidden)
                    .out(pair[2])
                    .from("stop_grad: the states before each step")
                    .build(dev::function));
        int[] all = new int[rows];
        java.util.Arrays.fill(all, 1);
        CudnnLstm.Shape s = rnn.shape(1, all, true);
        rnn.forward(s, true, w.x, w.y, w.hCut, w.cCut, null, null);
        return s;
    }

    /** From the logits' gradient to the whole gradient in the gradient buffer. */
    private void backward(Buffers w, CudnnLstm.Shape s, int rows, int n, boolean cut) {
        CUdeviceptr theta = params.theta, g = params.grad;
        blas.gemm("the LSTM output's gradient", false, false, rows, hidden, logits, w.dz, at(theta, outW), false, w.dy);
        if (cut) rnn.backward(s, w.x, w.y, w.dy, w.dx, w.hCut, w.cCut, w.dhCut, w.dcCut);
        else rnn.backward(s, w.x, w.y, w.dy, w.dx, w.hx, w.cx, w.dhx, w.dcx);
        blas.gemm("the output layer's gradient", true, false, logits, hidden, rows, w.dz, w.y, false, w.outGrad);
        dev.run(Kernels.baselineSegmentsToGrad()
                .grid(Launch.blocks(longestSegment(), 256), lstmSegments)
                .other(rnn.weightGrad)
                .g(g)
                .segs(segs)
                .segments(lstmSegments)
                .from("LSTM gradient from cuDNN's weight space")
                .build(dev::function));
        dev.run(Kernels.baselineSegmentsToGrad()
                .grid(Launch.blocks((long) logits * hidden, 256), 1)
                .other(w.outGrad)
                .g(g)
                .segs(outSeg)
                .segments(1)
                .from("output layer's weight gradient")
                .build(dev::function));
        dev.run(Kernels.baselineBiasGrad()
                .grid(logits, 1)
                .dz(w.dz)
                .N(rows)
                .L(logits)
                .off(outB)
                .g(g)
                .from("output layer's bias gradient")
                .build(dev::function));
        dev.run(Kernels.baselineEmbedGrad()
                .grid(Launch.blocks((long) rowsTotal * embed, Kernels.BASELINE_EMBED_GRAD.blockX()), 1)
                .dx(w.dx)
                .idx(w.idx)
                .ys(w.ys)
                .N(rows)
                .tables(tables)
                .E(embed)
                .tableOff(tableOff)
                .tableRow0(tableRow0)
                .rowsTotal(rowsTotal)
                .g(g)
                .from("embedding gradient")
                .build(dev::function));
        dev.run(Kernels.baselineInitialStateGrad()
                .grid(Launch.blocks((long) layers * hidden, 256), 1)
                .dhx(cut ? w.dhCut : w.dhx)
                .dcx(cut ? w.dcCut : w.dcx)
                .layers(layers)
                .B(n)
                .rows(cut ? rows : n)
                .H(hidden)
                .h0Off(h0Off)
                .c0Off(c0Off)
                .g(g)
                .from("initial states' gradient")
                .build(dev::function));
    }

    @Override
    public synchronized int[][] sample(
            int[][] positions, int count, double temperature, long seed, boolean stopAtZero) {
        return sample(positions, 0, count, temperature, seed, stopAtZero);
    }

    /** Sample i draws from the stream (seed, i) as on the cpu backend; CHUNK samples step together. */
    @Override
    public synchronized int[][] sample(
            int[][] positions, int first, int count, double temperature, long seed, boolean stopAtZero) {
        SampleStreams.checkRequest(first, count, temperature);
        int steps = positions.length, posDim = spec.task().inputDim;
        int[] pos = new int[steps * posDim];
        for (int t = 0; t < steps; t++)
            for (int j = 0; j < posDim; j++) pos[t * posDim + j] = check(positions[t][j], j, 0, t);
        int[][] out = new int[count][steps];
        if (count == 0 || steps == 0) return out;
        dev.enter();
        try (var r = Nvtx.range("sample")) {
            for (int from = 0; from < count; from += CHUNK) {
                int n = Math.min(count, from + CHUNK) - from;
                int[] drawn = sampleChunk(pos, steps, n, first + from, temperature, seed, stopAtZero);
                for (int b = 0; b < n; b++) System.arraycopy(drawn, b * steps, out[from + b], 0, steps);
            }
        }
        return out;
    }

    /** n samples stepping together, one step of every layer per pixel; returns them [n x steps]. */
    private int[] sampleChunk(int[] pos, int steps, int n, int first, double temperature, long seed, boolean stop) {
        Buffers w = buffers(n, n);
        int[] ones = new int[n];
        java.util.Arrays.fill(ones, 1);
        CudnnLstm.Shape s = rnn.shape(1, ones, false);
        long[] streams = new long[n];
        for (int b = 0; b < n; b++) streams[b] = SampleStreams.start(seed, first + b);
        List<Address> temp = new ArrayList<>();
        try {
            Address dPos = alloc(temp, (long) pos.length * Integer.BYTES, "the positions");
            Address dStreams = alloc(temp, (long) n * Long.BYTES, "the random streams");
            Address ys = alloc(temp, (long) steps * n * Integer.BYTES, "the drawn values");
            Address done = alloc(temp, (long) n * Integer.BYTES, "the stopped samples");
            Address drawn = alloc(temp, (long) n * steps * Integer.BYTES, "the samples");
            Address step = alloc(temp, Integer.BYTES, "the step counter");
            long stateBytes = (long) layers * n * hidden * Float.BYTES;
            Address h2 = alloc(temp, stateBytes, "the states"), c2 = alloc(temp, stateBytes, "the states");
            dev.upload(dPos, Pointer.to(pos), (long) pos.length * Integer.BYTES, "the positions");
            dev.upload(dStreams, Pointer.to(streams), (long) n * Long.BYTES, "the random streams");
            dev.zero(done, (long) n * Integer.BYTES, "the stopped samples");
            dev.zero(drawn, (long) n * steps * Integer.BYTES, "the samples");
            initialStates(w, n);
            weightsToCudnn();
            Address[] h = {w.hx, h2}, c = {w.cx, c2};
            for (int t = 0; t < steps; t++) {
                dev.run(Kernels.stepSet()
                        .grid(1, 1)
                        .step(step)
                        .value(t)
                        .from("sampling step")
                        .build(dev::function));
                dev.run(Kernels.baselineSampleInputs()
                        .grid(Launch.blocks(n, 256), 1)
                        .pos(dPos)
                        .posDim(spec.task().inputDim)
                        .step(step)
                        .ys(ys)
                        .B(n)
                        .idx(w.idx)
                        .from("sampling inputs")
                        .build(dev::function));
                embed(w, n);
                int a = t & 1;
                rnn.forward(s, false, w.x, w.y, h[a], c[a], h[1 - a], c[1 - a]);
                blas.gemm(
                        "the logits (output layer)",
                        false,
                        true,
                        n,
                        logits,
                        hidden,
                        w.y,
                        at(params.theta, outW),
                        false,
                        w.z);
                addBias(w.z, n);
                dev.run(Kernels.sampleDraw()
                        .grid(n, 1)
                        .B(n)
                        .L(logits)
                        .temperature(temperature)
                        .z(w.z)
                        .streams(dStreams)
                        .stopAtZero(stop ? 1 : 0)
                        .step(step)
                        .steps(steps)
                        .ys(ys)
                        .done(done)
                        .out(drawn)
                        .from("draw")
                        .build(dev::function));
            }
            int[] result = new int[n * steps];
            dev.download(Pointer.to(result), drawn, (long) result.length * Integer.BYTES, "the samples");
            return result;
        } finally {
            dev.sync("the samples");
            for (Address a : temp) dev.free(a);
        }
    }

    private Address alloc(List<Address> temp, long bytes, String what) {
        Address a = dev.alloc(bytes, what);
        temp.add(a);
        return a;
    }

    @Override
    public synchronized double measureCopyBandwidth() {
        dev.enter();
        return dev.copyBandwidth();
    }

    @Override
    public long peakMemoryBytes() {
        return dev.peakBytes();
    }

    @Override
    public synchronized void close() {
        if (closed) return;
        closed = true;
        Cleanup c = new Cleanup();
        c.run(dev::enter);
        if (buf != null) c.run(buf::close);
        for (Address a : new Address[] {segs, outSeg, tableOff, tableRow0}) c.run(() -> dev.free(a));
        c.run(params::close);
        c.run(rnn::close);
        c.run(blas::close);
        c.run(dev::close);
        c.rethrow("closing the cuda lstm baseline");
    }
}
