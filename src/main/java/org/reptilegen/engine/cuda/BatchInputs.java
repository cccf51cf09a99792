package org.reptilegen.engine.cuda;

import java.util.Arrays;
import jcuda.Pointer;
import org.reptilegen.core.TaskBatch;
import org.reptilegen.model.ModelSpec;

/**
 * A batch's way onto the device: its inputs checked against the model on the host (a bad index would
 * otherwise read outside an embedding table on the device), every step's inputs and targets uploaded
 * once per batch, and the losses read back once.
 */
final class BatchInputs {
    private final Device dev;
    private final ModelSpec model;
    private final int inDim;

    BatchInputs(Device dev, ModelSpec model) {
        this.dev = dev;
        this.model = model;
        this.inDim = model.task().inputDim;
    }

    void check(TaskBatch batch) {
        if (batch.kind() != model.task())
            throw new IllegalArgumentException("a " + batch.kind().configName() + " batch for a "
                    + model.task().configName() + " model");
        if (batch.size() == 0) throw new IllegalArgumentException("the batch has no tasks");
        for (int b = 0; b < batch.size(); b++)
            for (int t = 0; t < batch.steps(b); t++) checkInput(batch.x()[b][t], "task " + b + " step " + t);
    }

    void checkInput(int[] x, String where) {
        String error = model.inputError(x);
        if (error != null) throw new IllegalArgumentException(where + ": " + error);
    }

    /** xs [T x B x inDim] and ys [T x B]; a task shorter than T gets target -1 (no step) past its end. */
    void upload(Workspace w, TaskBatch batch) {
        int tasks = batch.size(), steps = batch.maxSteps();
        if (steps == 0) return;
        try (var r = Nvtx.range("upload inputs")) {
            int[] xs = new int[steps * tasks * inDim];
            int[] ys = new int[steps * tasks];
            Arrays.fill(ys, -1);
            for (int b = 0; b < tasks; b++) {
                for (int t = 0; t < batch.steps(b); t++) {
                    System.arraycopy(batch.x()[b][t], 0, xs, (t * tasks + b) * inDim, inDim);
                    ys[t * tasks + b] = batch.y()[b][t];
                }
            }
            dev.upload(w.xs, Pointer.to(xs), (long) xs.length * Integer.BYTES, "the batch's inputs");
            dev.upload(w.ys, Pointer.to(ys), (long) ys.length * Integer.BYTES, "the batch's targets");
        }
    }

    /** Sampling: the same positions for each of the workspace's n samples, and their random streams. */
    void uploadSampling(Workspace w, int[][] positions, long seed, int first) {
        int steps = positions.length, n = w.tasks;
        int[] xs = new int[steps * n * inDim];
        for (int t = 0; t < steps; t++)
            for (int b = 0; b < n; b++) System.arraycopy(positions[t], 0, xs, (t * n + b) * inDim, inDim);
        dev.upload(w.xs, Pointer.to(xs), (long) xs.length * Integer.BYTES, "the sampling positions");
        long[] streams = new long[n];
        for (int b = 0; b < n; b++) streams[b] = SampleStreams.start(seed, first + b);
        dev.upload(w.streams, Pointer.to(streams), (long) n * Long.BYTES, "the random streams");
        dev.zero(w.done, (long) n * Integer.BYTES, "the sample flags");
    }

    double[] readNll(Workspace w, int tasks) {
        double[] nll = new double[tasks];
        dev.download(Pointer.to(nll), w.nll, (long) tasks * Double.BYTES, "the losses");
        return nll;
    }
}
