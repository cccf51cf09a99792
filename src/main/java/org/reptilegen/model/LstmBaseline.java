package org.reptilegen.model;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The baseline of README, The LSTM baseline: an ordinary recurrent model trained by backpropagation through
 * time, with one set of weights for the whole batch. At step t it reads the task's position x_t and the
 * previous target y_{t-1} (0 at t = 0) through one embedding table each, concatenated; a stack of
 * {@code layers} LSTMs of width {@code hidden} (PyTorch's nn.LSTM: gates i, f, g, o) from trainable initial
 * states; a linear output layer to the task's logits.
 *
 * <p>Images: x_embed (row), y_embed (column), prev_embed (the previous pixel, 2 rows). Text: pos_embed
 * (max_len rows, one per position) and prev_embed (256 rows, the previous byte). Parameter names and
 * shapes are those of the reference PyTorch module's state_dict, so load_state_dict takes a checkpoint.
 *
 * @param positions rows of the position table: 28 for images, max_len for text
 * @param stopGrad  cut the gradient through the recurrent state after every step (the state is carried
 *                  forward as a constant, as the reference's detach() does)
 */
public record LstmBaseline(TaskKind task, int embed, int hidden, int layers, boolean stopGrad, int positions) {

    public static final String HIDDEN_H = "hidden_0", HIDDEN_C = "hidden_1";
    public static final String OUT_WEIGHT = "out_layer.weight", OUT_BIAS = "out_layer.bias";

    public LstmBaseline {
        if (embed < 1 || hidden < 1 || layers < 1 || positions < 1)
            throw new ModelException("lstm_baseline: embed, hidden, layers and positions must be positive");
    }

    /** The embedding tables in input order: (name, rows). */
    public List<Map.Entry<String, Integer>> tables() {
        List<Map.Entry<String, Integer>> t = new ArrayList<>();
        if (task == TaskKind.MNIST) {
            t.add(Map.entry("x_embed.weight", TaskKind.IMAGE_SIDE));
            t.add(Map.entry("y_embed.weight", TaskKind.IMAGE_SIDE));
            t.add(Map.entry("prev_embed.weight", 2));
        } else {
            t.add(Map.entry("pos_embed.weight", positions));
            t.add(Map.entry("prev_embed.weight", 256));
        }
        return t;
    }

    /** Width of the LSTM's input: one embedding per table. */
    public int inputWidth() {
        return tables().size() * embed;
    }

    /** Input width of LSTM layer k. */
    public int layerInput(int k) {
        return k == 0 ? inputWidth() : hidden;
    }

    public static String weightIh(int k) {
        return "rnn.weight_ih_l" + k;
    }

    public static String weightHh(int k) {
        return "rnn.weight_hh_l" + k;
    }

    public static String biasIh(int k) {
        return "rnn.bias_ih_l" + k;
    }

    public static String biasHh(int k) {
        return "rnn.bias_hh_l" + k;
    }

    /**
     * The tensors in the order of the reference module's state_dict (its own parameters, then its
     * submodules'), each with PyTorch's default initialisation: Embedding N(0, 1); LSTM every tensor
     * U(+-1/sqrt(hidden)); Linear U(+-1/sqrt(in)); the initial states zero.
     */
    public ParamLayout layout() {
        ParamLayout.Builder b = new ParamLayout.Builder();
        b.add(HIDDEN_H, Init.constant(0), layers, hidden);
        b.add(HIDDEN_C, Init.constant(0), layers, hidden);
        for (Map.Entry<String, Integer> t : tables()) b.add(t.getKey(), Init.normal(), t.getValue(), embed);
        double r = 1 / Math.sqrt(hidden);
        for (int k = 0; k < layers; k++) {
            b.add(weightIh(k), Init.uniform(r), 4 * hidden, layerInput(k));
            b.add(weightHh(k), Init.uniform(r), 4 * hidden, hidden);
            b.add(biasIh(k), Init.uniform(r), 4 * hidden);
            b.add(biasHh(k), Init.uniform(r), 4 * hidden);
        }
        double o = 1 / Math.sqrt(hidden);
        b.add(OUT_WEIGHT, Init.uniform(o), task.logits, hidden);
        b.add(OUT_BIAS, Init.uniform(o), task.logits);
        return b.build();
    }

    /** The config-file form: {lstm_baseline: {embed, hidden, layers, stop_grad}} (text's positions come from max_len). */
    public Object toConfig() {
        Map<String, Object> args = new LinkedHashMap<>();
        args.put("embed", embed);
        args.put("hidden", hidden);
        args.put("layers", layers);
        args.put("stop_grad", stopGrad);
        return Map.of("lstm_baseline", args);
    }
}
