package org.reptilegen.checkpoint;

import java.nio.file.Path;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.reptilegen.model.ParamLayout;

/**
 * The project's checkpoint: a safetensors file whose tensors a PyTorch user can load by name.
 *
 * <p>Tensors, in file order:
 * <ul>
 *   <li>the meta-parameters theta under the layout's names ({@code module_1.linear.weight}) and shapes;</li>
 *   <li>learned inner learning rates, optional, as {@code inner_lr.<name>}: the parameter's shape
 *       (one rate per element) or [1] (one rate per tensor);</li>
 *   <li>Adam's moments, optional, as {@code optimizer.exp_avg.<name>} and {@code optimizer.exp_avg_sq.<name>}.</li>
 * </ul>
 * Everything else the run needs to resume (config, step, seed, Adam's step count) is the caller's
 * string metadata. A file with theta-shaped values only (gradients, an initialisation) is written
 * by {@link #writeParams}.
 */
public final class Checkpoint {

    public static final String EXP_AVG = "optimizer.exp_avg.";
    public static final String EXP_AVG_SQ = "optimizer.exp_avg_sq.";
    public static final String INNER_LR = "inner_lr.";
    private static final String OPTIMIZER = "optimizer.";

    private Checkpoint() {}

    /**
     * Writes a checkpoint atomically (see {@link Safetensors#write}).
     *
     * @param theta    layout.size() values
     * @param adamM    Adam's first moment laid out like theta, or null with adamV for no optimizer state
     * @param adamV    Adam's second moment, or null with adamM
     * @param innerLr  parameter name to its rates (one value, or one per element), or null
     * @param metadata strings stored in the header, or null
     * @param float64  store F64 instead of the default F32
     */
    public static void write(
            Path path,
            ParamLayout layout,
            double[] theta,
            double[] adamM,
            double[] adamV,
            Map<String, double[]> innerLr,
            Map<String, String> metadata,
            boolean float64) {
        write(path, layout, theta, adamM, adamV, innerLr, null, null, metadata, float64);
    }

    /**
     * As above, with the Adam moments of learned inner learning rates, stored as
     * {@code optimizer.exp_avg.inner_lr.<name>} and {@code optimizer.exp_avg_sq.inner_lr.<name>}
     * (both null, or both given with innerLr).
     */
    public static void write(
            Path path,
            ParamLayout layout,
            double[] theta,
            double[] adamM,
            double[] adamV,
            Map<String, double[]> innerLr,
            Map<String, double[]> innerLrM,
            Map<String, double[]> innerLrV,
            Map<String, String> metadata,
            boolean float64) {
        if ((innerLrM == null) != (innerLrV == null) || (innerLrM != null && innerLr == null))
            throw new IllegalArgumentException("inner learning rates' Adam state needs both moments and the rates");
        checkLength("theta", theta, layout);
        if ((adamM == null) != (adamV == null))
            throw new IllegalArgumentException("Adam state needs both moments or neither");
        if (adamM != null) {
            checkLength("Adam's first moment", adamM, layout);
            checkLength("Adam's second moment", adamV, layout);
        }
        String dtype = float64 ? Safetensors.F64 : Safetensors.F32;
        Map<String, Safetensors.Tensor> out = new LinkedHashMap<>();
        putLayout(out, "", layout, theta, dtype);
        if (innerLr != null) putInnerLr(out, INNER_LR, layout, innerLr, dtype);
        if (adamM != null) {
            putLayout(out, EXP_AVG, layout, adamM, dtype);
            putLayout(out, EXP_AVG_SQ, layout, adamV, dtype);
        }
        if (innerLrM != null) {
            putInnerLr(out, EXP_AVG + INNER_LR, layout, innerLrM, dtype);
            putInnerLr(out, EXP_AVG_SQ + INNER_LR, layout, innerLrV, dtype);
        }
        Safetensors.write(path, out, metadata);
    }

    /** Writes theta-shaped values (gradients, an initialisation) under the layout's names only. */
    public static void writeParams(
            Path path, ParamLayout layout, double[] values, boolean float64, Map<String, String> metadata) {
        write(path, layout, values, null, null, null, metadata, float64);
    }

    /** Reads a whole checkpoint. */
    public static Loaded read(Path path) {
        return read(path, true);
    }

