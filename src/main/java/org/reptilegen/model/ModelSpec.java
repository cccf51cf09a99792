package org.reptilegen.model;

import java.util.ArrayList;
import java.util.List;

/**
 * A task kind and its stack of layers, checked to chain from the task's input to its logits; or, with
 * {@code baseline} set and no layers, the LSTM baseline trained by backpropagation.
 */
public record ModelSpec(TaskKind task, List<LayerSpec> layers, LstmBaseline baseline) {

    public ModelSpec(TaskKind task, List<LayerSpec> layers) {
        this(task, layers, null);
    }

    /** The LSTM baseline as a model. */
    public static ModelSpec of(LstmBaseline baseline) {
        return new ModelSpec(baseline.task(), List.of(), baseline);
    }

    public ModelSpec {
        layers = List.copyOf(layers);
        if (baseline != null) {
            if (!layers.isEmpty()) throw new ModelException("lstm_baseline is a whole model; it takes no other layers");
            if (baseline.task() != task)
                throw new ModelException(
                        "lstm_baseline for " + baseline.task().configName() + " in a " + task.configName() + " model");
        } else {
            checkLayers(task, layers);
        }
    }

    private static void checkLayers(TaskKind task, List<LayerSpec> layers) {
        if (layers.isEmpty()) throw new ModelException("model has no layers");
        int out = LayerSpec.chain(layers, task.inputDim, "");
        if (out != task.logits)
            throw new ModelException("model ends with width " + out + " but a " + task.configName() + " task needs "
                    + task.logits + " output" + (task.logits == 1 ? "" : "s"));
        if (!(layers.get(0) instanceof LayerSpec.Embed) && !(layers.get(0) instanceof LayerSpec.D2c))
            throw new ModelException("module_0 (" + layers.get(0).type()
                    + "): the first layer must be embed or d2c, which turn the integer inputs into vectors");
        checkInputLayersFirst(layers.subList(1, layers.size()), "", 1);
    }

    private static void checkInputLayersFirst(List<LayerSpec> layers, String prefix, int first) {
        for (int j = 0; j < layers.size(); j++) {
            LayerSpec l = layers.get(j);
            String where = prefix + "module_" + (j + first);
            if (l instanceof LayerSpec.Embed || l instanceof LayerSpec.D2c)
                throw new ModelException(where + " (" + l.type() + "): " + l.type()
                        + " reads the integer inputs and can only be the first layer");
            if (l instanceof LayerSpec.Residual r) checkInputLayersFirst(r.layers(), where + ".", 0);
            if (l instanceof LayerSpec.GatedResidual g) checkInputLayersFirst(g.layers(), where + ".", 0);
        }
    }

    /** The parameter layout, names as the reference implementation's state_dict. */
    public ParamLayout layout() {
        if (baseline != null) return baseline.layout();
        ParamLayout.Builder b = new ParamLayout.Builder();
        LayerSpec.declareAll(layers, "", b);
        return b.build();
    }

    /** Width after each layer; widths()[0] is the input width. */
    public int[] widths() {
        if (baseline != null) return new int[] {task.inputDim, task.logits};
        int[] w = new int[layers.size() + 1];
        w[0] = task.inputDim;
        for (int i = 0; i < layers.size(); i++) w[i + 1] = layers.get(i).outDim(w[i], "module_" + i);
        return w;
    }

    /** Whether this is the LSTM baseline, not a stack of layers for meta-learning. */
    public boolean isBaseline() {
        return baseline != null;
    }

    /**
     * Why the model cannot read input x (its length, or an integer past its embedding table's rows), or
     * null when it can: an embedding looked up out of range fails deep inside an engine, or reads another
     * task's memory on a GPU.
     */
    public String inputError(int[] x) {
        if (x.length != task.inputDim) return "x has " + x.length + " integers, the model reads " + task.inputDim;
        if (baseline != null)
            for (int j = 0; j < x.length; j++) {
                var table = baseline.tables().get(j);
                if (x[j] < 0 || x[j] >= table.getValue())
                    return "input " + j + " is " + x[j] + " but " + table.getKey() + " has rows 0.."
                            + (table.getValue() - 1);
            }
        if (!layers.isEmpty() && layers.get(0) instanceof LayerSpec.Embed e)
            for (int j = 0; j < x.length; j++)
                if (x[j] < 0 || x[j] >= e.tables().get(j)[0])
                    return "input " + j + " is " + x[j] + " but embed table " + j + " has rows 0.."
                            + (e.tables().get(j)[0] - 1);
        return null;
    }

    /** The config-file form of the layer list (the baseline's map). */
    public Object toConfig() {
        if (baseline != null) return baseline.toConfig();
        List<Object> out = new ArrayList<>();
        for (LayerSpec l : layers) out.add(l.toConfig());
        return out;
    }
}
