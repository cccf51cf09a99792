package org.reptilegen.engine.cuda;

import static org.reptilegen.engine.cuda.CudaKernels.LIN_GATED;
import static org.reptilegen.engine.cuda.CudaKernels.LIN_PLAIN;
import static org.reptilegen.engine.cuda.Launch.blocks;

import java.util.List;
import jcuda.driver.CUdeviceptr;
import org.reptilegen.model.LayerSpec;

/**
 * linear (and siren's sine linear, and a linear with the activation after it fused in): one forward and
 * one fused backward-and-update launch; the small layers next to it may run inside them (folded).
 */
final class LinearNode extends PlanNode {
    private final int wOff, bOff;
    /**
     * LIN_PLAIN, LIN_SINE or LIN_ACT + an activation kind (those two keep the pre-activation in pre);
     * the gated pair passes LIN_GATED to its launches.
     */
    final int mode;

    private final CUdeviceptr pre, preT;
    private final Splits splits;
    final FoldedNeighbours folded;

    LinearNode(PlanContext c, String name, int in, int out, int mode, CUdeviceptr x, CUdeviceptr xT) {
        super(c, name, in, out, x, xT);
        folded = new FoldedNeighbours(c, true);
        this.wOff = c.offset(LayerSpec.Linear.weight(name));
        this.bOff = c.offset(LayerSpec.Linear.bias(name));
        this.mode = mode;
        splits = new Splits(c, name, in, CudaKernels.LINEAR_BACKWARD_COLS, out);
        boolean elementwise = mode != LIN_PLAIN;
        y = floats(out, "y");
        yT = tangentFloats(out, "yT");
        pre = elementwise ? floats(out, "pre-activation") : y;
        preT = elementwise ? tangentFloats(out, "pre-activation tangent") : yT;
        dx = floats(in, "dx");
        dxT = tangentFloats(in, "dxT");
    }

    void forward(List<Launch> ops, Target t, boolean tangent) {
        // The tangent's launch is the forward and its tangent in one pass over W and V.
        ops.add(tangent ? forwardTangentLaunch(t, y, yT, mode) : forwardLaunch(t, y, mode));
    }

    private int forwardGrid(int mode) {
        return blocks(mode == LIN_GATED ? out / 2 : out, CudaKernels.LINEAR_FORWARD_ROWS);
    }

    /** linear_forward_tangent into y, yT in the given mode (for LIN_GATED the gated output and its tangent). */
    Launch forwardTangentLaunch(Target t, CUdeviceptr into, CUdeviceptr intoT, int mode) {
        Workspace w = w();
        return c.build(params(Kernels.linearForwardTangent(), t.params())
                .grid(forwardGrid(mode), w.tasks)
                .v(w.direction)
                .wOff(wOff)
                .bOff(bOff)
                .in(in)
                .out(out)
                .x(x)
                .xT(xT)
                .mode(mode)
                .y(into)
                .pre(pre)
                .yT(intoT)
                .preT(preT)
                .from(name + " linear forward and tangent"));
    }

    /**
     * linear_forward into y in the given mode (for LIN_GATED y is the gated output, pre this node's y),
     * or linear_forward_folded where an embedding or a layernorm is folded in.
     */
    Launch forwardLaunch(Target t, CUdeviceptr into, int mode) {
        Workspace w = w();
        if (!folded.intoForward())
            return c.build(params(Kernels.linearForward(), t.params())
                    .grid(forwardGrid(mode), w.tasks)
                    .wOff(wOff)
                    .bOff(bOff)
                    .in(in)
                    .out(out)
                    .x(x)
                    .y(into)
                    .pre(pre)
                    .mode(mode)
                    .from(name + " linear forward"));
        return c.build(folded.layerNormForward(folded.embed(params(Kernels.linearForwardFolded(), t.params())))
                .grid(forwardGrid(mode), w.tasks)
                .wOff(wOff)
                .bOff(bOff)
                .in(in)
                .out(out)
                .x(x)
                .y(into)
                .pre(pre)
                .mode(mode)
                .from(name + " linear forward" + (folded.input != null ? ", embedding gathered" : "")
                        + (folded.after != null ? ", layernorm after" : "")));
    }

    void backward(List<Launch> ops, Target t, CUdeviceptr dy) {
        ops.add(backwardLaunch(t, dy, mode));
    }

    /** linear_backward_update for dy in the given mode (for LIN_GATED dy is the gated output's gradient). */
    Launch backwardLaunch(Target t, CUdeviceptr dy, int mode) {
        Kernels.LinearBackwardUpdate b = folded.stepAdvance(folded.layerNormBackward(folded.loss(
                folded.embed(splits.on(t.update().on(params(Kernels.linearBackwardUpdate(), t.params())))), t)));
        return c.build(b.grid(splits.gridX(), w().tasks)
                .wOff(wOff)
                .bOff(bOff)
                .in(in)
                .out(out)
                .x(x)
                .dy(dy)
                .pre(pre)
                .mode(mode)
                .dx(dx)
                .from(name + " linear backward" + (folded.input != null ? ", embedding updated" : "")
                        + (folded.loss != CudaKernels.LOSS_NONE ? ", loss" : "")
                        + (folded.before != null ? ", layernorm before" : "")
                        + (folded.stepArrivals != null ? ", step advance" : "")));
    }

    void backwardTangent(List<Launch> ops, Target t, CUdeviceptr dy, CUdeviceptr dyT) {
        ops.add(backwardTangentLaunch(t, dy, dyT, mode));
    }

    /** linear_backward_tangent for dy, dyT in the given mode (for LIN_GATED the gated output's gradients). */
    Launch backwardTangentLaunch(Target t, CUdeviceptr dy, CUdeviceptr dyT, int mode) {
        Workspace w = w();
        return c.build(splits.on(t.adjoint().on(params(Kernels.linearBackwardTangent(), t.params())))
                .grid(splits.gridX(), w.tasks)
                .v(w.direction)
                .wOff(wOff)
                .bOff(bOff)
                .in(in)
                .out(out)
                .x(x)
                .xT(xT)
                .dy(dy)
                .dyT(dyT)
                .pre(pre)
                .preT(preT)
                .mode(mode)
                .dx(dx)
                .dxT(dxT)
                .from(name + " linear backward tangent"));
    }
}
