package org.reptilegen.config;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.util.List;
import org.reptilegen.core.Algorithm;
import org.reptilegen.core.InnerLr;
import org.reptilegen.model.LstmBaseline;
import org.reptilegen.model.ModelSpec;
import org.reptilegen.model.TaskKind;

/**
 * Reads {@code model: {lstm_baseline: {embed, hidden, layers, stop_grad}}} (or the bare name, all
 * defaults): the LSTM baseline instead of a list of layers. Defaults are the reference's: 128-wide
 * embeddings, 3 layers of 256, the gradient through time kept.
 */
final class BaselineParser {
    static final String NAME = "lstm_baseline";
    static final List<String> KEYS = List.of("embed", "hidden", "layers", "stop_grad");

    private BaselineParser() {}

    /** The baseline's arguments; the text task's positions come from max_len, read later. */
    record Args(int embed, int hidden, int layers, boolean stopGrad) {
        ModelSpec spec(TaskKind task, int maxLen) {
            return ModelSpec.of(new LstmBaseline(
                    task, embed, hidden, layers, stopGrad, task == TaskKind.TEXT ? maxLen : TaskKind.IMAGE_SIDE));
        }
    }

    /** The baseline's arguments when the model node names it, else null (a list of layers). */
    static Args read(TreeReader in, JsonNode model) {
        if (model.isTextual() && model.textValue().equals(NAME)) return new Args(128, 256, 3, false);
        if (!model.isObject()) return null;
        String at = "model." + NAME;
        if (model.size() != 1 || !model.has(NAME))
            throw in.fail("model", "expected a list of layers, or {" + NAME + ": {embed, hidden, layers, stop_grad}}");
        JsonNode args = model.get(NAME);
        if (TreeReader.absent(args)) return new Args(128, 256, 3, false);
        ObjectNode m = in.map(args, at, "a map {embed, hidden, layers, stop_grad}");
        in.checkKeys(m, at, KEYS, "argument", "known: " + String.join(", ", KEYS));
        int embed = TreeReader.absent(m.get("embed")) ? 128 : in.intValue(m.get("embed"), at + ".embed", 1);
        int hidden = TreeReader.absent(m.get("hidden")) ? 256 : in.intValue(m.get("hidden"), at + ".hidden", 1);
        int layers = TreeReader.absent(m.get("layers")) ? 3 : in.intValue(m.get("layers"), at + ".layers", 1);
        JsonNode sg = m.get("stop_grad");
        if (!TreeReader.absent(sg) && !sg.isBoolean())
            throw in.fail(at + ".stop_grad", "expected true or false, got " + TreeReader.describe(sg));
        boolean stopGrad = !TreeReader.absent(sg) && sg.booleanValue();
        return new Args(embed, hidden, layers, stopGrad);
    }

    /** The meta-learning settings mean nothing to a model trained by backpropagation: refuse any but their defaults. */
    static void checkMetaKeys(TreeReader in, Algorithm algorithm, InnerLr innerLr, int mamlSegment) {
        String why = " applies to meta-learned models; the lstm baseline trains by backpropagation";
        if (algorithm != Algorithm.REPTILE) throw in.fail("algorithm", algorithm.configName() + why);
        if (innerLr.learned()) throw in.fail("inner_lr", "learned rates" + why);
        if (mamlSegment != 0) throw in.fail("maml_segment", "maml_segment" + why);
    }
}
