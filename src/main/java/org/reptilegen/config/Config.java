package org.reptilegen.config;

import com.fasterxml.jackson.core.JacksonException;
import com.fasterxml.jackson.core.JsonLocation;
import com.fasterxml.jackson.core.StreamReadFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.json.JsonMapper;
import com.fasterxml.jackson.databind.node.NullNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import com.fasterxml.jackson.dataformat.yaml.YAMLMapper;
import com.fasterxml.jackson.dataformat.yaml.YAMLParser;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.InvalidPathException;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.reptilegen.core.Algorithm;
import org.reptilegen.core.InnerLr;
import org.reptilegen.core.PixelOrder;
import org.reptilegen.core.Precision;
import org.reptilegen.model.LayerSpec;
import org.reptilegen.model.ModelException;
import org.reptilegen.model.ModelSpec;
import org.reptilegen.model.TaskKind;
import org.reptilegen.util.BoundedRead;
import org.reptilegen.util.Bytes;
import org.reptilegen.util.IoErrors;

/**
 * An immutable training configuration: the task, the model (README, The math, 2) and how to meta-train
 * it. Read from YAML (the README's Configs section fixes {@code task} and {@code model}; every other key is
 * optional, and a key given as null takes its default).
 *
 * <p>The JSON form ({@link #toJson()}) spells out every resolved value, so a checkpoint that
 * stores it trains the same way even if the defaults change later.
 */
public final class Config {

    /** The top-level keys, in the order {@link #toJson()} and {@link #toYaml()} write them. */
    static final List<String> KEYS = List.of(
            "task",
            "model",
            "algorithm",
            "meta_batch",
            "inner_lr",
            "outer",
            "steps",
            "seed",
            "checkpoint_every",
            "log_every",
            "maml_segment",
            "precision",
            "data",
            "max_len",
            "order",
            "eval_tasks",
            "eval_every");

    static final List<String> OUTER_KEYS = List.of("lr", "beta1", "beta2", "eps");
    static final List<String> INNER_LR_KEYS = List.of("learned", "init");

    /** The configs shipped with the program, loadable by name (see {@link #resolve}). */
    public static final List<String> BUILT_IN = List.of(
            "mnist-gated-reptile",
            "mnist-lstm-baseline",
            "mnist-lstm-maml",
            "mnist-lstm-reptile",
            "mnist-siren-reptile",
            "small-mnist-lstm-baseline",
            "small-mnist-lstm-maml",
            "small-mnist-lstm-reptile",
            "text-lstm-baseline",
            "text-mlp-reptile",
            "tiny-mnist",
            "tiny-mnist-maml",
            "tiny-text");

    /** Where mnist data is looked for when the config names none. */
    public static final String DEFAULT_MNIST_DATA = "data/mnist";

    /** "key:" with nothing after it is null in YAML, so it takes the default like "key: null". */
    static final YAMLMapper YAML = new YAMLMapper(YAMLFactory.builder()
            .enable(StreamReadFeature.STRICT_DUPLICATE_DETECTION)
            .enable(YAMLParser.Feature.EMPTY_STRING_AS_NULL)
            .build());

    static final JsonMapper JSON = JsonMapper.builder()
            .enable(StreamReadFeature.STRICT_DUPLICATE_DETECTION)
            .build();

    private final String source;
    /** The settings as written, kept so that {@link #with} re-derives defaults (an override of task changes them). */
    private final ObjectNode written;
    /** Canonical form: equality and hashing use it, so configs that train the same way are equal. */
    private final String json;

    private final TaskKind task;
    private final ModelSpec model;
    private final Algorithm algorithm;
    private final int metaBatch;
    private final InnerLr innerLr;
    private final double outerLr;
    private final double beta1;
    private final double beta2;
    private final double eps;
    private final int steps;
    private final long seed;
    private final int checkpointEvery;
    private final int logEvery;
    private final int mamlSegment;
    private final Precision precision;
    private final String data;
    private final int maxLen;
    private final PixelOrder order;
    private final int evalTasks;
    private final int evalEvery;

