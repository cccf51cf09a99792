package org.reptilegen.engine.cuda;

import java.util.ArrayList;
import java.util.List;
import jcuda.Pointer;
import jcuda.driver.CUdeviceptr;
import jcuda.jcudnn.JCudnn;
import jcuda.jcudnn.cudnnDataType;
import jcuda.jcudnn.cudnnDirectionMode;
import jcuda.jcudnn.cudnnDropoutDescriptor;
import jcuda.jcudnn.cudnnForwardMode;
import jcuda.jcudnn.cudnnHandle;
import jcuda.jcudnn.cudnnMathType;
import jcuda.jcudnn.cudnnRNNAlgo;
import jcuda.jcudnn.cudnnRNNBiasMode;
import jcuda.jcudnn.cudnnRNNDataDescriptor;
import jcuda.jcudnn.cudnnRNNDataLayout;
import jcuda.jcudnn.cudnnRNNDescriptor;
import jcuda.jcudnn.cudnnRNNInputMode;
import jcuda.jcudnn.cudnnRNNMode;
import jcuda.jcudnn.cudnnTensorDescriptor;
import jcuda.jcudnn.cudnnWgradMode;
import jcuda.runtime.cudaStream_t;
import org.reptilegen.model.LstmBaseline;
import org.reptilegen.model.ParamLayout;

/**
 * The lstm baseline's stack of LSTMs as one cuDNN RNN (the v8 API) on an engine's stream: whole sequences
 * of a batch in one call each way (forward, backward data, backward weights), float32 with FMA math (no
 * TF32), PyTorch's gates and both biases, trainable initial states passed as hx and cx.
 *
 * <p>cuDNN keeps the weights in a weight space of its own layout; the engine keeps the model's parameters
 * in {@link ParamLayout} order. {@link #segments} lists, per tensor chunk, where it sits in each: asked of
 * cuDNN ({@code cudnnGetRNNWeightParams}), never assumed, and checked to cover every LSTM parameter once.
 * Data is sequence-major with padding ([T x B x width], row t * B + b), so sequences of unequal length
 * share a batch.
 */
final class CudnnLstm implements AutoCloseable {
    /** CUDNN_RNN_PADDED_IO_ENABLED (the unpacked, padded layout needs it). */
    private static final int PADDED_IO_ENABLED = 1;

    private final Device dev;
    final int layers, hidden, input;
    private final cudnnHandle handle = new cudnnHandle();
    private final cudnnRNNDescriptor rnn = new cudnnRNNDescriptor();
    private final cudnnDropoutDescriptor dropout = new cudnnDropoutDescriptor();
    private final List<Runnable> destroy = new ArrayList<>();
    final long weightBytes;
    /** The weight space and the gradient cuDNN adds into. */
    final Address weights, weightGrad;

    /** The shapes in use, most recent first: a few (stop_grad's steps and its whole batch, sampling, evaluation). */
    private final List<Shape> shapes = new ArrayList<>();

    private static final int SHAPES_KEPT = 4;

    CudnnLstm(Device dev, int layers, int hidden, int input) {
        String problem = NvidiaLibraries.cudnnProblem();
        if (problem != null) throw new DeviceException(problem);
        this.dev = dev;
        this.layers = layers;
        this.hidden = hidden;
        this.input = input;
        Address w = null, dw = null;
        try {
            check(JCudnn.cudnnCreate(handle), "cudnnCreate", "creating a cuDNN handle");
            destroy.add(() -> JCudnn.cudnnDestroy(handle));
            check(
                    JCudnn.cudnnSetStream(handle, new cudaStream_t(dev.stream)),
                    "cudnnSetStream",
                    "setting cuDNN's stream");
            check(
                    JCudnn.cudnnCreateDropoutDescriptor(dropout),
                    "cudnnCreateDropoutDescriptor",
                    "creating a dropout descriptor");
            destroy.add(() -> JCudnn.cudnnDestroyDropoutDescriptor(dropout));
            check(
                    JCudnn.cudnnSetDropoutDescriptor(dropout, handle, 0f, new Pointer(), 0, 0),
                    "cudnnSetDropoutDescriptor",
                    "setting the dropout descriptor (no dropout)");
            check(JCudnn.cudnnCreateRNNDescriptor(rnn), "cudnnCreateRNNDescriptor", "creating the RNN descriptor");
            destroy.add(() -> JCudnn.cudnnDestroyRNNDescriptor(rnn));
            check(
                    JCudnn.cudnnSetRNNDescriptor_v8(
                            rnn,
                            cudnnRNNAlgo.CUDNN_RNN_ALGO_STANDARD,
                            cudnnRNNMode.CUDNN_LSTM,
                            cudnnRNNBiasMode.CUDNN_RNN_DOUBLE_BIAS,
                            cudnnDirectionMode.CUDNN_UNIDIRECTIONAL,
                            cudnnRNNInputMode.CUDNN_LINEAR_INPUT,
                            cudnnDataType.CUDNN_DATA_FLOAT,
                            cudnnDataType.CUDNN_DATA_FLOAT,
                            cudnnMathType.CUDNN_FMA_MATH,
                            input,
                            hidden,
                            hidden,
                            layers,
                            dropout,
                            PADDED_IO_ENABLED),
                    "cudnnSetRNNDescriptor_v8",
                    "setting the RNN descriptor (LSTM, " + layers + " layers of " + hidden + ", input " + input + ")");
            long[] size = new long[1];
            check(
                    JCudnn.cudnnGetRNNWeightSpaceSize(handle, rnn, size),
                    "cudnnGetRNNWeightSpaceSize",
                    "asking the weight space's size");
            weightBytes = size[0];
            w = dev.alloc(weightBytes, "cuDNN's weight space");
            dw = dev.alloc(weightBytes, "cuDNN's weight gradient");
            dev.zero(w, weightBytes, "cuDNN's weight space");
        } catch (RuntimeException e) {
            dev.free(w);
            dev.free(dw);
            closeQuietly();
            throw e;
        }
        weights = w;
        weightGrad = dw;
    }