    /**
     * Reads a checkpoint; without the optimizer state when {@code withOptimizer} is false, which
     * saves two thirds of the memory and reading for sampling and evaluation.
     */
    public static Loaded read(Path path, boolean withOptimizer) {
        Safetensors.Contents c =
                withOptimizer ? Safetensors.read(path) : Safetensors.read(path, name -> !name.startsWith(OPTIMIZER));
        return new Loaded(c, withOptimizer);
    }

    private static void checkLength(String what, double[] v, ParamLayout layout) {
        if (v == null) throw new IllegalArgumentException(what + " is null");
        if (v.length != layout.size())
            throw new IllegalArgumentException(
                    what + " has " + v.length + " values but the model has " + layout.size() + " parameters");
    }

    private static void putLayout(
            Map<String, Safetensors.Tensor> out, String prefix, ParamLayout layout, double[] flat, String dtype) {
        for (ParamLayout.Tensor t : layout.tensors())
            out.put(prefix + t.name(), Safetensors.Tensor.of(dtype, t.shape(), flat, t.offset()));
    }

    private static void putInnerLr(
            Map<String, Safetensors.Tensor> out,
            String prefix,
            ParamLayout layout,
            Map<String, double[]> innerLr,
            String dtype) {
        for (String name : innerLr.keySet())
            if (layout.tensor(name) == null)
                throw new IllegalArgumentException(
                        "inner learning rate for " + name + ", which is not a parameter of the model");
        // Layout order, so that files do not depend on the map's iteration order.
        for (ParamLayout.Tensor t : layout.tensors()) {
            double[] lr = innerLr.get(t.name());
            if (lr == null) continue;
            int[] shape;
            if (lr.length == t.numel()) shape = t.shape();
            else if (lr.length == 1) shape = new int[] {1};
            else
                throw new IllegalArgumentException("inner learning rate for " + t.name() + " has " + lr.length
                        + " values; it needs 1 or " + t.numel());
            out.put(prefix + t.name(), Safetensors.Tensor.of(dtype, shape, lr, 0));
        }
    }

    /** A checkpoint read from disk. Accessors gather tensors by name and check them against a layout. */
    public static final class Loaded {
        private final Safetensors.Contents contents;
        private final boolean withOptimizer;

        private Loaded(Safetensors.Contents contents, boolean withOptimizer) {
            this.contents = contents;
            this.withOptimizer = withOptimizer;
        }

        public Path path() {
            return contents.path();
        }

        public Map<String, String> metadata() {
            return contents.metadata();
        }

        /** Whether the file holds a tensor of this name (loaded or not). */
        public boolean has(String name) {
            for (Safetensors.TensorInfo t : contents.index()) if (t.name().equals(name)) return true;
            return false;
        }

        /** Every tensor in the file, in the order of their data: name, dtype, shape. */
        public List<Safetensors.TensorInfo> tensors() {
            return contents.index();
        }

        /** Whether the file holds Adam's moments (even when they were not loaded). */
        public boolean hasOptimizerState() {
            for (Safetensors.TensorInfo t : contents.index()) if (t.name().startsWith(OPTIMIZER)) return true;
            return false;
        }

        /**
         * Theta as one flat vector laid out by {@code layout}. Every parameter must be present with
         * its shape, and the file must hold no parameter the model lacks, so that a checkpoint of
         * a different model is never half loaded.
         */
        public double[] params(ParamLayout layout) {
            for (Safetensors.TensorInfo t : contents.index()) {
                String n = t.name();
                if (n.startsWith(OPTIMIZER) || n.startsWith(INNER_LR)) continue;
                if (layout.tensor(n) == null)
                    throw fail("tensor " + n + " " + t.shapeString()
                            + " is not a parameter of this model (is it a checkpoint of this model?)");
            }
            return gather(layout, "");
        }

        /** Adam's first moment laid out like theta, or null when the file has no optimizer state. */
        public double[] adamM(ParamLayout layout) {
            return optimizer(layout, EXP_AVG);
        }

        /** Adam's second moment laid out like theta, or null when the file has no optimizer state. */
        public double[] adamV(ParamLayout layout) {
            return optimizer(layout, EXP_AVG_SQ);
        }

