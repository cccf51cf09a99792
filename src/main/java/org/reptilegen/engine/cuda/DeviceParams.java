package org.reptilegen.engine.cuda;

import jcuda.Pointer;
import org.reptilegen.core.Adam;
import org.reptilegen.core.TrainState;

/**
 * A model's parameters as an engine keeps them on the device: theta and Adam's moments in float32, the
 * gradient in float64, and Adam's step count; uploaded from and read back into a {@link TrainState}.
 */
final class DeviceParams implements AutoCloseable {
    private final Device dev;
    final int count;
    final Address theta, adamM, adamV, grad;
    private long adamStep;

    DeviceParams(Device dev, int count) {
        this.dev = dev;
        this.count = count;
        long fb = (long) count * Float.BYTES, db = (long) count * Double.BYTES;
        Address t = null, m = null, v = null, g = null;
        try {
            t = dev.alloc(fb, "theta");
            m = dev.alloc(fb, "Adam's first moments");
            v = dev.alloc(fb, "Adam's second moments");
            g = dev.alloc(db, "the gradient");
            dev.zero(t, fb, "theta");
            dev.zero(m, fb, "Adam's moments");
            dev.zero(v, fb, "Adam's moments");
            dev.zero(g, db, "the gradient");
        } catch (RuntimeException e) {
            for (Address p : new Address[] {t, m, v, g}) dev.free(p);
            throw e;
        }
        theta = t;
        adamM = m;
        adamV = v;
        grad = g;
    }

    /** theta, the moments and the step of s (float32 on the device); learned inner rates are the engine's. */
    void upload(TrainState s) {
        if (s.theta().length != count)
            throw new IllegalArgumentException("theta has " + s.theta().length + " values, the model " + count);
        // The uploads copy count floats from each array: a shorter one would be read past its end.
        if (s.adamM().length != count || s.adamV().length != count)
            throw new IllegalArgumentException("Adam's moments have " + s.adamM().length + " and " + s.adamV().length
                    + " values, the model " + count);
        long fb = (long) count * Float.BYTES;
        dev.upload(theta, Pointer.to(toFloats(s.theta())), fb, "theta");
        dev.upload(adamM, Pointer.to(toFloats(s.adamM())), fb, "Adam's first moments");
        dev.upload(adamV, Pointer.to(toFloats(s.adamV())), fb, "Adam's second moments");
        adamStep = s.adamStep();
    }

    /** theta, the moments and the step, without inner rates. */
    TrainState download() {
        return new TrainState(
                download(theta, "theta"),
                download(adamM, "Adam's first moments"),
                download(adamV, "Adam's second moments"),
                adamStep);
    }

    long adamStep() {
        return adamStep;
    }

    static float[] toFloats(double[] a) {
        float[] f = new float[a.length];
        for (int i = 0; i < a.length; i++) f[i] = (float) a[i];
        return f;
    }

    private double[] download(Address p, String what) {
        float[] f = new float[count];
        dev.download(Pointer.to(f), p, (long) count * Float.BYTES, what);
        double[] d = new double[count];
        for (int i = 0; i < count; i++) d[i] = f[i];
        return d;
    }

    void checkGradient(double[] g) {
        if (g.length != count) throw new IllegalArgumentException("g has " + g.length + " values, the model " + count);
    }

    void downloadGradient(double[] g) {
        checkGradient(g);
        dev.download(Pointer.to(g), grad, (long) count * Double.BYTES, "the gradient");
    }

    void uploadGradient(double[] g) {
        checkGradient(g);
        dev.upload(grad, Pointer.to(g), (long) count * Double.BYTES, "the gradient");
    }

    void clearGradient() {
        dev.zero(grad, (long) count * Double.BYTES, "the gradient");
    }

    /** Adam step t + 1 of theta with the gradient on the device; returns t + 1. */
    long adam(Adam a) {
        long t = adamStep + 1;
        try (var r = Nvtx.range("Adam step")) {
            dev.run(Workspace.adamUpdate(dev::function, count, theta, grad, adamM, adamV, a, t));
            dev.sync("the Adam step");
        }
        adamStep = t;
        return t;
    }

    @Override
    public void close() {
        Cleanup c = new Cleanup();
        for (Address p : new Address[] {theta, adamM, adamV, grad}) c.run(() -> dev.free(p));
        c.rethrow("freeing the parameters");
    }
}
