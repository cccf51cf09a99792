package org.reptilegen.core;

import java.util.LinkedHashMap;
import java.util.Map;
import org.reptilegen.model.ParamLayout;

/**
 * How the inner learning rates lie over the parameters: one fixed rate, or learned ones (Meta-SGD), one
 * per parameter tensor or one per element.
 * The inner step is theta <- theta - alpha * grad elementwise, so every algorithm works with the
 * per-element vector; per-tensor rates are expanded to it, and their gradients summed back.
 */
public final class InnerLrLayout {
    private final ParamLayout layout;
    private final InnerLr.Mode mode;

    public InnerLrLayout(ParamLayout layout, InnerLr.Mode mode) {
        this.layout = layout;
        this.mode = mode;
    }

    public boolean learned() {
        return mode != InnerLr.Mode.FIXED;
    }

    public InnerLr.Mode mode() {
        return mode;
    }

    /** Number of learned values: tensors, or parameters. */
    public int size() {
        return switch (mode) {
            case FIXED -> 0;
            case PER_TENSOR -> layout.tensors().size();
            case PER_ELEMENT -> layout.size();
        };
    }

    /** The initial rates, every one alpha; null for a fixed rate. */
    public double[] initial(double alpha) {
        if (!learned()) return null;
        double[] r = new double[size()];
        java.util.Arrays.fill(r, alpha);
        return r;
    }

    /** rates -> one rate per parameter element. */
    public void expand(double[] rates, double[] perElement) {
        if (mode == InnerLr.Mode.PER_ELEMENT) {
            System.arraycopy(rates, 0, perElement, 0, perElement.length);
            return;
        }
        int k = 0;
        for (ParamLayout.Tensor t : layout.tensors()) {
            java.util.Arrays.fill(perElement, t.offset(), t.offset() + t.numel(), rates[k++]);
        }
    }

    /** A gradient with respect to the per-element rates -> the gradient of the learned rates. */
    public void reduce(double[] perElement, double[] out) {
        if (mode == InnerLr.Mode.PER_ELEMENT) {
            System.arraycopy(perElement, 0, out, 0, out.length);
            return;
        }
        int k = 0;
        for (ParamLayout.Tensor t : layout.tensors()) {
            double s = 0;
            for (int i = t.offset(); i < t.offset() + t.numel(); i++) s += perElement[i];
            out[k++] = s;
        }
    }

    /** By parameter name, as checkpoints store them ({@code inner_lr.<name>}). */
    public Map<String, double[]> byName(double[] rates) {
        Map<String, double[]> m = new LinkedHashMap<>();
        int k = 0;
        for (ParamLayout.Tensor t : layout.tensors()) {
            if (mode == InnerLr.Mode.PER_TENSOR) m.put(t.name(), new double[] {rates[k++]});
            else m.put(t.name(), java.util.Arrays.copyOfRange(rates, t.offset(), t.offset() + t.numel()));
        }
        return m;
    }

    /** The inverse of {@link #byName}; a missing name or a wrong length is an error naming it. */
    public double[] fromNames(Map<String, double[]> byName, String source) {
        double[] r = new double[size()];
        int k = 0;
        for (ParamLayout.Tensor t : layout.tensors()) {
            double[] v = byName.get(t.name());
            int want = mode == InnerLr.Mode.PER_TENSOR ? 1 : t.numel();
            if (v == null || v.length != want)
                throw new IllegalArgumentException(source + ": inner learning rate for " + t.name()
                        + (v == null
                                ? " is missing"
                                : " has " + v.length + " values, the config's mode needs " + want));
            if (mode == InnerLr.Mode.PER_TENSOR) r[k++] = v[0];
            else System.arraycopy(v, 0, r, t.offset(), want);
        }
        return r;
    }
}
