package org.reptilegen.dist;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.function.IntSupplier;

/**
 * The ranks of an MPI job as this process sees them: its rank r of N, its rank on its node (which picks
 * its GPU), the collective calls the training loop needs, and the job's life: a rank that fails ends the
 * job with one line naming it (MPI_Abort), so that no rank waits for it forever.
 *
 * <p>Every rank runs the same command on the same inputs and draws the same meta-batches; work is split
 * by contiguous shares of tasks ({@link #from}, {@link #to}), and results are combined in rank order, so a
 * run is the same bits for a given N. Rank 0 alone prints and writes files: the other ranks' standard
 * output and error go nowhere, except the line of a failure.
 */
public final class World {
    private static volatile World current;

    private final int rank, size, localRank, localSize;
    private final String host, gpu;

    private World(int rank, int size, int localRank, int localSize, String host, String gpu) {
        this.rank = rank;
        this.size = size;
        this.localRank = localRank;
        this.localSize = localSize;
        this.host = host;
        this.gpu = gpu;
    }

    /** The job this process is a rank of, or null when it runs alone. */
    public static World current() {
        return current;
    }

    /** "rank r of N: " inside a job (what a failure's line starts with), else "". */
    public static String where() {
        World w = current;
        return w == null ? "" : "rank " + w.rank + " of " + w.size + ": ";
    }

    /** Whether this process writes the run's files and prints: alone, or rank 0. */
    public static boolean writes() {
        World w = current;
        return w == null || w.rank == 0;
    }

    public int rank() {
        return rank;
    }

    public int size() {
        return size;
    }

    /** The rank among the processes of this node. */
    public int localRank() {
        return localRank;
    }

    /**
     * Joins the job launcher started, before anything else runs: MPI_Init, this rank's GPU (set in the
     * environment the CUDA driver reads when it starts), and the line {@code rank r of N ...} on standard
     * error. Throws MpiException with one line when MPI support is missing or is not the launcher's MPI.
     */
    public static World start(Launcher launcher) {
        String why = Mpi.unavailableReason();
        if (why != null)
            throw new MpiException("started by " + launcher.name() + " as rank " + launcher.rank() + " of "
                    + launcher.size() + ", but " + why);
        Mpi.init();
        int rank = Mpi.rank(), size = Mpi.size();
        if (size != launcher.size())
            throw new MpiException("started by " + launcher.name() + " as rank " + launcher.rank() + " of "
                    + launcher.size()
                    + ", but MPI (" + Mpi.libraryVersion() + ") sees " + size + " process" + (size == 1 ? "" : "es")
                    + ": the jar was built with another MPI than the launcher's; rebuild it with the launcher's mpicc");
        int localRank = Mpi.localRank(), localSize = Mpi.localSize();
        String gpu = chooseGpu(localRank);
        World w = new World(rank, size, localRank, localSize, Mpi.processorName(), gpu);
        System.err.println("rank " + rank + " of " + size + " on " + w.host + " (process "
                + ProcessHandle.current().pid() + ", node-local rank " + localRank + " of " + localSize
                + (gpu == null ? "" : ", GPU " + gpu) + ")");
        current = w;
        return w;
    }

    /**
     * Says why this rank could not join the job: at once on the launcher's rank 0, after a moment on the
     * others, so that a cause every rank shares (no MPI library in the jar) is usually said once before
     * the launcher ends the job for rank 0's exit.
     */
    public static void startFailed(Launcher launcher, String line) {
        if (launcher.rank() != 0) pause();
        System.err.println(line);
    }

    private static void pause() {
        try {
            Thread.sleep(GRACE_MILLIS);
        } catch (InterruptedException ignored) {
            Thread.currentThread().interrupt();
        }
    }

    /**
     * Ranks on one node take its GPUs in turn by node-local rank: the CUDA_VISIBLE_DEVICES a launcher or
     * user gave (one entry per rank when a scheduler binds GPUs to tasks), else every GPU the driver lists.
     * Null where there is none.
     */
    private static String chooseGpu(int localRank) {
        String visible = System.getenv("CUDA_VISIBLE_DEVICES");
        List<String> ids = new ArrayList<>();
        if (visible != null) {
            for (String s : visible.split(",")) if (!s.isBlank()) ids.add(s.strip());
        } else {
            int n = 0;
            try (var gpus = Files.list(Path.of("/proc/driver/nvidia/gpus"))) {
                n = (int) gpus.count();
            } catch (IOException | RuntimeException noDriver) {
                // No NVIDIA driver: the cpu backend, or the cuda backend's own error.
            }
            for (int i = 0; i < n; i++) ids.add(Integer.toString(i));
        }
        if (ids.isEmpty()) return null;
        String pick = ids.get(localRank % ids.size());
        Mpi.setenv("CUDA_VISIBLE_DEVICES", pick);
        return pick;
    }

    /** The first of this rank's tasks among count: contiguous shares, the first count mod N ranks one task longer. */
    public int from(int count) {
        return from(count, rank);
    }

    /** One past this rank's last task among count. */
    public int to(int count) {
        return from(count, rank + 1);
    }

    private int from(int count, int r) {
        int base = count / size, rem = count % size;
        return r * base + Math.min(r, rem);
    }

    /** Every rank's number of tasks among count, in rank order. */
    public int[] shares(int count) {
        int[] c = new int[size];
        for (int r = 0; r < size; r++) c[r] = from(count, r + 1) - from(count, r);
        return c;
    }

