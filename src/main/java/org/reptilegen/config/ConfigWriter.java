package org.reptilegen.config;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.regex.Pattern;

/**
 * Writes a config with every value resolved, as JSON (for checkpoints) or as YAML in the style
 * of the shipped files: one line per setting, one flow-style line per layer.
 */
final class ConfigWriter {
    private ConfigWriter() {}

    private static final Pattern PLAIN = Pattern.compile("[A-Za-z_/][A-Za-z0-9_./-]*");
    /** Words a YAML 1.1 reader takes for booleans or null, so they must be quoted. */
    private static final List<String> RESERVED = List.of("y", "n", "yes", "no", "on", "off", "true", "false", "null");

    static ObjectNode tree(Config c) {
        ObjectNode t = Config.JSON.createObjectNode();
        t.put("task", c.task().configName());
        t.set("model", Config.JSON.valueToTree(c.model().toConfig()));
        t.put("algorithm", TreeReader.name(c.algorithm()));
        t.put("meta_batch", c.metaBatch());
        if (c.innerLr().learned()) {
            ObjectNode lr = t.putObject("inner_lr");
            lr.put("learned", TreeReader.name(c.innerLr().mode()));
            lr.put("init", c.innerLr().init());
        } else {
            t.put("inner_lr", c.innerLr().init());
        }
        ObjectNode outer = t.putObject("outer");
        outer.put("lr", c.outerLr());
        outer.put("beta1", c.beta1());
        outer.put("beta2", c.beta2());
        outer.put("eps", c.eps());
        t.put("steps", c.steps());
        t.put("seed", c.seed());
        t.put("checkpoint_every", c.checkpointEvery());
        t.put("log_every", c.logEvery());
        t.put("maml_segment", c.mamlSegment());
        t.put("precision", TreeReader.name(c.precision()));
        if (c.data() == null) t.putNull("data");
        else t.put("data", c.data());
        // Only the keys of the config's own task: the parser rejects the other task's keys.
        switch (c.task()) {
            case TEXT -> t.put("max_len", c.maxLen());
            case MNIST -> t.put("order", TreeReader.name(c.order()));
        }
        t.put("eval_tasks", c.evalTasks());
        t.put("eval_every", c.evalEvery());
        return t;
    }

    static String json(Config c) {
        try {
            return Config.JSON.writeValueAsString(tree(c));
        } catch (JsonProcessingException e) {
            throw new IllegalStateException(e);
        }
    }

    static String yaml(Config c) {
        StringBuilder sb = new StringBuilder();
        for (Iterator<Map.Entry<String, JsonNode>> it = tree(c).fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> e = it.next();
            if (e.getKey().equals("model") && e.getValue().isObject()) {
                sb.append("model: ").append(flow(e.getValue())).append('\n');
            } else if (e.getKey().equals("model")) {
                sb.append("model:\n");
                for (JsonNode layer : e.getValue()) {
                    sb.append("  - ");
                    if (layer.isObject()) {
                        Map.Entry<String, JsonNode> only = layer.fields().next();
                        sb.append(only.getKey()).append(": ").append(flow(only.getValue()));
                    } else {
                        sb.append(flow(layer));
                    }
                    sb.append('\n');
                }
            } else {
                sb.append(e.getKey()).append(": ").append(flow(e.getValue())).append('\n');
            }
        }
        return sb.toString();
    }

    /** A value in YAML flow style; JSON's string quoting is valid YAML, so it serves for odd strings. */
    private static String flow(JsonNode n) {
        if (n.isObject()) {
            StringBuilder sb = new StringBuilder("{");
            for (Iterator<Map.Entry<String, JsonNode>> it = n.fields(); it.hasNext(); ) {
                Map.Entry<String, JsonNode> e = it.next();
                sb.append(e.getKey()).append(": ").append(flow(e.getValue()));
                if (it.hasNext()) sb.append(", ");
            }
            return sb.append('}').toString();
        }
        if (n.isArray()) {
            StringBuilder sb = new StringBuilder("[");
            for (int i = 0; i < n.size(); i++) {
                if (i > 0) sb.append(", ");
                sb.append(flow(n.get(i)));
            }
            return sb.append(']').toString();
        }
        if (n.isTextual()) {
            String s = n.textValue();
            boolean plain = PLAIN.matcher(s).matches() && !RESERVED.contains(s.toLowerCase());
            return plain ? s : n.toString();
        }
        if (n.isFloatingPointNumber()) return number(n.doubleValue());
        return n.asText();
    }

    /**
     * Java's shortest round-trip form, with the exponent signed ("1.0e+8", not "1.0E8"): YAML 1.1
     * readers take an unsigned exponent for a string.
     */
    static String number(double d) {
        String s = Double.toString(d);
        int e = s.indexOf('E');
        if (e < 0) return s;
        String exp = s.substring(e + 1);
        return s.substring(0, e) + "e" + (exp.startsWith("-") ? exp : "+" + exp);
    }
}
