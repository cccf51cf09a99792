package org.reptilegen.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

/** {@code info --plan}: the cuda backend's launches of one inner step, listed without a GPU. */
class InfoPlanTest {

    @Test
    void listsMnistLstmsEightLaunchesWithWhatEachReadsAndWrites() {
        CliTest.Run r = CliTest.run("info", "--config", "mnist-lstm-reptile", "--plan", "--batch", "4");
        assertEquals(0, r.status(), r.err());
        assertTrue(r.out().contains("inner step (reptile), B = 4 tasks: 8 launches"), r.out());
        assertTrue(r.out().contains("module_3 lstm_block backward"), r.out());
        assertTrue(r.out().contains("module_1 linear backward, embedding updated, step advance"), r.out());
        assertTrue(r.out().contains("writes task parameters"), r.out());
        assertEquals(
                8, r.out().lines().filter(l -> l.trim().startsWith("reads ")).count(), r.out());
    }

    @Test
    void mamlAlsoListsItsHessianVectorStep() {
        CliTest.Run r =
                CliTest.run("info", "--config", "mnist-lstm-maml", "--plan", "--batch", "2", "--inner-steps", "16");
        assertEquals(0, r.status(), r.err());
        assertTrue(r.out().contains("Hessian-vector step of MAML's reverse sweep"), r.out());
        assertTrue(r.out().contains("lstm_block_backward_tangent"), r.out());
        assertTrue(r.out().contains("adjoint lambda"), r.out());
    }
}