    /**
     * Where each chunk of the LSTM's parameters is, as (offset in the parameters, offset in the weight
     * space, floats) triples: per layer and gate, the gate's rows of weight_ih, weight_hh, bias_ih, bias_hh.
     */
    int[] segments(LstmBaseline spec, ParamLayout layout) {
        List<int[]> segs = new ArrayList<>();
        cudnnTensorDescriptor m = new cudnnTensorDescriptor(), b = new cudnnTensorDescriptor();
        check(JCudnn.cudnnCreateTensorDescriptor(m), "cudnnCreateTensorDescriptor", "creating a tensor descriptor");
        check(JCudnn.cudnnCreateTensorDescriptor(b), "cudnnCreateTensorDescriptor", "creating a tensor descriptor");
        try {
            long covered = 0;
            for (int k = 0; k < layers; k++) {
                int in = spec.layerInput(k);
                for (int id = 0; id < 8; id++) {
                    int gate = id % 4;
                    boolean recurrent = id >= 4;
                    Address mAddr = new Address(), bAddr = new Address();
                    String what = "layer " + k + " linear layer " + id;
                    check(
                            JCudnn.cudnnGetRNNWeightParams(
                                    handle, rnn, k, weightBytes, weights, id, m, mAddr, b, bAddr),
                            "cudnnGetRNNWeightParams",
                            "asking cuDNN where " + what + " is");
                    int cols = recurrent ? hidden : in;
                    String wName = recurrent ? LstmBaseline.weightHh(k) : LstmBaseline.weightIh(k);
                    String bName = recurrent ? LstmBaseline.biasHh(k) : LstmBaseline.biasIh(k);
                    segs.add(segment(
                            what + "'s matrix", m, mAddr, layout.offset(wName) + gate * hidden * cols, hidden * cols));
                    segs.add(segment(what + "'s bias", b, bAddr, layout.offset(bName) + gate * hidden, hidden));
                    covered += (long) hidden * cols + hidden;
                }
            }
            long expected = 0;
            for (int k = 0; k < layers; k++) expected += 4L * hidden * (spec.layerInput(k) + hidden + 2);
            if (covered != expected || 4L * covered > weightBytes)
                throw new DeviceException("cuDNN's weight space (" + weightBytes + " bytes) does not hold the "
                        + expected + " LSTM parameters as asked");
        } finally {
            JCudnn.cudnnDestroyTensorDescriptor(m);
            JCudnn.cudnnDestroyTensorDescriptor(b);
        }
        int[] flat = new int[3 * segs.size()];
        for (int i = 0; i < segs.size(); i++) System.arraycopy(segs.get(i), 0, flat, 3 * i, 3);
        return flat;
    }

