package org.reptilegen.engine.cpu;

import org.reptilegen.model.LayerSpec;

/**
 * embed: output segment j is row x_j of table j. The output is linear in the tables, so the
 * second-order part of its backward is only the tangent of dy scattered into the same rows;
 * the gradient touches only the looked-up rows (the sparse row update).
 */
final class EmbedLayer extends CpuLayer {
    private final int[] rows, dims, tableOff, outOff;

    EmbedLayer(LayerSpec.Embed spec, int paramStart) {
        super(spec.tables().size(), spec.outDim(spec.tables().size(), "embed"));
        int n = spec.tables().size();
        rows = new int[n];
        dims = new int[n];
        tableOff = new int[n];
        outOff = new int[n];
        int t = paramStart, o = 0;
        for (int j = 0; j < n; j++) {
            rows[j] = spec.tables().get(j)[0];
            dims[j] = spec.tables().get(j)[1];
            tableOff[j] = t;
            outOff[j] = o;
            t += rows[j] * dims[j];
            o += dims[j];
        }
    }

    private int row(double[] x, int j) {
        int r = (int) x[j];
        if (r < 0 || r >= rows[j] || r != x[j])
            throw new IllegalArgumentException(
                    "input " + j + " is " + x[j] + " but embed table " + j + " has rows 0.." + (rows[j] - 1));
        return r;
    }

    @Override
    void forward(PassBuffers s, double[] x, double[] xT) {
        for (int j = 0; j < rows.length; j++) {
            int src = tableOff[j] + row(x, j) * dims[j];
            System.arraycopy(s.p, s.base + src, y, outOff[j], dims[j]);
            if (s.tangent()) System.arraycopy(s.v, s.vbase + src, yT, outOff[j], dims[j]);
        }
    }

    @Override
    void backward(PassBuffers s, double[] x, double[] xT, double[] dy, double[] dyT) {
        for (int j = 0; j < rows.length; j++) {
            int dst = tableOff[j] + row(x, j) * dims[j];
            for (int k = 0; k < dims[j]; k++) s.add(s.gbase + dst + k, s.scale * dy[outOff[j] + k]);
            if (s.tangent()) for (int k = 0; k < dims[j]; k++) s.h[s.hbase + dst + k] += s.scale * dyT[outOff[j] + k];
        }
        // Integer inputs have no gradient: dx stays zero.
    }
}
