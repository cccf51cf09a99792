// The embedding's lookup, shared by embed.cu's kernels and by a linear that reads its input straight from
// the tables (linear.cu, with the embedding folded into it).
#pragma once
#include "common.cuh"

// Offset, within task b's parameters, of the table element that output column col of step *step reads:
// the table j whose output segment holds col (meta[4j..4j+3] = table offset, rows, width, output offset)
// at the row given by the step's j-th input. Shared by the gather and the scatter so both agree.
__device__ __forceinline__ size_t embed_element(const int* meta, int tables, int col, const int* xs, int inDim,
                                                const int* step, int B, int b) {
    int j = 0;
    while (j + 1 < tables && col >= meta[4 * (j + 1) + 3]) j++;
    int tableOff = meta[4 * j], dim = meta[4 * j + 2], outOff = meta[4 * j + 3];
    int row = xs[((size_t)(*step) * B + b) * inDim + j];
    return tableOff + (size_t)row * dim + (col - outOff);
}
