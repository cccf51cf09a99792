package org.reptilegen.model;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The layer catalogue of README, The math, 2: what each layer is, its widths and its parameters.
 * The math lives in the engines; this is the part both engines and checkpoints share.
 */
public sealed interface LayerSpec {

    /** The layer's name in config files. */
    String type();

    /** Output width for an input of width {@code in}; throws {@link ModelException} if the input does not fit. */
    int outDim(int in, String where);

    /** Appends this layer's parameter tensors under {@code prefix} (e.g. "module_3"). */
    default void declare(String prefix, ParamLayout.Builder b) {}

    /**
     * The name of layer j of a stack under prefix ("" for the model's top level): module_j, or
     * prefix.module_j. The parameter names below hang off it; every engine finds a layer's parameters
     * in the layout by these names.
     */
    static String child(String prefix, int j) {
        return (prefix.isEmpty() ? "" : prefix + ".") + "module_" + j;
    }

    /** The config-file form: a bare name, or a one-key map from the name to its arguments. */
    Object toConfig();

    /** embed(tables): concat_j E_j[x_j]. */
    record Embed(List<int[]> tables) implements LayerSpec {
        /** Table j of the embedding named layer. */
        public static String table(String layer, int j) {
            return child(layer, j) + ".table";
        }

        public String type() {
            return "embed";
        }

        public int outDim(int in, String where) {
            if (in != tables.size())
                throw new ModelException(
                        where + ": embed has " + tables.size() + " tables but its input has " + in + " integers");
            int d = 0;
            for (int[] t : tables) d += t[1];
            return d;
        }

        public void declare(String prefix, ParamLayout.Builder b) {
            for (int j = 0; j < tables.size(); j++)
                b.add(table(prefix, j), Init.normal(), tables.get(j)[0], tables.get(j)[1]);
        }

        public Object toConfig() {
            List<List<Integer>> t = new ArrayList<>();
            for (int[] e : tables) t.add(List.of(e[0], e[1]));
            return Map.of("embed", Map.of("tables", t));
        }
    }

    /** d2c(n): each input integer x becomes x/(n/2) - 1. */
    record D2c(int n) implements LayerSpec {
        public String type() {
            return "d2c";
        }

        public int outDim(int in, String where) {
            return in;
        }

        public Object toConfig() {
            return Map.of("d2c", Map.of("n", n));
        }
    }

    /** linear(in, out): W x + b. */
    record Linear(int in, int out) implements LayerSpec {
        /** The weight [out x in] and bias [out] of a linear named layer (also siren's, an lstm_block gate's). */
        public static String weight(String layer) {
            return layer + ".linear.weight";
        }

        public static String bias(String layer) {
            return layer + ".linear.bias";
        }

        public String type() {
            return "linear";
        }

        public int outDim(int inDim, String where) {
            checkIn(where, "linear", in, inDim);
            return out;
        }

        public void declare(String prefix, ParamLayout.Builder b) {
            double bound = 1.0 / Math.sqrt(in);
            b.add(weight(prefix), Init.uniform(bound), out, in);
            b.add(bias(prefix), Init.uniform(bound), out);
        }

        public Object toConfig() {
            return Map.of("linear", args("in", in, "out", out));
        }
    }

    /** siren(in, out): sin(W x + b). */
    record Siren(int in, int out) implements LayerSpec {
        public String type() {
            return "siren";
        }

        public int outDim(int inDim, String where) {
            checkIn(where, "siren", in, inDim);
            return out;
        }

        public void declare(String prefix, ParamLayout.Builder b) {
            b.add(Linear.weight(prefix), Init.uniform(Math.sqrt(6.0 / in)), out, in);
            b.add(Linear.bias(prefix), Init.constant(0), out);
        }

        public Object toConfig() {
            return Map.of("siren", args("in", in, "out", out));
        }
    }

    /** Elementwise activations without parameters. */
    record Activation(Kind kind) implements LayerSpec {
        public enum Kind {
            RELU,
            TANH,
            SIGMOID
        }

        public String type() {
            return kind.name().toLowerCase();
        }

        public int outDim(int in, String where) {
            return in;
        }

        public Object toConfig() {
            return type();
        }
    }

    /** gated: x[:d] * sigmoid(x[d:]) for an input of width 2d. */
    record Gated() implements LayerSpec {
        public String type() {
            return "gated";
        }

        public int outDim(int in, String where) {
            if (in % 2 != 0) throw new ModelException(where + ": gated needs an even input width, got " + in);
            return in / 2;
        }

        public Object toConfig() {
            return "gated";
        }
    }

    /** layernorm(dim): g * (x - mean) / sqrt(var + 1e-5) + b. */
    record LayerNorm(int dim) implements LayerSpec {
        /** The gain and bias [dim] of a layernorm named layer. */
        public static String gain(String layer) {
            return layer + ".norm.weight";
        }

        public static String bias(String layer) {
            return layer + ".norm.bias";
        }

        public static final double EPS = 1e-5;

        public String type() {
            return "layernorm";
        }

        public int outDim(int in, String where) {
            checkIn(where, "layernorm", dim, in);
            return dim;
        }

