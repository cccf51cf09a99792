// What the simulated driver's parts share: the table of host-compiled kernels (kernels.cpp), the block
// runner (block.cpp) and the driver API (driver.cpp).
#pragma once
#include <stddef.h>
#include <stdint.h>
#include <functional>
#include <string>
#include <vector>

#include "sim.h"

// One parameter of a kernel, as its .cu declaration has it.
struct SimParam {
    std::string type;  // "const float*", "int", ...
    unsigned size;     // bytes of the value passed
    bool pointer;
    unsigned pointee;  // bytes of what a pointer points at (its alignment on the device), 0 for others
};

// A kernel of kernels/*.cu compiled for the host.
struct SimKernel {
    const char* name;
    std::vector<SimParam> params;
    // __launch_bounds__(maxThreads, minBlocks) from the sources, 0 where absent.
    int maxThreads, minBlocks;
    // The kernel bound to argument values packed at offsets (one per parameter).
    std::function<void()> (*bind)(const unsigned char* packed, const std::vector<unsigned>& offsets);
};

const std::vector<SimKernel>& sim_kernels();

// Prepares a worker's block state (fiber stacks for up to 1024 threads).
void sim_block_init(SimBlock& blk);
// Runs block (bx, by) of a grid with every thread of it as a fiber on the calling thread.
void sim_run_block(SimBlock& blk, dim3 grid, dim3 block, const std::function<void()>& body, unsigned bx, unsigned by,
                   SimPick pick, uint64_t seed);
