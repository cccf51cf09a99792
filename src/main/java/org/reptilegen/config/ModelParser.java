package org.reptilegen.config;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.util.ArrayList;
import java.util.List;
import org.reptilegen.model.LayerSpec;
import org.reptilegen.model.LayerSpec.Activation.Kind;

/**
 * Reads the {@code model} list of the README's Configs section: each entry a bare layer name, or a one-key map
 * from the name to its arguments. Widths are only checked here for sign; whether they chain is
 * {@link org.reptilegen.model.ModelSpec}'s job.
 */
final class ModelParser {

    /** Layer names in the order of README, The math, 2. */
    static final List<String> LAYERS = List.of(
            "embed",
            "d2c",
            "linear",
            "relu",
            "tanh",
            "sigmoid",
            "gated",
            "layernorm",
            "lstm_block",
            "siren",
            "residual",
            "gated_residual");

    private final TreeReader in;

    ModelParser(TreeReader in) {
        this.in = in;
    }

    /** A non-empty list of layers at {@code path} ("model", "model[4].residual.layers"). */
    List<LayerSpec> layers(JsonNode n, String path) {
        ArrayNode list = in.list(n, path, "a list of layers");
        if (list.isEmpty()) throw in.fail(path, "expected at least one layer");
        List<LayerSpec> out = new ArrayList<>();
        for (int i = 0; i < list.size(); i++) out.add(layer(list.get(i), path + "[" + i + "]"));
        return out;
    }

    private LayerSpec layer(JsonNode n, String path) {
        String name;
        JsonNode args;
        if (n.isTextual()) {
            name = n.textValue();
            args = null;
        } else if (n.isObject()) {
            if (n.size() != 1) {
                List<String> keys = new ArrayList<>();
                n.fieldNames().forEachRemaining(keys::add);
                throw in.fail(
                        path,
                        "a layer is a bare name or a map with one key, the layer's name; got "
                                + (keys.isEmpty() ? "an empty map" : "keys " + String.join(", ", keys)));
            }
            name = n.fieldNames().next();
            args = n.get(name);
        } else {
            throw in.fail(
                    path,
                    "expected a layer (a name such as relu, or a map such as linear: {in: 256, out: 256}), got "
                            + TreeReader.describe(n));
        }
        if (!LAYERS.contains(name))
            throw in.fail(path, "unknown layer '" + name + "' (known: " + String.join(", ", LAYERS) + ")");
        List<String> params = params(name);
        String at = path + "." + name;
        if (params.isEmpty()) {
            if (!TreeReader.absent(args) && !(args.isObject() && args.isEmpty()))
                throw in.fail(at, name + " takes no arguments");
        } else {
            if (TreeReader.absent(args)) throw in.fail(path, name + " needs arguments: " + name + ": " + usage(name));
            ObjectNode m = in.map(args, at, "the arguments " + usage(name));
            in.checkKeys(m, at, params, "argument", name + " takes " + usage(name));
            for (String p : params)
                if (TreeReader.absent(m.get(p)))
                    throw in.fail(at + "." + p, "missing (" + name + " takes " + usage(name) + ")");
        }
        return switch (name) {
            case "embed" -> new LayerSpec.Embed(tables(args.get("tables"), at + ".tables"));
            case "d2c" -> new LayerSpec.D2c(width(args, at, "n"));
            case "linear" -> new LayerSpec.Linear(width(args, at, "in"), width(args, at, "out"));
            case "siren" -> new LayerSpec.Siren(width(args, at, "in"), width(args, at, "out"));
            case "relu" -> new LayerSpec.Activation(Kind.RELU);
            case "tanh" -> new LayerSpec.Activation(Kind.TANH);
            case "sigmoid" -> new LayerSpec.Activation(Kind.SIGMOID);
            case "gated" -> new LayerSpec.Gated();
            case "layernorm" -> new LayerSpec.LayerNorm(width(args, at, "dim"));
            case "lstm_block" -> new LayerSpec.LstmBlock(width(args, at, "dim"));
            case "residual" -> new LayerSpec.Residual(layers(args.get("layers"), at + ".layers"));
            case "gated_residual" ->
                new LayerSpec.GatedResidual(width(args, at, "in"), layers(args.get("layers"), at + ".layers"));
            default -> throw new IllegalStateException(name);
        };
    }

    private static List<String> params(String layer) {
        return switch (layer) {
            case "embed" -> List.of("tables");
            case "d2c" -> List.of("n");
            case "linear", "siren" -> List.of("in", "out");
            case "layernorm", "lstm_block" -> List.of("dim");
            case "residual" -> List.of("layers");
            case "gated_residual" -> List.of("in", "layers");
            default -> List.of();
        };
    }

    private static String usage(String layer) {
        return switch (layer) {
            case "embed" -> "{tables: [[rows, width], ...]}";
            case "d2c" -> "{n: ...}";
            case "linear", "siren" -> "{in: ..., out: ...}";
            case "layernorm", "lstm_block" -> "{dim: ...}";
            case "residual" -> "{layers: [...]}";
            case "gated_residual" -> "{in: ..., layers: [...]}";
            default -> "no arguments";
        };
    }

    private int width(JsonNode args, String at, String key) {
        return in.intValue(args.get(key), at + "." + key, 1);
    }

    private List<int[]> tables(JsonNode n, String path) {
        ArrayNode list = in.list(n, path, "a list of [rows, width] pairs");
        if (list.isEmpty()) throw in.fail(path, "expected at least one table");
        List<int[]> out = new ArrayList<>();
        for (int j = 0; j < list.size(); j++) {
            String at = path + "[" + j + "]";
            JsonNode pair = list.get(j);
            if (!pair.isArray() || pair.size() != 2)
                throw in.fail(
                        at,
                        "expected a pair [rows, width], got " + TreeReader.describe(pair)
                                + (pair.isArray() ? " of " + pair.size() : ""));
            out.add(new int[] {in.intValue(pair.get(0), at + "[0]", 1), in.intValue(pair.get(1), at + "[1]", 1)});
        }
        return out;
    }
}