    /** One chunk: cuDNN's descriptor must hold floats floats, at an address inside the weight space. */
    private int[] segment(String what, cudnnTensorDescriptor d, Address at, int paramOffset, int floats) {
        int[] type = new int[1], nb = new int[1], dims = new int[8], strides = new int[8];
        check(
                JCudnn.cudnnGetTensorNdDescriptor(d, 8, type, nb, dims, strides),
                "cudnnGetTensorNdDescriptor",
                "reading " + what + "'s shape");
        long n = 1;
        for (int i = 0; i < nb[0]; i++) n *= dims[i];
        long off = at.value() - weights.value();
        if (type[0] != cudnnDataType.CUDNN_DATA_FLOAT
                || n != floats
                || off < 0
                || off % 4 != 0
                || off + 4L * floats > weightBytes)
            throw new DeviceException("cuDNN reports " + what + " as " + n + " values of type " + type[0]
                    + " at byte " + off + " of its " + weightBytes + "-byte weight space; expected " + floats
                    + " floats inside it");
        return new int[] {paramOffset, (int) (off / 4), floats};
    }

    /** The descriptors and scratch of one batch shape: T steps, B sequences of the given lengths. */
    final class Shape implements AutoCloseable {
        final int steps, batch;
        final int[] lengths;
        final cudnnRNNDataDescriptor x = new cudnnRNNDataDescriptor(), y = new cudnnRNNDataDescriptor();
        final cudnnTensorDescriptor h = new cudnnTensorDescriptor();
        final long workBytes, reserveBytes;
        final Address work, reserve, devLengths;
        private final List<Runnable> free = new ArrayList<>();

        private Shape(int steps, int[] lengths, boolean training) {
            this.steps = steps;
            this.batch = lengths.length;
            this.lengths = lengths.clone();
            Address wk = null, rs = null, dl = null;
            try {
                check(
                        JCudnn.cudnnCreateRNNDataDescriptor(x),
                        "cudnnCreateRNNDataDescriptor",
                        "creating an RNN data descriptor");
                free.add(() -> JCudnn.cudnnDestroyRNNDataDescriptor(x));
                check(
                        JCudnn.cudnnCreateRNNDataDescriptor(y),
                        "cudnnCreateRNNDataDescriptor",
                        "creating an RNN data descriptor");
                free.add(() -> JCudnn.cudnnDestroyRNNDataDescriptor(y));
                check(
                        JCudnn.cudnnCreateTensorDescriptor(h),
                        "cudnnCreateTensorDescriptor",
                        "creating a tensor descriptor");
                free.add(() -> JCudnn.cudnnDestroyTensorDescriptor(h));
                // The output's padding fill; the engine does not rely on it and clears those rows itself.
                Pointer fill = Pointer.to(new float[] {0f});
                int layout = cudnnRNNDataLayout.CUDNN_RNN_DATA_LAYOUT_SEQ_MAJOR_UNPACKED;
                check(
                        JCudnn.cudnnSetRNNDataDescriptor(
                                x, cudnnDataType.CUDNN_DATA_FLOAT, layout, steps, batch, input, lengths, fill),
                        "cudnnSetRNNDataDescriptor",
                        "describing the LSTM's input (" + steps + " steps, " + batch + " sequences)");
                check(
                        JCudnn.cudnnSetRNNDataDescriptor(
                                y, cudnnDataType.CUDNN_DATA_FLOAT, layout, steps, batch, hidden, lengths, fill),
                        "cudnnSetRNNDataDescriptor",
                        "describing the LSTM's output");
                check(
                        JCudnn.cudnnSetTensorNdDescriptor(
                                h, cudnnDataType.CUDNN_DATA_FLOAT, 3, new int[] {layers, batch, hidden}, new int[] {
                                    batch * hidden, hidden, 1
                                }),
                        "cudnnSetTensorNdDescriptor",
                        "describing the LSTM's states");
                long[] wb = new long[1], rb = new long[1];
                int mode =
                        training ? cudnnForwardMode.CUDNN_FWD_MODE_TRAINING : cudnnForwardMode.CUDNN_FWD_MODE_INFERENCE;
                check(
                        JCudnn.cudnnGetRNNTempSpaceSizes(handle, rnn, mode, x, wb, rb),
                        "cudnnGetRNNTempSpaceSizes",
                        "asking the RNN's scratch sizes");
                workBytes = wb[0];
                reserveBytes = rb[0];
                wk = dev.alloc(workBytes, "cuDNN's work space");
                rs = training ? dev.alloc(reserveBytes, "cuDNN's reserve space") : null;
                dl = dev.alloc((long) batch * Integer.BYTES, "the sequence lengths");
                dev.upload(dl, Pointer.to(lengths), (long) batch * Integer.BYTES, "the sequence lengths");
            } catch (RuntimeException e) {
                dev.free(wk);
                dev.free(rs);
                dev.free(dl);
                for (Runnable r : free) r.run();
                throw e;
            }
            work = wk;
            reserve = rs;
            devLengths = dl;
        }

