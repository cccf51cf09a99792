package org.reptilegen.checkpoint;

import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import org.reptilegen.config.Config;
import org.reptilegen.config.ConfigException;
import org.reptilegen.core.InnerLrLayout;
import org.reptilegen.core.Precision;
import org.reptilegen.core.TrainState;

/**
 * A training run's checkpoint: theta under the model's parameter names, the outer Adam's moments,
 * and in the metadata the config, the meta-step, and the random state. Randomness is counter-based
 * (a pure function of seed and meta-step), so seed and step are the whole random state.
 */
public record TrainingCheckpoint(Config config, TrainState state, long step) {
    public static final String FORMAT = "reptile-gen/1";

    public void write(Path path) {
        Map<String, String> meta = new LinkedHashMap<>();
        meta.put("format", FORMAT);
        meta.put("config", config.toJson());
        meta.put("step", Long.toString(step));
        meta.put("adam_step", Long.toString(state.adamStep()));
        meta.put("rng", "counter-based");
        meta.put("rng_seed", Long.toString(config.seed()));
        meta.put("rng_counter", Long.toString(step));
        InnerLrLayout rates = rates(config);
        boolean learned = state.learnedInnerLr();
        Checkpoint.write(
                path,
                config.model().layout(),
                state.theta(),
                state.adamM(),
                state.adamV(),
                learned ? rates.byName(state.innerLr()) : null,
                learned ? rates.byName(state.innerLrM()) : null,
                learned ? rates.byName(state.innerLrV()) : null,
                meta,
                config.precision() == Precision.FLOAT64);
    }

    /** Reads a checkpoint; without the optimizer state (for sampling and evaluation) the moments are zero. */
    public static TrainingCheckpoint read(Path path, boolean withOptimizer) {
        Checkpoint.Loaded c = Checkpoint.read(path, withOptimizer);
        Map<String, String> meta = c.metadata();
        String json = meta.get("config");
        if (json == null)
            throw new CheckpointException(
                    path + ": no config in the metadata; is it a reptile-gen training checkpoint?");
        Config cfg;
        try {
            cfg = Config.fromJson(json, path + " (its config)");
        } catch (ConfigException e) {
            throw new CheckpointException(e.getMessage());
        }
        var layout = cfg.model().layout();
        double[] theta = c.params(layout);
        Checkpoint.requireFinite(path.toString(), layout, theta, "");
        long step = number(path, meta, "step");
        if (step < 0) throw new CheckpointException(path + ": metadata 'step' is " + step + ", not a meta-step");
        InnerLrLayout rates = rates(cfg);
        double[] lr = null, lrM = null, lrV = null;
        try {
            if (rates.learned()) {
                lr = rates.fromNames(c.innerLr(layout), "checkpoint " + path);
                lrM = new double[lr.length];
                lrV = new double[lr.length];
            }
            if (withOptimizer && c.hasOptimizerState()) {
                if (rates.learned()) {
                    lrM = rates.fromNames(c.innerLrMoment(layout, Checkpoint.EXP_AVG), "checkpoint " + path);
                    lrV = rates.fromNames(c.innerLrMoment(layout, Checkpoint.EXP_AVG_SQ), "checkpoint " + path);
                }
                double[] m = c.adamM(layout), v = c.adamV(layout);
                Checkpoint.requireFinite(path.toString(), layout, m, " (Adam's first moment)");
                Checkpoint.requireFinite(path.toString(), layout, v, " (Adam's second moment)");
                return new TrainingCheckpoint(
                        cfg, new TrainState(theta, m, v, number(path, meta, "adam_step"), lr, lrM, lrV), step);
            }
        } catch (IllegalArgumentException e) {
            throw new CheckpointException(e.getMessage());
        }
        return new TrainingCheckpoint(
                cfg, new TrainState(theta, new double[theta.length], new double[theta.length], 0, lr, lrM, lrV), step);
    }

    private static InnerLrLayout rates(Config cfg) {
        return new InnerLrLayout(cfg.model().layout(), cfg.innerLr().mode());
    }

    private static long number(Path path, Map<String, String> meta, String key) {
        String v = meta.get(key);
        try {
            return Long.parseLong(v);
        } catch (RuntimeException e) {
            throw new CheckpointException(
                    path + ": metadata '" + key + "' is " + (v == null ? "missing" : "'" + v + "', not an integer"));
        }
    }
}
