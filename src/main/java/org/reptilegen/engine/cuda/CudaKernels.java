package org.reptilegen.engine.cuda;

import java.util.List;

/**
 * Every kernel the engine launches, with its .cu parameter list (checked against the sources by a test)
 * and its block shape. One place to read what a launch must pass.
 */
final class CudaKernels {
    private CudaKernels() {}

    /** The fatbin inside the jar. */
    static final String FATBIN_RESOURCE = "/kernels/reptile-gen.fatbin";

    private static KernelSig k(String name, String params, int bx, int by) {
        return new KernelSig(name, params, bx, by);
    }

    // embed.cu
    static final KernelSig EMBED_GATHER_FORWARD = k("embed_gather_forward",
            "const float* p, int P, const int* meta, int tables, int outWidth, const int* xs, int inDim, const int* step, int B, float* y", 256, 1);
    static final KernelSig EMBED_SCATTER_UPDATE = k("embed_scatter_update",
            "float* p, int P, float scale, float* acc, int accOn, const int* meta, int tables, int outWidth, const int* xs, int inDim, const int* step, int B, const float* dy", 256, 1);
    static final KernelSig EMBED_SCATTER_ADJOINT = k("embed_scatter_adjoint",
            "int P, const int* meta, int tables, int outWidth, const int* xs, int inDim, const int* step, int B, const float* dy, const float* dyT, float* lambda, float* rg, int rgOn, double alpha", 256, 1);
    static final KernelSig D2C_FORWARD = k("d2c_forward",
            "float scale, int inDim, const int* xs, const int* step, int B, float* y", 256, 1);

    // linear.cu
    static final KernelSig LINEAR_FORWARD = k("linear_forward",
            "const float* p, int P, int wOff, int bOff, int in, int out, const float* x, float* y, float* pre, int mode", 256, 1);
    /** linear_forward with an embedding before it or a layernorm after it folded in. */
    static final KernelSig LINEAR_FORWARD_FOLDED = k("linear_forward_folded",
            "const float* p, int P, int wOff, int bOff, int in, int out, float* x, float* y, float* pre, int mode, const int* step, const int* emMeta, int emTables, const int* xs, int inDim, int* lnArrivals, int lnG, int lnB, float* lnStats, float* lnY", 256, 1);
    /** The widest embedding linear_forward_folded gathers (LIN_EMBED_MAX). */
    static final int LINEAR_EMBED_MAX = 1024;
    /** Rows of W per forward block: one warp each. */
    static final int LINEAR_FORWARD_ROWS = 8;
    static final KernelSig LINEAR_BACKWARD_UPDATE = k("linear_backward_update",
            "float* p, int P, float scale, float* acc, int accOn, int wOff, int bOff, int in, int out, const float* x, const float* dy, const float* pre, int mode, float* dx, int splits, float* partial, int* arrivals, int* step, const int* emMeta, int emTables, const int* xs, int inDim, int loss, const int* ys, double* nll, int* lnArrivals, int lnG, int lnB, const float* lnX, const float* lnStats, float* lnDx, int* stepArrivals", 32, 8);
    /** Columns of W per backward block. */
    static final int LINEAR_BACKWARD_COLS = 32;
    static final KernelSig LINEAR_FORWARD_TANGENT = k("linear_forward_tangent",
            "const float* p, const float* v, int P, int wOff, int bOff, int in, int out, const float* x, const float* xT, int mode, float* y, float* pre, float* yT, float* preT", 256, 1);
    static final KernelSig LINEAR_BACKWARD_TANGENT = k("linear_backward_tangent",
            "const float* p, const float* v, int P, float* lambda, float* rg, int rgOn, double alpha, int wOff, int bOff, int in, int out, const float* x, const float* xT, const float* dy, const float* dyT, const float* pre, const float* preT, int mode, float* dx, float* dxT, int splits, float* partial, int* arrivals", 32, 8);