    private Config(JsonNode root, String source) {
        TreeReader in = new TreeReader(source);
        if (TreeReader.absent(root)) throw in.fail("", "empty config; it needs at least task and model");
        ObjectNode m = in.map(root, "", "a map of settings (task, model, ...)");
        in.checkKeys(m, "", KEYS, "key", null);
        this.source = source;
        this.written = m.deepCopy();

        JsonNode t = m.get("task");
        if (TreeReader.absent(t)) throw in.fail("task", "missing (text or mnist)");
        String taskName = in.text(t, "task", "text or mnist");
        task = switch (taskName) {
            case "text" -> TaskKind.TEXT;
            case "mnist" -> TaskKind.MNIST;
            default -> throw in.fail("task", "unknown task '" + taskName + "' (known: text, mnist)");
        };
        boolean mnist = task == TaskKind.MNIST;

        if (TreeReader.absent(m.get("model"))) throw in.fail("model", "missing (the list of layers)");
        BaselineParser.Args baseline = BaselineParser.read(in, m.get("model"));
        ModelSpec layered = null;
        if (baseline == null) {
            List<LayerSpec> layers = new ModelParser(in).layers(m.get("model"), "model");
            try {
                layered = new ModelSpec(task, layers);
            } catch (ModelException e) {
                throw in.fail("model", e.getMessage());
            }
        }

        algorithm = choiceOr(in, m, "algorithm", Algorithm.values(), Algorithm.REPTILE);
        metaBatch = intOr(in, m, "meta_batch", 50, 1);
        innerLr = innerLr(in, opt(m, "inner_lr"));
        String noRates = innerLr.learned() ? algorithm.refusesLearnedRates() : null;
        if (noRates != null) throw in.fail("inner_lr", noRates);

        JsonNode outer = opt(m, "outer");
        ObjectNode o =
                outer == null ? JSON.createObjectNode() : in.map(outer, "outer", "a map {lr, beta1, beta2, eps}");
        in.checkKeys(o, "outer", OUTER_KEYS, "key", "known: lr, beta1, beta2, eps");
        // README, The math, 4: the reference trains mnist with Adam lr 1e-4, betas (0.9, 0.99), text with 1e-3, (0.9,
        // 0.999).
        // The lstm baseline trains with PyTorch's Adam defaults at lr 1e-3, as its reference does.
        boolean refDefaults = mnist && baseline == null;
        outerLr = opt(o, "lr") == null ? (refDefaults ? 1e-4 : 1e-3) : in.positive(o.get("lr"), "outer.lr");
        beta1 = opt(o, "beta1") == null ? 0.9 : beta(in, o.get("beta1"), "outer.beta1");
        beta2 = opt(o, "beta2") == null ? (refDefaults ? 0.99 : 0.999) : beta(in, o.get("beta2"), "outer.beta2");
        eps = opt(o, "eps") == null ? 1e-8 : in.positive(o.get("eps"), "outer.eps");

        steps = intOr(in, m, "steps", 1000, 1);
        seed = opt(m, "seed") == null ? 0 : in.integer(m.get("seed"), "seed", Long.MIN_VALUE, Long.MAX_VALUE);
        checkpointEvery = intOr(in, m, "checkpoint_every", 100, 0);
        logEvery = intOr(in, m, "log_every", 1, 1);
        mamlSegment = intOr(in, m, "maml_segment", 0, 0);
        if (baseline != null) BaselineParser.checkMetaKeys(in, algorithm, innerLr, mamlSegment);
        precision = choiceOr(in, m, "precision", Precision.values(), Precision.FLOAT32);

        JsonNode d = opt(m, "data");
        if (d == null) {
            data = mnist ? DEFAULT_MNIST_DATA : null;
        } else {
            data = in.text(d, "data", "a path");
            if (data.isBlank()) throw in.fail("data", "expected a path, got an empty string");
        }

        if (mnist && opt(m, "max_len") != null)
            throw in.fail("max_len", "applies to text tasks only (an mnist task is its 784 pixels)");
        if (!mnist && opt(m, "order") != null) throw in.fail("order", "applies to mnist tasks only");
        maxLen = intOr(in, m, "max_len", 128, 2);
        order = choiceOr(in, m, "order", PixelOrder.values(), PixelOrder.RASTER);

        evalTasks = intOr(in, m, "eval_tasks", 100, 0);
        evalEvery = intOr(in, m, "eval_every", 0, 0);

        model = baseline != null ? baseline.spec(task, maxLen) : layered;

        checkEmbedRows(in, opt(m, "max_len") != null);
        json = ConfigWriter.json(this);
    }

    private static JsonNode opt(ObjectNode m, String key) {
        JsonNode n = m.get(key);
        return TreeReader.absent(n) ? null : n;
    }

    private static int intOr(TreeReader in, ObjectNode m, String key, int def, int min) {
        return opt(m, key) == null ? def : in.intValue(m.get(key), key, min);
    }

    private static <E extends Enum<E>> E choiceOr(TreeReader in, ObjectNode m, String key, E[] values, E def) {
        return opt(m, key) == null ? def : in.choice(m.get(key), key, values);
    }

