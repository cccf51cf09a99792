package org.reptilegen.engine.cuda;

import static org.reptilegen.engine.cuda.Launch.blocks;

import java.util.List;
import jcuda.driver.CUdeviceptr;
import org.reptilegen.model.LayerSpec;

/** lstm_block: its gates' four linears and the cell in one forward and one fused backward-and-update launch. */
final class LstmNode extends PlanNode {
    private final int hOff, dim;
    private final CUdeviceptr z, act, cell, zT, aT, cT;
    private final Splits splits;
    final FoldedNeighbours folded;

    LstmNode(PlanContext c, String name, int dim, CUdeviceptr x, CUdeviceptr xT) {
        super(c, name, dim, dim, x, xT);
        this.dim = dim;
        folded = new FoldedNeighbours(c, false);
        // lstm.cu finds gate k at hOff + D + k (2D*D + D), its bias after its weight: one block in layout order.
        hOff = c.packed(LayerSpec.LstmBlock.parameters(name));
        splits = new Splits(c, name, 2 * dim, CudaKernels.LSTM_BACKWARD_COLS, 4 * dim);
        z = floats(2L * dim, "z");
        act = floats(4L * dim, "gates");
        cell = floats(dim, "cell");
        y = floats(dim, "y");
        dx = floats(dim, "dx");
        zT = tangentFloats(2L * dim, "zT");
        aT = tangentFloats(4L * dim, "gatesT");
        cT = tangentFloats(dim, "cellT");
        yT = tangentFloats(dim, "yT");
        dxT = tangentFloats(dim, "dxT");
    }

    void forward(List<Launch> ops, Target t, boolean tangent) {
        Workspace w = w();
        int grid = blocks(dim, CudaKernels.LSTM_FORWARD_UNITS);
        if (tangent) {
            // The forward and its tangent in one pass over the gates' W and V.
            ops.add(c.build(params(Kernels.lstmBlockForwardTangent(), t.params())
                    .grid(grid, w.tasks)
                    .v(w.direction)
                    .hOff(hOff)
                    .D(dim)
                    .x(x)
                    .xT(xT)
                    .z(z)
                    .act(act)
                    .c(cell)
                    .y(y)
                    .zT(zT)
                    .aT(aT)
                    .cT(cT)
                    .yT(yT)
                    .from(name + " lstm_block forward and tangent")));
            return;
        }
        ops.add(c.build(folded.layerNormForward(params(Kernels.lstmBlockForward(), t.params())
                        .grid(grid, w.tasks)
                        .hOff(hOff)
                        .D(dim)
                        .x(x)
                        .z(z)
                        .act(act)
                        .c(cell)
                        .y(y))
                .from(name + " lstm_block forward")));
    }

    void backward(List<Launch> ops, Target t, CUdeviceptr dy) {
        ops.add(c.build(folded.layerNormBackward(
                        splits.on(t.update().on(params(Kernels.lstmBlockBackwardUpdate(), t.params()))))
                .grid(splits.gridX(), w().tasks)
                .hOff(hOff)
                .D(dim)
                .z(z)
                .act(act)
                .c(cell)
                .dy(dy)
                .dx(dx)
                .from(name + " lstm_block backward")));
    }

    void backwardTangent(List<Launch> ops, Target t, CUdeviceptr dy, CUdeviceptr dyT) {
        Workspace w = w();
        ops.add(c.build(splits.on(t.adjoint().on(params(Kernels.lstmBlockBackwardTangent(), t.params())))
                .grid(splits.gridX(), w.tasks)
                .v(w.direction)
                .hOff(hOff)
                .D(dim)
                .z(z)
                .zT(zT)
                .act(act)
                .aT(aT)
                .c(cell)
                .cT(cT)
                .dy(dy)
                .dyT(dyT)
                .dx(dx)
                .dxT(dxT)
                .from(name + " lstm_block backward tangent")));
    }
}
