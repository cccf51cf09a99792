package org.reptilegen.engine.cpu;

/**
 * One layer of one task on the CPU: the executable specification of the layer's math.
 *
 * <p>A layer owns its output {@code y} and input gradient {@code dx} and, in tangent mode, their
 * tangents {@code yT} and {@code dxT}; the caller owns the input. Tangents are directional
 * derivatives along the parameter direction {@code PassBuffers.v}: running forward and backward in tangent
 * mode yields the Hessian-vector product H v in {@code PassBuffers.h} (forward-over-reverse).
 */
abstract class CpuLayer {
    final int in, out;
    final double[] y, yT, dx, dxT;

    CpuLayer(int in, int out) {
        this.in = in;
        this.out = out;
        this.y = new double[out];
        this.yT = new double[out];
        this.dx = new double[in];
        this.dxT = new double[in];
    }

    /** y = f(x), and yT in tangent mode (xT null means a zero input tangent). */
    abstract void forward(PassBuffers s, double[] x, double[] xT);

    /**
     * From dy (and dyT in tangent mode) computes dx (and dxT), accumulates scale * dl/dtheta into
     * s.g and, in tangent mode, scale * (H v) into s.h. Uses what {@link #forward} stored: call it
     * right after the forward of the same input and parameters.
     */
    abstract void backward(PassBuffers s, double[] x, double[] xT, double[] dy, double[] dyT);

    static void zero(double[] a) {
        java.util.Arrays.fill(a, 0);
    }
}
