package org.reptilegen.dist;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;

import java.util.Map;
import org.junit.jupiter.api.Test;

/** Which launcher started a process, from its environment alone; no MPI needed. */
class LauncherTest {
    @Test
    void findsOpenMpiHydraAndSrunSteps() {
        assertEquals(
                new Launcher("mpirun (Open MPI)", 4, 2),
                Launcher.detect(Map.of("OMPI_COMM_WORLD_SIZE", "4", "OMPI_COMM_WORLD_RANK", "2")));
        assertEquals(new Launcher("Hydra (MPICH)", 3, 0), Launcher.detect(Map.of("PMI_SIZE", "3", "PMI_RANK", "0")));
        assertEquals(
                new Launcher("srun (Slurm)", 8, 7),
                Launcher.detect(Map.of(
                        "SLURM_STEP_ID", "0", "SLURM_STEP_NUM_TASKS", "8", "SLURM_NTASKS", "16", "SLURM_PROCID", "7")));
    }

    @Test
    void oneProcessABatchScriptOrNonsenseIsNoJob() {
        assertNull(Launcher.detect(Map.of()));
        assertNull(Launcher.detect(Map.of("OMPI_COMM_WORLD_SIZE", "1", "OMPI_COMM_WORLD_RANK", "0")));
        // sbatch sets the task count for the whole allocation, but a script that is not in an srun step is one process.
        assertNull(Launcher.detect(Map.of("SLURM_NTASKS", "4", "SLURM_PROCID", "0")));
        assertNull(Launcher.detect(Map.of("PMI_SIZE", "two", "PMI_RANK", "0")));
        assertNull(Launcher.detect(Map.of("PMI_SIZE", "2", "PMI_RANK", "2")));
    }

    @Test
    void undoesOpenMpisClassPathRewrite() {
        Map<String, String> env = Map.of("OMPI_COMM_WORLD_SIZE", "2", "OMPI_MCA_initial_wdir", "/w");
        assertArrayEquals(
                new String[] {"train", "--backend", "cpu", "--threads", "1"},
                Launcher.repairArguments(new String[] {"train", "--backend", "cpu", "/w:--threads", "1"}, env));
        assertArrayEquals(
                new String[] {"train", "--backend", "cpu"},
                Launcher.repairArguments(new String[] {"train", "--backend", "cpu", "/w:(null)"}, env));
        // Only the first argument with "cp" is taken for a class path, and nothing changes without Open MPI.
        String[] twice = {"x", "cpu", "/w:a", "cpu", "/w:b"};
        assertArrayEquals(new String[] {"x", "cpu", "a", "cpu", "/w:b"}, Launcher.repairArguments(twice, env));
        assertArrayEquals(twice, Launcher.repairArguments(twice, Map.of()));
    }
}