        public void declare(String prefix, ParamLayout.Builder b) {
            b.add(gain(prefix), Init.constant(1), dim);
            b.add(bias(prefix), Init.constant(0), dim);
        }

        public Object toConfig() {
            return Map.of("layernorm", Map.of("dim", dim));
        }
    }

    /** lstm_block(dim): an LSTM cell whose state h is a trainable parameter. */
    record LstmBlock(int dim) implements LayerSpec {
        /** The hidden vector [dim] of an lstm_block named layer. */
        public static String hiddenVec(String layer) {
            return layer + ".hidden_vec";
        }

        /** Gate k's linear (2 dim -> dim) of an lstm_block named layer, in the order of GATES. */
        public static String gate(String layer, int k) {
            return layer + "." + GATES[k];
        }

        /** Its parameters in layout order: the hidden vector, then each gate's weight and bias. */
        public static String[] parameters(String layer) {
            String[] out = new String[1 + 2 * GATES.length];
            out[0] = hiddenVec(layer);
            for (int k = 0; k < GATES.length; k++) {
                out[1 + 2 * k] = Linear.weight(gate(layer, k));
                out[2 + 2 * k] = Linear.bias(gate(layer, k));
            }
            return out;
        }

        /** Gate order in the parameter vector and in the fused kernels. */
        public static final String[] GATES = {"forget_gate", "input_gate", "output_gate", "updater"};

        public String type() {
            return "lstm_block";
        }

        public int outDim(int in, String where) {
            checkIn(where, "lstm_block", dim, in);
            return dim;
        }

        public void declare(String prefix, ParamLayout.Builder b) {
            b.add(hiddenVec(prefix), Init.normal(), dim);
            double bound = 1.0 / Math.sqrt(2.0 * dim);
            for (int k = 0; k < GATES.length; k++) {
                b.add(Linear.weight(gate(prefix, k)), Init.uniform(bound), dim, 2 * dim);
                b.add(Linear.bias(gate(prefix, k)), Init.uniform(bound), dim);
            }
        }

        public Object toConfig() {
            return Map.of("lstm_block", Map.of("dim", dim));
        }
    }

    /** residual(layers): layers(x) + x. */
    record Residual(List<LayerSpec> layers) implements LayerSpec {
        public String type() {
            return "residual";
        }

        public int outDim(int in, String where) {
            int out = chain(layers, in, where);
            if (out != in)
                throw new ModelException(
                        where + ": residual's layers map width " + in + " to " + out + "; they must keep it");
            return in;
        }

        public void declare(String prefix, ParamLayout.Builder b) {
            declareAll(layers, prefix, b);
        }

        public Object toConfig() {
            return Map.of("residual", Map.of("layers", configs(layers)));
        }
    }

    /** gated_residual(in, layers): layers(x) * sigmoid(W_g x + b_g). */
    record GatedResidual(int in, List<LayerSpec> layers) implements LayerSpec {
        /** The gate's linear (in -> in) of a gated_residual named layer. */
        public static String gate(String layer) {
            return layer + ".weights";
        }

        public String type() {
            return "gated_residual";
        }

        public int outDim(int inDim, String where) {
            checkIn(where, "gated_residual", in, inDim);
            int out = chain(layers, in, where);
            if (out != in)
                throw new ModelException(
                        where + ": gated_residual's layers map width " + in + " to " + out + "; they must keep it");
            return in;
        }

        public void declare(String prefix, ParamLayout.Builder b) {
            declareAll(layers, prefix, b);
            double bound = 1.0 / Math.sqrt(in);
            b.add(Linear.weight(gate(prefix)), Init.uniform(bound), in, in);
            b.add(Linear.bias(gate(prefix)), Init.uniform(bound), in);
        }

        public Object toConfig() {
            return Map.of("gated_residual", args("in", in, "layers", configs(layers)));
        }
    }

    // ---- helpers shared by the records and by ModelSpec ----

    private static void checkIn(String where, String type, int declared, int actual) {
        if (declared <= 0) throw new ModelException(where + ": " + type + " needs a positive width, got " + declared);
        if (declared != actual)
            throw new ModelException(where + ": " + type + " expects input width " + declared + " but gets " + actual);
    }

    /** Output width of a stack of layers; layer j is reported as "{where}.module_j (type)". */
    static int chain(List<LayerSpec> layers, int in, String where) {
        int w = in;
        for (int j = 0; j < layers.size(); j++) {
            LayerSpec l = layers.get(j);
            w = l.outDim(w, (where.isEmpty() ? "" : where + ".") + "module_" + j + " (" + l.type() + ")");
        }
        return w;
    }

    static void declareAll(List<LayerSpec> layers, String prefix, ParamLayout.Builder b) {
        for (int j = 0; j < layers.size(); j++) layers.get(j).declare(child(prefix, j), b);
    }

    private static List<Object> configs(List<LayerSpec> layers) {
        List<Object> out = new ArrayList<>();
        for (LayerSpec l : layers) out.add(l.toConfig());
        return out;
    }

    private static Map<String, Object> args(String k1, Object v1, String k2, Object v2) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put(k1, v1);
        m.put(k2, v2);
        return m;
    }
}
