package org.reptilegen.checkpoint;

import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import org.reptilegen.config.Config;
import org.reptilegen.config.ConfigException;
import org.reptilegen.engine.TrainState;

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
        Checkpoint.write(path, config.model().layout(), state.theta(), state.adamM(), state.adamV(), null, meta,
                config.precision() == org.reptilegen.engine.Precision.FLOAT64);
    }

    /** Reads a checkpoint; without the optimizer state (for sampling and evaluation) the moments are zero. */
    public static TrainingCheckpoint read(Path path, boolean withOptimizer) {
        Checkpoint.Loaded c = Checkpoint.read(path, withOptimizer);
        Map<String, String> meta = c.metadata();
        String json = meta.get("config");
        if (json == null) throw new CheckpointException(path + ": no config in the metadata; is it a reptile-gen training checkpoint?");
        Config cfg;
        try {
            cfg = Config.fromJson(json, path + " (its config)");
        } catch (ConfigException e) {
            throw new CheckpointException(e.getMessage());
        }
        var layout = cfg.model().layout();
        double[] theta = c.params(layout);
        long step = number(path, meta, "step");
        TrainState s;
        if (withOptimizer && c.hasOptimizerState())
            s = new TrainState(theta, c.adamM(layout), c.adamV(layout), number(path, meta, "adam_step"));
        else
            s = new TrainState(theta, new double[theta.length], new double[theta.length], 0);
        return new TrainingCheckpoint(cfg, s, step);
    }

    private static long number(Path path, Map<String, String> meta, String key) {
        String v = meta.get(key);
        try {
            return Long.parseLong(v);
        } catch (RuntimeException e) {
            throw new CheckpointException(path + ": metadata '" + key + "' is " + (v == null ? "missing" : "'" + v + "', not an integer"));
        }
    }
}