        boolean fits(int steps, int[] lengths, boolean training) {
            return this.steps == steps
                    && java.util.Arrays.equals(this.lengths, lengths)
                    && (reserve != null || !training);
        }

        @Override
        public void close() {
            dev.free(work);
            dev.free(reserve);
            dev.free(devLengths);
            for (Runnable r : free) r.run();
        }
    }

    /** The shape for a batch of T steps and these lengths (the last few are kept). */
    Shape shape(int steps, int[] lengths, boolean training) {
        for (int i = 0; i < shapes.size(); i++) {
            Shape s = shapes.get(i);
            if (s.fits(steps, lengths, training)) {
                shapes.add(0, shapes.remove(i));
                return s;
            }
        }
        if (shapes.size() == SHAPES_KEPT) {
            dev.sync("replacing the RNN's scratch");
            shapes.remove(SHAPES_KEPT - 1).close();
        }
        Shape s = new Shape(steps, lengths, training);
        shapes.add(0, s);
        return s;
    }

    /** y [T x B x H] from x [T x B x input] and the initial states; hy, cy may be null (not wanted). */
    void forward(
            Shape s,
            boolean training,
            CUdeviceptr x,
            CUdeviceptr y,
            CUdeviceptr hx,
            CUdeviceptr cx,
            CUdeviceptr hy,
            CUdeviceptr cy) {
        check(
                JCudnn.cudnnRNNForward(
                        handle,
                        rnn,
                        training ? cudnnForwardMode.CUDNN_FWD_MODE_TRAINING : cudnnForwardMode.CUDNN_FWD_MODE_INFERENCE,
                        s.devLengths,
                        s.x,
                        x,
                        s.y,
                        y,
                        s.h,
                        hx,
                        orNull(hy),
                        s.h,
                        cx,
                        orNull(cy),
                        weightBytes,
                        weights,
                        s.workBytes,
                        s.work,
                        training ? s.reserveBytes : 0,
                        training ? s.reserve : new Pointer()),
                "cudnnRNNForward",
                "the LSTM's forward pass");
    }

    /**
     * After a training forward: dx and the initial states' gradients dhx, dcx from dy, then the weights'
     * gradient into {@link #weightGrad} (cleared first).
     */
    void backward(
            Shape s,
            CUdeviceptr x,
            CUdeviceptr y,
            CUdeviceptr dy,
            CUdeviceptr dx,
            CUdeviceptr hx,
            CUdeviceptr cx,
            CUdeviceptr dhx,
            CUdeviceptr dcx) {
        check(
                JCudnn.cudnnRNNBackwardData_v8(
                        handle,
                        rnn,
                        s.devLengths,
                        s.y,
                        y,
                        dy,
                        s.x,
                        dx,
                        s.h,
                        hx,
                        new Pointer(),
                        dhx,
                        s.h,
                        cx,
                        new Pointer(),
                        dcx,
                        weightBytes,
                        weights,
                        s.workBytes,
                        s.work,
                        s.reserveBytes,
                        s.reserve),
                "cudnnRNNBackwardData_v8",
                "the LSTM's backward pass (data)");
        dev.zero(weightGrad, weightBytes, "cuDNN's weight gradient");
        check(
                JCudnn.cudnnRNNBackwardWeights_v8(
                        handle,
                        rnn,
                        cudnnWgradMode.CUDNN_WGRAD_MODE_ADD,
                        s.devLengths,
                        s.x,
                        x,
                        s.h,
                        hx,
                        s.y,
                        y,
                        weightBytes,
                        weightGrad,
                        s.workBytes,
                        s.work,
                        s.reserveBytes,
                        s.reserve),
                "cudnnRNNBackwardWeights_v8",
                "the LSTM's backward pass (weights)");
    }

    private static Pointer orNull(CUdeviceptr p) {
        return p == null ? new Pointer() : p;
    }

    /** A failing status as one line naming the cuDNN function (NvidiaLibraries.checkCudnn) and what it did. */
    static void check(int status, String call, String what) {
        if (status == 0) return;
        try {
            NvidiaLibraries.checkCudnn(status, call);
        } catch (DeviceException e) {
            throw new DeviceException(e.getMessage() + " (" + what + ")");
        }
    }

    private void closeQuietly() {
        for (int i = destroy.size() - 1; i >= 0; i--) {
            try {
                destroy.get(i).run();
            } catch (RuntimeException ignored) {
                // the first error is the one reported
            }
        }
        destroy.clear();
    }

    @Override
    public void close() {
        for (Shape s : shapes) s.close();
        shapes.clear();
        dev.free(weights);
        dev.free(weightGrad);
        closeQuietly();
    }
}