    /** a := the sum over ranks, added in rank order: the same bits on every rank and in every run. */
    public synchronized void sumInRankOrder(double[] a) {
        Mpi.sumDoubles(a);
    }

    /** As {@link #sumInRankOrder(double[])}, sent as floats (added in double, rounded once). */
    public synchronized void sumInRankOrder(float[] a) {
        Mpi.sumFloats(a);
    }

    /** Every rank's values in rank order; rank r gives shares[r] values. */
    public synchronized double[] gather(double[] mine, int[] shares) {
        int total = 0;
        for (int c : shares) total += c;
        if (mine.length != shares[rank])
            throw new IllegalStateException(
                    "rank " + rank + " gives " + mine.length + " values, its share is " + shares[rank]);
        double[] all = new double[total];
        Mpi.gatherDoubles(mine, all, shares);
        return all;
    }

    /** Rank 0's values, on every rank. */
    public synchronized void broadcast(double[] a) {
        Mpi.broadcastDoubles(a, 0);
    }

    public synchronized void broadcast(long[] a) {
        Mpi.broadcastLongs(a, 0);
    }

    /** True on every rank when v is true on any; every rank calls it at the same point. */
    public synchronized boolean anyOf(boolean v) {
        return Mpi.max(v ? 1 : 0) != 0;
    }

    /** The largest of every rank's value. */
    public synchronized long max(long v) {
        return Mpi.max(v);
    }

    public synchronized void barrier() {
        Mpi.barrier();
    }

    /**
     * Milliseconds a meta-step's reduction takes, the median of repeats: a meta-gradient of floats floats
     * (0 when it travels as doubles) and doubles doubles (the rates' gradient, the tasks' losses, and the
     * gradient itself with float64 storage), summed in rank order, from a barrier on.
     */
    public double timeReduction(int floats, int doubles, int repeats) {
        float[] f = new float[floats];
        double[] d = new double[doubles];
        double[] ms = new double[Math.max(1, repeats)];
        for (int r = -1; r < ms.length; r++) {
            barrier();
            long t0 = System.nanoTime();
            if (floats > 0) sumInRankOrder(f);
            if (doubles > 0) sumInRankOrder(d);
            double took = (System.nanoTime() - t0) / 1e6;
            if (r >= 0) ms[r] = took;
        }
        // Every rank reports the slowest rank's time: the step waits for it.
        for (int r = 0; r < ms.length; r++) ms[r] = max(Math.round(ms[r] * 1e6)) / 1e6;
        Arrays.sort(ms);
        return ms[ms.length / 2];
    }

    /**
     * Runs the command as this rank and returns its exit status, or ends the job. On ranks other than 0
     * standard output and error are dropped, but the last error line is kept. A status of 0 (done) or
     * 130 (interrupted: every rank stops at the same meta-step) ends MPI normally. Any other status, or a
     * throwable, prints one line naming the rank and the cause and calls MPI_Abort, which ends every rank:
     * a rank that failed never leaves the others waiting in a collective call. Rank 0's line is the
     * command's own; another rank first waits a moment, so that a failure every rank meets (a bad option,
     * a missing file) is usually said once, by rank 0, whose abort ends the others first.
     */
    public int run(IntSupplier command) {
        PrintStream err = System.err;
        ErrorLine tail = null;
        if (rank != 0) {
            System.setOut(new PrintStream(OutputStream.nullOutputStream(), true, StandardCharsets.UTF_8));
            tail = new ErrorLine();
            System.setErr(new PrintStream(tail, true, StandardCharsets.UTF_8));
        }
        int code;
        String line = null;
        try {
            code = command.getAsInt();
            if (code != 0 && tail != null) line = tail.line();
        } catch (Throwable e) {
            code = 1;
            String m = e.getMessage();
            line = "reptile-gen: " + where()
                    + (m == null || m.isBlank()
                            ? e.getClass().getSimpleName()
                            : e.getClass().getSimpleName() + ": " + m);
            if (rank == 0) err.println(line);
        }
        if (code == 0 || code == 130) {
            try {
                Mpi.finish();
            } catch (RuntimeException e) {
                err.println("reptile-gen: " + where() + e.getMessage());
                return 1;
            }
            return code;
        }
        if (rank != 0) {
            pause();
            err.println(line != null ? line : "reptile-gen: " + where() + "ended with exit status " + code);
        }
        err.flush();
        Mpi.abort(code);
        return code;
    }

    static final long GRACE_MILLIS = 2000;

    /**
     * What a rank other than 0 writes to standard error, dropped but for its last line that starts as an
     * error line does ("reptile-gen"), or else its last line: what a failure is reported with.
     */
    private static final class ErrorLine extends OutputStream {
        private final ByteArrayOutputStream current = new ByteArrayOutputStream();
        private String last, lastError;

        @Override
        public synchronized void write(int b) {
            if (b == '\n') {
                String s = current.toString(StandardCharsets.UTF_8).stripTrailing();
                current.reset();
                if (s.isEmpty()) return;
                last = s;
                if (s.startsWith("reptile-gen")) lastError = s;
            } else if (current.size() < 4096) {
                current.write(b);
            }
        }

        synchronized String line() {
            return lastError != null ? lastError : last;
        }
    }
}
