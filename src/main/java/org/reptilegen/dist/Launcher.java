package org.reptilegen.dist;

import java.util.Map;

/**
 * Whether an MPI launcher started this process, from the variables it sets: Open MPI's mpirun
 * (OMPI_COMM_WORLD_SIZE and _RANK), MPICH's and Intel MPI's Hydra (PMI_SIZE and PMI_RANK) and Slurm's srun (SLURM_STEP_NUM_TASKS or SLURM_NTASKS, and
 * SLURM_PROCID, inside a job step: a batch script alone has no step and is one process). A launch of one
 * process is not a distributed run.
 */
public record Launcher(String name, int size, int rank) {

    /** The launcher, or null when none started more than one process. */
    public static Launcher detect(Map<String, String> env) {
        Launcher l = of("mpirun (Open MPI)", env.get("OMPI_COMM_WORLD_SIZE"), env.get("OMPI_COMM_WORLD_RANK"));
        if (l == null) l = of("Hydra (MPICH)", env.get("PMI_SIZE"), env.get("PMI_RANK"));
        if (l == null && (env.containsKey("SLURM_STEP_ID") || env.containsKey("SLURM_STEPID")))
            l = of(
                    "srun (Slurm)",
                    env.getOrDefault("SLURM_STEP_NUM_TASKS", env.get("SLURM_NTASKS")),
                    env.get("SLURM_PROCID"));
        return l != null && l.size > 1 ? l : null;
    }

    /**
     * The arguments as given to mpirun. Open MPI's mpirun (4.x) takes the first argument after {@code java} that
     * contains "cp" for a class path option and prefixes the next argument with its working directory and
     * a colon ({@code --backend cpu --threads 1} arrives as {@code --backend cpu /dir:--threads 1}; a last
     * such argument gets {@code /dir:(null)} after it). Under Open MPI that prefix is taken off again; with an
     * explicit {@code java -cp ...} the class path is that argument and the program's arguments are untouched.
     */
    public static String[] repairArguments(String[] args, Map<String, String> env) {
        if (!env.containsKey("OMPI_COMM_WORLD_SIZE")) return args;
        String dir = env.getOrDefault("OMPI_MCA_initial_wdir", System.getProperty("user.dir"));
        for (int i = 0; i < args.length; i++) {
            if (!args[i].contains("cp")) continue;
            if (i + 1 >= args.length) return args;
            String next = args[i + 1], prefix = dir + ":";
            if (i + 2 == args.length && next.equals(prefix + "(null)")) return java.util.Arrays.copyOf(args, i + 1);
            if (!next.startsWith(prefix)) return args;
            String[] fixed = args.clone();
            fixed[i + 1] = next.substring(prefix.length());
            return fixed;
        }
        return args;
    }

    private static Launcher of(String name, String size, String rank) {
        if (size == null || rank == null) return null;
        try {
            int n = Integer.parseInt(size.strip()), r = Integer.parseInt(rank.strip());
            return n >= 1 && r >= 0 && r < n ? new Launcher(name, n, r) : null;
        } catch (NumberFormatException e) {
            return null;
        }
    }
}
