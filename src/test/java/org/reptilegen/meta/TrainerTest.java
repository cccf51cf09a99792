package org.reptilegen.meta;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.concurrent.atomic.AtomicBoolean;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.reptilegen.checkpoint.TrainingCheckpoint;
import org.reptilegen.config.Config;
import org.reptilegen.core.Adam;
import org.reptilegen.core.TaskBatch;
import org.reptilegen.core.TrainState;
import org.reptilegen.engine.Engine;
import org.reptilegen.engine.EngineSettings;
import org.reptilegen.engine.cpu.CpuEngine;
import org.reptilegen.model.ParamInit;
import org.reptilegen.task.Split;
import org.reptilegen.task.TextTasks;
import org.reptilegen.util.Rng;

class TrainerTest {
    static final Config CFG = Config.parse(
            String.join(
                    "\n",
                    "task: text",
                    "model: [{embed: {tables: [[8, 4]]}}, {linear: {in: 4, out: 256}}]",
                    "meta_batch: 2",
                    "max_len: 8",
                    "steps: 5",
                    "checkpoint_every: 1",
                    "eval_tasks: 0",
                    ""),
            "test.yaml");

    static final TextTasks TASKS =
            TextTasks.fromBytes("corpus", "abc\ndef\nghi\njkl\n".getBytes(StandardCharsets.UTF_8), 8, Split.TRAIN);

    static CpuEngine engine() {
        CpuEngine e = new CpuEngine(new EngineSettings(
                CFG.model(),
                CFG.algorithm(),
                CFG.innerLr().init(),
                0,
                CFG.precision(),
                new Adam(CFG.outerLr(), CFG.beta1(), CFG.beta2(), CFG.eps()),
                1));
        e.setState(TrainState.fresh(ParamInit.draw(CFG.model().layout(), Rng.of(0), true)));
        return e;
    }

    static final Trainer.Listener QUIET = new Trainer.Listener() {
        public void step(long step, long total, double loss, double rate) {}

        public void message(String line) {}
    };

    @Test
    void aStopRequestWritesACheckpointAtTheNextMetaStep(@TempDir Path out) throws Exception {
        AtomicBoolean stop = new AtomicBoolean();
        try (CpuEngine e = engine()) {
            Trainer t = new Trainer(CFG, e, TASKS, null, out, new Trainer.Listener() {
                public void step(long step, long total, double loss, double rate) {
                    if (step == 2) stop.set(true);
                }

                public void message(String line) {}
            });
            Trainer.Result r = t.run(0, stop);
            assertTrue(r.interrupted());
            assertEquals(2, r.step());
            assertEquals(2, TrainingCheckpoint.read(r.checkpoint(), true).step());
        }
    }

    @Test
    void aMetricsFileDeletedDuringTheRunIsNoticedAndStartedAgain(@TempDir Path out) throws Exception {
        java.util.List<String> notes = new java.util.ArrayList<>();
        Path metrics = out.resolve(Trainer.METRICS);
        try (CpuEngine e = engine()) {
            Trainer t = new Trainer(CFG, e, TASKS, null, out, new Trainer.Listener() {
                public void step(long step, long total, double loss, double rate) {
                    if (step == 2) {
                        try {
                            java.nio.file.Files.delete(metrics);
                        } catch (java.io.IOException x) {
                            throw new java.io.UncheckedIOException(x);
                        }
                    }
                }

                public void message(String line) {
                    notes.add(line);
                }
            });
            assertEquals(5, t.run(0, new AtomicBoolean()).step());
        }
        assertEquals(1, notes.size(), notes.toString());
        assertTrue(notes.get(0).contains("was deleted during the run"), notes.get(0));
        java.util.List<String> lines = java.nio.file.Files.readAllLines(metrics);
        assertEquals(3, lines.size(), lines.toString());
        assertTrue(lines.get(0).startsWith("{\"step\":3,"), lines.get(0));
    }

    @Test
    void aNonFiniteLossStopsTrainingAndKeepsTheLastGoodCheckpoint(@TempDir Path out) {
        try (CpuEngine cpu = engine()) {
            Engine failing = new Engine() {
                int calls;

                public String description() {
                    return "failing";
                }

                public EngineSettings settings() {
                    return cpu.settings();
                }

                public void setState(TrainState s) {
                    cpu.setState(s);
                }

                public TrainState state() {
                    return cpu.state();
                }

                public double[] metaGradient(TaskBatch b, double[] g, double[] gLr) {
                    return cpu.metaGradient(b, g, gLr);
                }

                public void adamStep(double[] g, double[] gLr) {
                    cpu.adamStep(g, gLr);
                }

                public double[] metaStep(TaskBatch b) {
                    double[] nll = cpu.metaStep(b);
                    if (++calls == 3) nll[0] = Double.NaN;
                    return nll;
                }

                public double[] evaluate(TaskBatch b) {
                    return cpu.evaluate(b);
                }

                public int[][] sample(int[][] p, int c, double t, long s, boolean z) {
                    return cpu.sample(p, c, t, s, z);
                }

                public double measureCopyBandwidth() {
                    return 1;
                }

                public long peakMemoryBytes() {
                    return 0;
                }

                public void close() {}
            };
            Trainer t = new Trainer(CFG, failing, TASKS, null, out, QUIET);
            NonFiniteLossException ex = assertThrows(NonFiniteLossException.class, () -> t.run(0, new AtomicBoolean()));
            assertTrue(
                    ex.getMessage().contains("meta-step 3") && ex.getMessage().contains("meta-step 2"),
                    ex.getMessage());
            assertEquals(
                    2,
                    TrainingCheckpoint.read(out.resolve(Trainer.CHECKPOINT), true)
                            .step());
        }
    }
}
