package org.reptilegen.baseline;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.util.Arrays;
import org.junit.jupiter.api.Test;
import org.reptilegen.core.Adam;
import org.reptilegen.core.Algorithm;
import org.reptilegen.core.Precision;
import org.reptilegen.core.TaskBatch;
import org.reptilegen.core.TrainState;
import org.reptilegen.engine.EngineSettings;
import org.reptilegen.model.LstmBaseline;
import org.reptilegen.model.ModelSpec;
import org.reptilegen.model.TaskKind;
import org.reptilegen.task.Samples;

/** The engine around the baseline's math: the same bits on any number of threads, samples by index, the mean gradient. */
class BaselineEngineTest {
    static BaselineEngine engine(LstmBaseline spec, int threads, double[] theta) {
        EngineSettings s = new EngineSettings(
                ModelSpec.of(spec),
                Algorithm.REPTILE,
                1e-3,
                0,
                Precision.FLOAT64,
                new Adam(1e-3, 0.9, 0.999, 1e-8),
                threads);
        BaselineEngine e = new BaselineEngine(s);
        e.setState(TrainState.fresh(theta));
        return e;
    }

    @Test
    void theGradientIsTheMeanOverSequencesAndTheSameBitsOnAnyNumberOfThreads() {
        LstmBaseline spec = new LstmBaseline(TaskKind.MNIST, 3, 4, 2, false, 28);
        double[] theta = LstmBaselineGradientTest.theta(spec, 11);
        TaskBatch batch = LstmBaselineGradientTest.mnistTasks(new int[] {9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9}, 11);
        double[] g1 = new double[theta.length], g3 = new double[theta.length];
        double[] l1, l3;
        try (BaselineEngine one = engine(spec, 1, theta);
                BaselineEngine three = engine(spec, 3, theta)) {
            l1 = one.metaGradient(batch, g1);
            l3 = three.metaGradient(batch, g3);
            assertArrayEquals(l1, three.evaluate(batch), 1e-12);
            one.metaStep(batch);
            three.metaStep(batch);
            assertArrayEquals(one.state().theta(), three.state().theta(), 0);
        }
        assertArrayEquals(l1, l3, 0);
        assertArrayEquals(g1, g3, 0);
        // The mean over the batch of each sequence's own gradient.
        double[] sum = new double[theta.length];
        LstmBaselineNet net = new LstmBaselineNet(spec);
        for (int b = 0; b < batch.size(); b++) net.run(theta, batch, b, 1, sum, new LstmBaselineNet.Workspace());
        for (int i = 0; i < sum.length; i++)
            assertEquals(sum[i] / batch.size(), g1[i], 1e-12 * Math.max(1, Math.abs(g1[i])));
    }

    @Test
    void sampleIDependsOnItsIndexAloneAndTextStopsAtZero() {
        LstmBaseline spec = new LstmBaseline(TaskKind.TEXT, 3, 4, 1, false, 10);
        double[] theta = LstmBaselineGradientTest.theta(spec, 12);
        int[][] positions = Samples.positions(TaskKind.TEXT, 10);
        try (BaselineEngine e = engine(spec, 2, theta)) {
            int[][] all = e.sample(positions, 8, 1.0, 5, true);
            int[][] part = e.sample(positions, 3, 4, 1.0, 5, true);
            for (int i = 0; i < 4; i++) assertArrayEquals(all[3 + i], part[i]);
            for (int[] s : all) {
                int zero = Arrays.stream(s).boxed().toList().indexOf(0);
                if (zero >= 0) for (int t = zero; t < s.length; t++) assertEquals(0, s[t]);
            }
        }
    }

    @Test
    void inputsOutsideTheTablesAreRefusedNamingTheTable() {
        LstmBaseline spec = new LstmBaseline(TaskKind.TEXT, 2, 3, 1, false, 4);
        TaskBatch tooLong = LstmBaselineGradientTest.textTasks(new int[] {6}, 1);
        try (BaselineEngine e = engine(spec, 1, LstmBaselineGradientTest.theta(spec, 1))) {
            IllegalArgumentException x = assertThrows(IllegalArgumentException.class, () -> e.evaluate(tooLong));
            assertEquals(true, x.getMessage().contains("pos_embed.weight"), x.getMessage());
        }
    }
}
