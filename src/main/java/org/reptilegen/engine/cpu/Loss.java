package org.reptilegen.engine.cpu;

import org.reptilegen.model.TaskKind;

/**
 * The losses (README, The math, 1) with their gradient and Hessian-vector product in the logits:
 * softmax cross-entropy over 256 logits (text) and binary cross-entropy with one logit (images).
 */
final class Loss {
    private Loss() {}

    /** Returns l(z, y) and writes dz = dl/dz and, when zT != null, dzT = (d^2 l/dz^2) zT. */
    static double apply(TaskKind kind, double[] z, int y, double[] dz, double[] zT, double[] dzT) {
        if (kind == TaskKind.MNIST) {
            double s = Activations.sigmoid(z[0]);
            dz[0] = s - y;
            if (zT != null) dzT[0] = s * (1 - s) * zT[0];
            return Activations.softplus(z[0]) - y * z[0];
        }
        int n = z.length;
        double m = Double.NEGATIVE_INFINITY;
        for (double v : z) m = Math.max(m, v);
        double sum = 0;
        for (int i = 0; i < n; i++) {
            dz[i] = Math.exp(z[i] - m);
            sum += dz[i];
        }
        double pzT = 0;
        for (int i = 0; i < n; i++) {
            dz[i] /= sum;
            if (zT != null) pzT += dz[i] * zT[i];
        }
        if (zT != null) for (int i = 0; i < n; i++) dzT[i] = dz[i] * (zT[i] - pzT);
        double loss = m + Math.log(sum) - z[y];
        dz[y] -= 1;
        return loss;
    }

    /** The model's distribution over y: softmax(z / temperature), or [1 - s, s] with s = sigmoid(z / temperature). */
    static void probabilities(TaskKind kind, double[] z, double temperature, double[] out) {
        if (kind == TaskKind.MNIST) {
            double s = Activations.sigmoid(z[0] / temperature);
            out[0] = 1 - s;
            out[1] = s;
            return;
        }
        double m = Double.NEGATIVE_INFINITY;
        for (double v : z) m = Math.max(m, v / temperature);
        double sum = 0;
        for (int i = 0; i < z.length; i++) {
            out[i] = Math.exp(z[i] / temperature - m);
            sum += out[i];
        }
        for (int i = 0; i < z.length; i++) out[i] /= sum;
    }
}