        /**
         * Learned inner learning rates by parameter name, in layout order: one value per tensor or
         * one per element. Empty when the file has none.
         */
        public Map<String, double[]> innerLr(ParamLayout layout) {
            return innerLr(layout, INNER_LR);
        }

        /**
         * The Adam moments of learned inner learning rates ({@link #EXP_AVG} or {@link #EXP_AVG_SQ}),
         * by parameter name; empty when the file has none.
         */
        public Map<String, double[]> innerLrMoment(ParamLayout layout, String moment) {
            if (!withOptimizer)
                throw new IllegalStateException("checkpoint " + path() + " was read without its optimizer state");
            return innerLr(layout, moment + INNER_LR);
        }

        private Map<String, double[]> innerLr(ParamLayout layout, String prefix) {
            Map<String, double[]> out = new LinkedHashMap<>();
            for (Safetensors.TensorInfo t : contents.index()) {
                if (!t.name().startsWith(prefix)) continue;
                String p = t.name().substring(prefix.length());
                if (layout.tensor(p) == null)
                    throw fail("tensor " + t.name() + " is a learning rate for " + p
                            + ", which is not a parameter of this model");
            }
            for (ParamLayout.Tensor p : layout.tensors()) {
                Safetensors.Tensor t = contents.tensors().get(prefix + p.name());
                if (t == null) continue;
                boolean perTensor = t.numel() == 1 && t.shape().length <= 1;
                if (!perTensor && !sameShape(t.shape(), p.shape()))
                    throw fail("tensor " + prefix + p.name() + " has shape " + t.shapeString()
                            + ", the model needs [1] or " + p.shapeString());
                out.put(p.name(), t.values());
            }
            return Collections.unmodifiableMap(out);
        }

        /** The values of one tensor by its full name, or null when the file has none loaded. */
        public double[] tensor(String name) {
            Safetensors.Tensor t = contents.tensors().get(name);
            return t == null ? null : t.values().clone();
        }

        private double[] optimizer(ParamLayout layout, String prefix) {
            if (!hasOptimizerState()) return null;
            if (!withOptimizer)
                throw new IllegalStateException("checkpoint " + path() + " was read without its optimizer state");
            for (Safetensors.TensorInfo t : contents.index()) {
                String n = t.name();
                if (n.startsWith(prefix + INNER_LR)) continue;
                if (n.startsWith(prefix) && layout.tensor(n.substring(prefix.length())) == null)
                    throw fail("tensor " + n + " is optimizer state for a parameter this model does not have");
            }
            return gather(layout, prefix);
        }

        private double[] gather(ParamLayout layout, String prefix) {
            double[] out = new double[layout.size()];
            for (ParamLayout.Tensor p : layout.tensors()) {
                String name = prefix + p.name();
                Safetensors.Tensor t = contents.tensors().get(name);
                if (t == null) {
                    String why = prefix.isEmpty()
                            ? " (is it a checkpoint of this model?)"
                            : " (the optimizer state is incomplete)";
                    throw fail("no tensor " + name + why);
                }
                if (!sameShape(t.shape(), p.shape()))
                    throw fail((prefix.isEmpty() ? "parameter " : "tensor ") + name + " has shape " + t.shapeString()
                            + ", the model needs " + p.shapeString());
                System.arraycopy(t.data(), t.offset(), out, p.offset(), p.numel());
            }
            return out;
        }

        private CheckpointException fail(String message) {
            return new CheckpointException("checkpoint " + path() + ": " + message);
        }
    }

    private static boolean sameShape(long[] a, int[] b) {
        if (a.length != b.length) return false;
        for (int i = 0; i < a.length; i++) if (a[i] != b[i]) return false;
        return true;
    }

    /**
     * Refuses a NaN or infinite value, naming its tensor (which: what the values are, e.g. " (Adam's first
     * moment)") and element: nothing can be trained, sampled or differentiated from it.
     */
    public static void requireFinite(String source, ParamLayout layout, double[] values, String which) {
        for (ParamLayout.Tensor t : layout.tensors())
            for (int i = t.offset(); i < t.offset() + t.numel(); i++)
                if (!Double.isFinite(values[i]))
                    throw new CheckpointException(source + ": tensor " + t.name() + which + " holds " + values[i]
                            + " (element " + (i - t.offset()) + "); it cannot be used");
    }
}
