package org.reptilegen.engine.cpu;

/**
 * lstm_block(dim): z = [h ; x]; f, i, o = sigmoid of their gates' affine maps of z, u = the
 * updater's; c = i * tanh(u) + f * h; out = o * c. The state h is a parameter, not a recurrence.
 * Gates are laid out forget, input, output, updater, each weight [dim x 2dim] then bias [dim].
 */
final class LstmBlockLayer extends CpuLayer {
    private static final int F = 0, I = 1, O = 2, U = 3;
    private final int dim, hOff;
    private final int[] wOff = new int[4], bOff = new int[4];
    private final double[] z, zT, dz, dzT, c, cT;
    /** Per gate: pre-activation, its tangent, activation, activation's tangent, gradient, its tangent. */
    private final double[][] a = new double[4][],
            aT = new double[4][],
            act = new double[4][],
            actT = new double[4][],
            da = new double[4][],
            daT = new double[4][];

    LstmBlockLayer(int dim, int paramStart) {
        super(dim, dim);
        this.dim = dim;
        this.hOff = paramStart;
        int off = paramStart + dim;
        for (int k = 0; k < 4; k++) {
            wOff[k] = off;
            bOff[k] = off + 2 * dim * dim;
            off = bOff[k] + dim;
            a[k] = new double[dim];
            aT[k] = new double[dim];
            act[k] = new double[dim];
            actT[k] = new double[dim];
            da[k] = new double[dim];
            daT[k] = new double[dim];
        }
        z = new double[2 * dim];
        zT = new double[2 * dim];
        dz = new double[2 * dim];
        dzT = new double[2 * dim];
        c = new double[dim];
        cT = new double[dim];
    }

    @Override
    void forward(PassBuffers s, double[] x, double[] xT) {
        double[] p = s.p;
        System.arraycopy(p, s.base + hOff, z, 0, dim);
        System.arraycopy(x, 0, z, dim, dim);
        for (int k = 0; k < 4; k++) AffineMaps.forward(p, s.base + wOff[k], s.base + bOff[k], 2 * dim, dim, z, a[k]);
        for (int j = 0; j < dim; j++) {
            act[F][j] = Activations.sigmoid(a[F][j]);
            act[I][j] = Activations.sigmoid(a[I][j]);
            act[O][j] = Activations.sigmoid(a[O][j]);
            act[U][j] = Math.tanh(a[U][j]);
            c[j] = act[I][j] * act[U][j] + act[F][j] * z[j];
            y[j] = act[O][j] * c[j];
        }
        if (!s.tangent()) return;
        System.arraycopy(s.v, s.vbase + hOff, zT, 0, dim);
        if (xT != null) System.arraycopy(xT, 0, zT, dim, dim);
        else java.util.Arrays.fill(zT, dim, 2 * dim, 0);
        for (int k = 0; k < 4; k++)
            AffineMaps.forwardTangent(
                    p, s.base + wOff[k], s.v, s.vbase + wOff[k], s.vbase + bOff[k], 2 * dim, dim, z, zT, aT[k]);
        for (int j = 0; j < dim; j++) {
            for (int k = F; k <= O; k++) actT[k][j] = act[k][j] * (1 - act[k][j]) * aT[k][j];
            actT[U][j] = (1 - act[U][j] * act[U][j]) * aT[U][j];
            cT[j] = actT[I][j] * act[U][j] + act[I][j] * actT[U][j] + actT[F][j] * z[j] + act[F][j] * zT[j];
            yT[j] = actT[O][j] * c[j] + act[O][j] * cT[j];
        }
    }

    @Override
    void backward(PassBuffers s, double[] x, double[] xT, double[] dy, double[] dyT) {
        boolean tan = s.tangent();
        for (int j = 0; j < dim; j++) {
            double f = act[F][j], i = act[I][j], o = act[O][j], tu = act[U][j], h = z[j];
            double dO = dy[j] * c[j], dc = dy[j] * o;
            double dI = dc * tu, dTu = dc * i, dF = dc * h;
            double f1 = f * (1 - f), i1 = i * (1 - i), o1 = o * (1 - o), u1 = 1 - tu * tu;
            da[F][j] = dF * f1;
            da[I][j] = dI * i1;
            da[O][j] = dO * o1;
            da[U][j] = dTu * u1;
            dz[j] = dc * f; // the direct path c <- f * h; the gates add theirs below
            if (tan) {
                double fT = actT[F][j], iT = actT[I][j], oT = actT[O][j], tuT = actT[U][j], hT = zT[j];
                double dOT = dyT[j] * c[j] + dy[j] * cT[j], dcT = dyT[j] * o + dy[j] * oT;
                double dIT = dcT * tu + dc * tuT, dTuT = dcT * i + dc * iT, dFT = dcT * h + dc * hT;
                daT[F][j] = dFT * f1 + dF * f1 * (1 - 2 * f) * aT[F][j];
                daT[I][j] = dIT * i1 + dI * i1 * (1 - 2 * i) * aT[I][j];
                daT[O][j] = dOT * o1 + dO * o1 * (1 - 2 * o) * aT[O][j];
                daT[U][j] = dTuT * u1 - dTu * 2 * tu * u1 * aT[U][j];
                dzT[j] = dcT * f + dc * fT;
            }
        }
        java.util.Arrays.fill(dz, dim, 2 * dim, 0);
        if (tan) {
            java.util.Arrays.fill(dzT, dim, 2 * dim, 0);
            for (int k = 0; k < 4; k++)
                AffineMaps.backwardTangent(
                        s.p,
                        s.base + wOff[k],
                        s.v,
                        s.vbase + wOff[k],
                        2 * dim,
                        dim,
                        z,
                        zT,
                        da[k],
                        daT[k],
                        dzT,
                        s.h,
                        s.hbase + wOff[k],
                        s.hbase + bOff[k],
                        s.scale);
            for (int j = 0; j < dim; j++) s.h[s.hbase + hOff + j] += s.scale * dzT[j];
            System.arraycopy(dzT, dim, dxT, 0, dim);
        }
        for (int k = 0; k < 4; k++)
            AffineMaps.backward(
                    s.p,
                    s.base + wOff[k],
                    2 * dim,
                    dim,
                    z,
                    da[k],
                    dz,
                    s.g,
                    s.gbase + wOff[k],
                    s.gbase + bOff[k],
                    s.scale,
                    s.round);
        for (int j = 0; j < dim; j++) s.add(s.gbase + hOff + j, s.scale * dz[j]);
        System.arraycopy(dz, dim, dx, 0, dim);
    }
}