    private static InnerLr innerLr(TreeReader in, JsonNode n) {
        if (n == null) return InnerLr.fixed(1e-3);
        if (!n.isObject()) return InnerLr.fixed(in.positive(n, "inner_lr"));
        ObjectNode m = (ObjectNode) n;
        in.checkKeys(m, "inner_lr", INNER_LR_KEYS, "key", "known: learned, init");
        // Without "learned" the map is just a fixed rate; that lets --set inner_lr.init work on either form.
        InnerLr.Mode mode = opt(m, "learned") == null
                ? InnerLr.Mode.FIXED
                : in.choice(m.get("learned"), "inner_lr.learned", new InnerLr.Mode[] {
                    InnerLr.Mode.PER_TENSOR, InnerLr.Mode.PER_ELEMENT
                });
        double init = opt(m, "init") == null ? 1e-3 : in.positive(m.get("init"), "inner_lr.init");
        return new InnerLr(mode, init);
    }

    private static double beta(TreeReader in, JsonNode n, String path) {
        double b = in.number(n, path);
        if (b < 0 || b >= 1) throw in.fail(path, "expected a number in [0, 1), got " + n.asText());
        return b;
    }

    /** An embedding looked up past its last row would fail deep inside training; catch it here. */
    private void checkEmbedRows(TreeReader in, boolean maxLenGiven) {
        if (model.isBaseline()) return;
        if (!(model.layers().get(0) instanceof LayerSpec.Embed embed)) return;
        for (int j = 0; j < embed.tables().size(); j++) {
            int rows = embed.tables().get(j)[0];
            String table = "model[0].embed.tables[" + j + "]";
            if (task == TaskKind.TEXT && rows < maxLen) {
                if (maxLenGiven)
                    throw in.fail(
                            "max_len",
                            maxLen + " positions need " + maxLen + " rows in " + table + ", which has " + rows);
                throw in.fail(
                        table,
                        rows + " rows, but max_len " + maxLen
                                + " needs one per position (set max_len or widen the table)");
            }
            if (task == TaskKind.MNIST && rows < 28)
                throw in.fail(table, rows + " rows, but mnist coordinates run from 0 to 27");
        }
    }

    // ---- reading ----

    /** Reads a YAML config file; errors name the file as given. */
    public static Config load(Path file) {
        String source = file.toString();
        String text;
        try {
            byte[] bytes = BoundedRead.read(
                    file,
                    BoundedRead.CONFIG,
                    () -> new ConfigException(
                            source, "", "is larger than " + Bytes.show(BoundedRead.CONFIG) + ", not a config file"));
            text = StandardCharsets.UTF_8
                    .newDecoder()
                    .decode(java.nio.ByteBuffer.wrap(bytes))
                    .toString();
        } catch (NoSuchFileException e) {
            throw new ConfigException(source, "", "no such file");
        } catch (CharacterCodingException e) {
            throw new ConfigException(source, "", "not UTF-8 text");
        } catch (IOException e) {
            throw new ConfigException(source, "", "cannot read: " + IoErrors.why(e));
        }
        return parse(text, source);
    }

    /** Parses YAML text; {@code sourceName} prefixes every error. */
    public static Config parse(String yaml, String sourceName) {
        return new Config(readTree(YAML, "YAML", yaml, sourceName), sourceName);
    }

    /** Reads the form written by {@link #toJson()}, e.g. from a checkpoint's metadata. */
    public static Config fromJson(String json, String sourceName) {
        return new Config(readTree(JSON, "JSON", json, sourceName), sourceName);
    }

    /**
     * A config file if {@code nameOrPath} is one, else a built-in config by name ("tiny-text" or
     * "tiny-text.yaml"), read from the class path so that it works from the jar anywhere. A directory
     * of a built-in's name (a run directory, say) does not hide the built-in.
     */
    public static Config resolve(String nameOrPath) {
        return resolve(nameOrPath, Path.of(""));
    }

    /** {@link #resolve(String)} with a relative path taken from {@code base}. */
    static Config resolve(String nameOrPath, Path base) {
        if (nameOrPath.isBlank())
            throw new ConfigException(
                    "--config",
                    "",
                    "is empty: give a config file or a built-in name (" + String.join(", ", BUILT_IN) + ")");
        Path p = null;
        try {
            p = base.resolve(nameOrPath);
        } catch (InvalidPathException e) {
            // not a usable path; it may still be a built-in name
        }
        if (p != null && Files.isRegularFile(p)) {
            if (!Files.isReadable(p)) throw new ConfigException(nameOrPath, "", "cannot be read: permission denied");
            return load(p);
        }
        String name = nameOrPath.endsWith(".yaml") ? nameOrPath.substring(0, nameOrPath.length() - 5) : nameOrPath;
        Config builtIn = builtIn(name);
        if (builtIn != null) return builtIn;
        if (p != null && Files.exists(p))
            throw new ConfigException(
                    nameOrPath,
                    "",
                    Files.isDirectory(p)
                            ? "is a directory, not a config file"
                            : "is not a regular file (a device or a pipe), not a config file");
        throw new ConfigException(
                nameOrPath,
                "",
                "no such file, and not a built-in config" + Suggest.didYouMean(name, BUILT_IN) + "; built-in: "
                        + String.join(", ", BUILT_IN));
    }

