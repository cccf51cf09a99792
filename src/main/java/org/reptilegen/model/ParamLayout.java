package org.reptilegen.model;

import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Where every named parameter tensor lives in a task's flat parameter vector.
 *
 * <p>A model's parameters are one contiguous vector of {@link #size()} elements; tensor k occupies
 * [offset, offset + numel) in row-major order with PyTorch's shapes (a linear weight is [out, in]).
 * B tasks are B such vectors back to back ([B x P]). Both engines use this layout, and checkpoints
 * name tensors with it, so it is written once here.
 */
public final class ParamLayout {

    /** One named tensor. */
    public record Tensor(String name, int[] shape, int offset, int numel, Init init) {
        public String shapeString() {
            StringBuilder sb = new StringBuilder("[");
            for (int i = 0; i < shape.length; i++) {
                if (i > 0) sb.append(", ");
                sb.append(shape[i]);
            }
            return sb.append(']').toString();
        }
    }

    private final List<Tensor> tensors;
    private final Map<String, Tensor> byName;
    private final int size;

    private ParamLayout(List<Tensor> tensors) {
        this.tensors = Collections.unmodifiableList(tensors);
        Map<String, Tensor> m = new LinkedHashMap<>();
        int n = 0;
        for (Tensor t : tensors) {
            if (m.put(t.name(), t) != null) throw new ModelException("duplicate parameter name " + t.name());
            n += t.numel();
        }
        this.byName = Collections.unmodifiableMap(m);
        this.size = n;
    }

    public List<Tensor> tensors() {
        return tensors;
    }

    public Tensor tensor(String name) {
        return byName.get(name);
    }

    /** The offset of the tensor of that name; a missing name is a bug in the engine that asks. */
    public int offset(String name) {
        Tensor t = byName.get(name);
        if (t == null) throw new IllegalStateException("the layout has no parameter " + name);
        return t.offset();
    }

    /**
     * The offset of the first of these tensors, after checking that each of the others starts where the one
     * before it ends: for a layer whose code reads its parameters as one block (the CPU layers, lstm.cu).
     */
    public int packed(String... names) {
        int start = offset(names[0]), end = start + byName.get(names[0]).numel();
        for (int i = 1; i < names.length; i++) {
            if (offset(names[i]) != end)
                throw new IllegalStateException(names[i] + " does not follow " + names[i - 1] + " in the layout");
            end += byName.get(names[i]).numel();
        }
        return start;
    }

    /** Number of parameters of one task (P). */
    public int size() {
        return size;
    }

    /** Builds a layout by appending tensors in order. */
    public static final class Builder {
        private final List<Tensor> tensors = new ArrayList<>();
        private long next;

        /** Appends a tensor and returns its offset. */
        public int add(String name, Init init, int... shape) {
            long numel = 1;
            for (int d : shape) {
                if (d <= 0) throw new ModelException("parameter " + name + " has a non-positive dimension " + d);
                numel *= d;
            }
            if (next + numel > Integer.MAX_VALUE - 8) throw new ModelException("model too large: over 2^31 parameters");
            int off = (int) next;
            tensors.add(new Tensor(name, shape.clone(), off, (int) numel, init));
            next += numel;
            return off;
        }

        public ParamLayout build() {
            return new ParamLayout(tensors);
        }
    }
}
