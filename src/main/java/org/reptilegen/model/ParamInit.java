package org.reptilegen.model;

import org.reptilegen.util.Rng;

/** Draws initial parameters by each tensor's {@link Init}, from one random stream, tensor by tensor. */
public final class ParamInit {
    private ParamInit() {}

    public static double[] draw(ParamLayout layout, Rng rng, boolean float32) {
        double[] p = new double[layout.size()];
        for (ParamLayout.Tensor t : layout.tensors()) {
            Init init = t.init();
            for (int i = t.offset(); i < t.offset() + t.numel(); i++) {
                double v = switch (init.kind()) {
                    case NORMAL -> rng.nextGaussian();
                    case UNIFORM -> (2 * rng.nextDouble() - 1) * init.bound();
                    case CONSTANT -> init.bound();
                };
                p[i] = float32 ? (float) v : v;
            }
        }
        return p;
    }
}