    // activation.cu
    static final KernelSig ACTIVATION_FORWARD = k("activation_forward",
            "int kind, int count, const float* x, float* y", 256, 1);
    static final KernelSig ACTIVATION_BACKWARD = k("activation_backward",
            "int kind, int count, const float* x, const float* y, const float* dy, float* dx", 256, 1);
    static final KernelSig GATED_FORWARD = k("gated_forward", "int d, int B, const float* x, float* y", 256, 1);
    static final KernelSig GATED_BACKWARD = k("gated_backward", "int d, int B, const float* x, const float* dy, float* dx", 256, 1);
    static final KernelSig ELEMENTWISE_ADD = k("elementwise_add", "int count, const float* a, const float* c, float* y", 256, 1);
    static final KernelSig GATE_MUL_FORWARD = k("gate_mul_forward", "int count, const float* a, const float* gp, float* y", 256, 1);
    static final KernelSig GATE_MUL_BACKWARD = k("gate_mul_backward",
            "int count, const float* a, const float* gp, const float* dy, float* da, float* dgp", 256, 1);
    static final KernelSig ACTIVATION_FORWARD_TANGENT = k("activation_forward_tangent",
            "int kind, int count, const float* x, const float* y, const float* xT, float* yT", 256, 1);
    static final KernelSig ACTIVATION_BACKWARD_TANGENT = k("activation_backward_tangent",
            "int kind, int count, const float* x, const float* y, const float* xT, const float* dy, const float* dyT, float* dx, float* dxT", 256, 1);
    static final KernelSig GATED_FORWARD_TANGENT = k("gated_forward_tangent",
            "int d, int B, const float* x, const float* xT, float* yT", 256, 1);
    static final KernelSig GATED_BACKWARD_TANGENT = k("gated_backward_tangent",
            "int d, int B, const float* x, const float* xT, const float* dy, const float* dyT, float* dx, float* dxT", 256, 1);
    static final KernelSig GATE_MUL_FORWARD_TANGENT = k("gate_mul_forward_tangent",
            "int count, const float* a, const float* aT, const float* gp, const float* gpT, float* yT", 256, 1);
    static final KernelSig GATE_MUL_BACKWARD_TANGENT = k("gate_mul_backward_tangent",
            "int count, const float* a, const float* aT, const float* gp, const float* gpT, const float* dy, const float* dyT, float* da, float* daT, float* dgp, float* dgpT", 256, 1);

    // layernorm.cu
    static final KernelSig LAYERNORM_FORWARD = k("layernorm_forward",
            "const float* p, int P, int gOff, int bOff, int dim, const float* x, float* stats, float* y", 256, 1);
    static final KernelSig LAYERNORM_BACKWARD_UPDATE = k("layernorm_backward_update",
            "float* p, int P, float scale, float* acc, int accOn, int gOff, int bOff, int dim, const float* x, const float* stats, const float* dy, float* dx", 256, 1);
    static final KernelSig LAYERNORM_FORWARD_TANGENT = k("layernorm_forward_tangent",
            "const float* p, const float* v, int P, int gOff, int bOff, int dim, const float* x, const float* xT, const float* stats, float* tstats, float* yT", 256, 1);
    static final KernelSig LAYERNORM_BACKWARD_TANGENT = k("layernorm_backward_tangent",
            "const float* p, const float* v, int P, float* lambda, float* rg, int rgOn, double alpha, int gOff, int bOff, int dim, const float* x, const float* xT, const float* stats, const float* tstats, const float* dy, const float* dyT, float* dx, float* dxT", 256, 1);

    // lstm.cu
    static final KernelSig LSTM_BLOCK_FORWARD = k("lstm_block_forward",
            "const float* p, int P, int hOff, int D, const float* x, float* z, float* act, float* c, float* y, int* lnArrivals, int lnG, int lnB, float* lnStats, float* lnY", 256, 1);
    /** Hidden units per forward block: one warp each. */
    static final int LSTM_FORWARD_UNITS = 8;
    static final KernelSig LSTM_BLOCK_BACKWARD_UPDATE = k("lstm_block_backward_update",
            "float* p, int P, float scale, float* acc, int accOn, int hOff, int D, const float* z, const float* act, const float* c, const float* dy, float* dx, int splits, float* partial, int* arrivals, int* lnArrivals, int lnG, int lnB, const float* lnX, const float* lnStats, float* lnDx", 32, 8);
    /** Columns of z per backward block. */
    static final int LSTM_BACKWARD_COLS = 32;
    static final KernelSig LSTM_BLOCK_FORWARD_TANGENT = k("lstm_block_forward_tangent",
            "const float* p, const float* v, int P, int hOff, int D, const float* x, const float* xT, float* z, float* act, float* c, float* y, float* zT, float* aT, float* cT, float* yT", 256, 1);
    static final KernelSig LSTM_BLOCK_BACKWARD_TANGENT = k("lstm_block_backward_tangent",
            "const float* p, const float* v, int P, float* lambda, float* rg, int rgOn, double alpha, int hOff, int D, const float* z, const float* zT, const float* act, const float* aT, const float* c, const float* cT, const float* dy, const float* dyT, float* dx, float* dxT, int splits, float* partial, int* arrivals", 32, 8);

    // loss.cu
    static final KernelSig BCE_LOSS_GRAD = k("bce_loss_grad",
            "int B, const float* z, const int* ys, const int* step, float* dz, double* nll", 128, 1);
    static final KernelSig SOFTMAX_CE_LOSS_GRAD = k("softmax_ce_loss_grad",
            "int B, int L, const float* z, const int* ys, const int* step, float* dz, double* nll", 256, 1);
    static final KernelSig BCE_LOSS_GRAD_TANGENT = k("bce_loss_grad_tangent",
            "int B, const float* z, const float* zT, const int* ys, const int* step, float* dz, float* dzT, double* nll", 128, 1);
    static final KernelSig SOFTMAX_CE_LOSS_GRAD_TANGENT = k("softmax_ce_loss_grad_tangent",
            "int B, int L, const float* z, const float* zT, const int* ys, const int* step, float* dz, float* dzT, double* nll", 256, 1);