    /** The built-in config of that name (without ".yaml"), or null. */
    private static Config builtIn(String name) {
        if (name.contains("/") || name.contains("\\")) return null;
        try (InputStream s = Config.class.getResourceAsStream("/configs/" + name + ".yaml")) {
            return s == null
                    ? null
                    : parse(new String(s.readAllBytes(), StandardCharsets.UTF_8), "configs/" + name + ".yaml");
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static JsonNode readTree(ObjectMapper mapper, String format, String text, String source) {
        try {
            return mapper.readTree(text);
        } catch (JacksonException e) {
            throw new ConfigException(source, "", syntaxError(format, e));
        }
    }

    private static final Pattern MARK = Pattern.compile("\\s*in '.*', (line \\d+, column \\d+):?");

    /**
     * A parser's complaint in one line. YAML errors come as several lines (what was being parsed,
     * where, a snippet, the problem, where); keep the problem and its position first.
     */
    static String syntaxError(String format, JacksonException e) {
        String msg = e.getOriginalMessage() == null ? e.getClass().getSimpleName() : e.getOriginalMessage();
        List<String> texts = new ArrayList<>();
        List<String> marks = new ArrayList<>();
        for (String line : msg.lines().toList()) {
            Matcher m = MARK.matcher(line);
            if (m.matches()) {
                if (!texts.isEmpty() && marks.get(texts.size() - 1) == null) marks.set(texts.size() - 1, m.group(1));
            } else if (!line.isBlank() && !Character.isWhitespace(line.charAt(0))) {
                texts.add(line.strip());
                marks.add(null);
            }
        }
        if (texts.isEmpty()) texts.add(msg.strip());
        int last = texts.size() - 1;
        String where = marks.get(last);
        JsonLocation at = e.getLocation();
        if (where == null && at != null && at.getLineNr() > 0)
            where = "line " + at.getLineNr() + ", column " + at.getColumnNr();
        StringBuilder sb = new StringBuilder("not valid ").append(format).append(": ");
        if (where != null) sb.append(where).append(": ");
        sb.append(texts.get(last));
        if (last > 0) {
            sb.append(" (").append(texts.get(last - 1));
            if (marks.get(last - 1) != null) sb.append(" from ").append(marks.get(last - 1));
            sb.append(')');
        }
        return sb.toString();
    }

    // ---- overrides ----

    /**
     * This config with command-line overrides applied, each "key=value" ({@code outer.lr=3e-4},
     * {@code algorithm=maml}); the value is read as YAML, so lists and maps work too, and an empty
     * value or null restores the default. Settings the source left out are derived again, so
     * {@code task=text} brings text's defaults for them. An error names the override.
     */
    public Config with(List<String> sets) {
        if (sets.isEmpty()) return this;
        ObjectNode tree = written.deepCopy();
        List<String> keys = new ArrayList<>();
        for (String set : sets) {
            int eq = set.indexOf('=');
            if (eq <= 0) throw new ConfigException("--set " + set, "", "expected key=value, e.g. outer.lr=3e-4");
            String key = set.substring(0, eq).strip();
            if (set.substring(eq + 1).isBlank())
                throw new ConfigException(
                        "--set " + key, "", "the value is empty (key=null restores the built-in default)");
            put(tree, key, readValue(set.substring(eq + 1), "--set " + key));
            keys.add(key);
        }
        try {
            return new Config(tree, source);
        } catch (ConfigException e) {
            for (int i = keys.size() - 1; i >= 0; i--) {
                String k = keys.get(i);
                String p = e.path();
                if (p.equals(k) || k.startsWith(p + ".") && !p.isEmpty())
                    throw new ConfigException("--set " + k, "", e.detail());
                if (p.startsWith(k + ".") || p.startsWith(k + "["))
                    throw new ConfigException("--set " + k, p, e.detail());
            }
            throw new ConfigException(source + " with --set " + String.join(", ", keys), e.path(), e.detail());
        }
    }

    private static JsonNode readValue(String text, String source) {
        JsonNode v;
        try {
            v = YAML.readTree(text);
        } catch (JacksonException e) {
            throw new ConfigException(source, "", "the value '" + text + "' is " + syntaxError("YAML", e));
        }
        return v == null || v.isMissingNode() ? NullNode.instance : v;
    }

    /** Sets a dotted key in the written tree after checking it against the schema. */
    private static void put(ObjectNode tree, String key, JsonNode value) {
        String src = "--set " + key;
        String[] parts = key.split("\\.", -1);
        String top = parts[0];
        if (!KEYS.contains(top))
            throw new ConfigException(src, "", "unknown key '" + top + "'" + Suggest.didYouMean(top, KEYS));
        if (parts.length == 1) {
            tree.set(top, value);
            return;
        }
        List<String> inner = top.equals("outer") ? OUTER_KEYS : top.equals("inner_lr") ? INNER_LR_KEYS : null;
        if (inner == null)
            throw new ConfigException(src, "", top + " has no keys inside; set it whole: " + top + "=...");
        if (!inner.contains(parts[1]))
            throw new ConfigException(
                    src, "", "unknown key '" + parts[1] + "' in " + top + Suggest.didYouMean(parts[1], inner));
        if (parts.length > 2) throw new ConfigException(src, "", top + "." + parts[1] + " has no keys inside");
        JsonNode cur = tree.get(top);
        ObjectNode holder;
        if (cur != null && cur.isObject()) {
            holder = (ObjectNode) cur;
        } else {
            holder = tree.putObject(top);
            // A fixed inner_lr written as a number keeps its value when one of its keys is set.
            if (cur != null && cur.isNumber()) holder.set("init", cur);
        }
        holder.set(parts[1], value);
    }

    // ---- writing ----

    /** Every resolved value as one line of JSON; {@link #fromJson} reads it back to an equal config. */
    public String toJson() {
        return json;
    }

    /** Every resolved value as YAML in the style of the shipped configs. */
    public String toYaml() {
        return ConfigWriter.yaml(this);
    }

    /** Whether o describes the same network on the same task (a checkpoint of one fits the other). */
    public boolean sameModel(Config o) {
        return task == o.task && model.toConfig().equals(o.model.toConfig());
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof Config c && json.equals(c.json);
    }

    @Override
    public int hashCode() {
        return json.hashCode();
    }

    @Override
    public String toString() {
        return json;
    }

    // ---- accessors ----

    /** Where this config was read from, as used in error messages. */
    public String source() {
        return source;
    }

    public TaskKind task() {
        return task;
    }

    public ModelSpec model() {
        return model;
    }

    public Algorithm algorithm() {
        return algorithm;
    }

    /** B: tasks per meta-step. */
    public int metaBatch() {
        return metaBatch;
    }

    /** alpha: the inner-loop learning rate, fixed or learned. */
    public InnerLr innerLr() {
        return innerLr;
    }

    /** Adam learning rate of the outer step. */
    public double outerLr() {
        return outerLr;
    }

    public double beta1() {
        return beta1;
    }

    public double beta2() {
        return beta2;
    }

    public double eps() {
        return eps;
    }

    /** Meta-steps to train. */
    public int steps() {
        return steps;
    }

    public long seed() {
        return seed;
    }

    /** Meta-steps between checkpoints; 0 writes only the final one. */
    public int checkpointEvery() {
        return checkpointEvery;
    }

    /** Meta-steps between log lines. */
    public int logEvery() {
        return logEvery;
    }

    /** K, inner steps between MAML checkpoints; 0 means ceil(sqrt(T)). */
    public int mamlSegment() {
        return mamlSegment;
    }

    public Precision precision() {
        return precision;
    }

    /** The text file or MNIST directory; null for a text task means the built-in corpus. */
    public String data() {
        return data;
    }

    /** T of a text task: bytes per line, end-of-text padding included. Unused for mnist. */
    public int maxLen() {
        return maxLen;
    }

    /** T, the pairs of one task: max_len bytes of a text line, or the 28 x 28 pixels of an image. */
    public int taskLength() {
        return task == TaskKind.TEXT ? maxLen : TaskKind.IMAGE_SIDE * TaskKind.IMAGE_SIDE;
    }

    /** Pixel order of an mnist task. Unused for text. */
    public PixelOrder order() {
        return order;
    }

    /** Held-out tasks in an evaluation; 0 skips evaluation. */
    public int evalTasks() {
        return evalTasks;
    }

    /** Meta-steps between evaluations; 0 evaluates only at the end. */
    public int evalEvery() {
        return evalEvery;
    }
}