    // sample.cu
    static final KernelSig SAMPLE_DRAW = k("sample_draw",
            "int B, int L, double temperature, const float* z, const unsigned long long* streams, int stopAtZero, const int* step, int steps, int* ys, int* done, int* out", 256, 1);
    /** The most classes sample_draw handles (its shared memory). */
    static final int SAMPLE_MAX_CLASSES = 256;

    // meta.cu
    static final KernelSig TASKS_FROM_THETA = k("tasks_from_theta",
            "const float* theta, int P, int S, int B, float* p, float* acc, int accOn", 256, 1);
    static final KernelSig META_GRADIENT_MEAN = k("meta_gradient_mean",
            "const float* rows, const float* theta, int reptile, int P, int S, int B, double* g", 256, 1);
    static final KernelSig ADAM_STEP = k("adam_step",
            "float* theta, const double* g, float* m, float* v, int P, double beta1, double beta2, double eps, double stepSize, double sqrtBc2", 256, 1);
    static final KernelSig STEP_SET = k("step_set", "int* step, int value", 1, 1);
    static final KernelSig STEP_ADVANCE = k("step_advance", "int* step", 1, 1);
    static final KernelSig ROWS_COPY = k("rows_copy", "const float* src, float* dst, int P, int B", 256, 1);
    static final KernelSig ROWS_ZERO = k("rows_zero", "float* dst, int P, int B", 256, 1);
    static final KernelSig STEP_ADD = k("step_add", "int* step, int delta", 1, 1);
    static final KernelSig RATED_STEP = k("rated_step",
            "float* p, float* gs, const float* rates, float* acc, float* q, int accOn, int P, int S, int B", 256, 1);
    static final KernelSig RATES_FOMAML_MEAN = k("rates_fomaml_mean", "const float* acc, const float* q, int P, int S, int B, double* gr", 256, 1);
    static final KernelSig MAML_DIRECTION = k("maml_direction", "const float* lambda, const float* rates, float* v, int P, int S, int B", 256, 1);

    static final List<KernelSig> ALL = List.of(
            EMBED_GATHER_FORWARD, EMBED_SCATTER_UPDATE, EMBED_SCATTER_ADJOINT, D2C_FORWARD,
            LINEAR_FORWARD, LINEAR_FORWARD_FOLDED, LINEAR_BACKWARD_UPDATE,
            ACTIVATION_FORWARD, ACTIVATION_BACKWARD, GATED_FORWARD, GATED_BACKWARD,
            ELEMENTWISE_ADD, GATE_MUL_FORWARD, GATE_MUL_BACKWARD,
            LAYERNORM_FORWARD, LAYERNORM_BACKWARD_UPDATE,
            LSTM_BLOCK_FORWARD, LSTM_BLOCK_BACKWARD_UPDATE,
            BCE_LOSS_GRAD, SOFTMAX_CE_LOSS_GRAD,
            SAMPLE_DRAW,
            TASKS_FROM_THETA, META_GRADIENT_MEAN, ADAM_STEP, STEP_SET, STEP_ADVANCE,
            LINEAR_FORWARD_TANGENT, LINEAR_BACKWARD_TANGENT,
            ACTIVATION_FORWARD_TANGENT, ACTIVATION_BACKWARD_TANGENT, GATED_FORWARD_TANGENT, GATED_BACKWARD_TANGENT,
            GATE_MUL_FORWARD_TANGENT, GATE_MUL_BACKWARD_TANGENT,
            LAYERNORM_FORWARD_TANGENT, LAYERNORM_BACKWARD_TANGENT,
            LSTM_BLOCK_FORWARD_TANGENT, LSTM_BLOCK_BACKWARD_TANGENT,
            BCE_LOSS_GRAD_TANGENT, SOFTMAX_CE_LOSS_GRAD_TANGENT,
            ROWS_COPY, ROWS_ZERO, STEP_ADD,
            RATED_STEP, RATES_FOMAML_MEAN, MAML_DIRECTION);

    /**
     * linear_forward's and linear_backward_update's modes, as the #defines in linear.cu; a linear followed
     * by an activation passes LIN_ACT plus the activation's kind.
     */
    static final int LIN_PLAIN = 0, LIN_SINE = 1, LIN_GATED = 2, LIN_ACT = 3;

    /** activation_forward's kinds, as the #defines in activation.cu. */
    static final int ACT_RELU = 0, ACT_TANH = 1, ACT_SIGMOID = 2;
    /** What a head linear's backward does about the loss (loss.cuh): nothing, or forms it itself. */
    static final int LOSS_NONE = 0, LOSS_BCE = 1, LOSS_SOFTMAX = 2;
}
