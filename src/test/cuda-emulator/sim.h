// Runs CUDA kernels on the host: the kernel emulation test compiles kernels/*.cu against this header
// with a C++ compiler, so every kernel is checked against the CPU engine on machines without a GPU.
//
// What it does: __global__ functions become plain functions; launch() runs a grid as CUDA may: blocks
// one after another, the threads of a block as cooperative fibers that switch only at __syncthreads()
// and warp shuffles, so block barriers, shared memory and shuffles behave as on the device. Lower
// threads run ahead of higher ones as far as the barriers allow; SIM_REVERSE=1 lets the higher ones
// run ahead and runs the blocks last to first. A kernel whose result depends on that order (a missing
// barrier, a race between threads or blocks) then gives other bits.
//
// Limits: it checks indexing, arithmetic, barriers and ordering, not speed. Blocks never overlap, so a
// race between blocks shows only as an order dependence; there is no memory model (every write is seen
// at once, no caches, no reordering); the lanes of a warp are not in lockstep (code that relies on
// implicit warp synchrony gets no guarantee here either); int atomicAdd only, no dynamic shared memory; only the
// intrinsics the kernels use (a new one is a compile error here, to be added); host libm and host float
// rounding (no fused multiply-add) instead of the GPU's, so results agree with a GPU to rounding, not bits.
#pragma once
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <algorithm>
#include <functional>
#include <vector>
#if !defined(__x86_64__)
#include <ucontext.h>
#endif

struct dim3 {
    unsigned x = 1, y = 1, z = 1;
    dim3() {}
    dim3(unsigned a, unsigned b = 1, unsigned c = 1) : x(a), y(b), z(c) {}
};
inline dim3 threadIdx, blockIdx, blockDim, gridDim;

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __noinline__ __attribute__((noinline))
// Register budgets mean nothing on the host.
#define __launch_bounds__(...)
// Function-local statics: one copy shared by the block's threads; blocks run one at a time.
#define __shared__ static
using std::max;
using std::min;

[[noreturn]] inline void sim_fail(const char* what) {
    fprintf(stderr, "emulator: %s (block %u,%u thread %u,%u)\n", what, blockIdx.x, blockIdx.y, threadIdx.x, threadIdx.y);
    exit(3);
}

// ---- fibers: a context switch that saves only what a function call must preserve ----
#if defined(__x86_64__)
// swapcontext would also save the signal mask with a system call at every switch, which makes the
// emulation many times slower. Needs -fcf-protection=none (no shadow stack), which the test passes.
struct SimCtx { void* sp = nullptr; };
extern "C" void sim_switch(void** save, void* load);
asm(R"(
    .text
    .globl sim_switch
    .type sim_switch, @function
sim_switch:
    pushq %rbp
    pushq %rbx
    pushq %r12
    pushq %r13
    pushq %r14
    pushq %r15
    movq %rsp, (%rdi)
    movq %rsi, %rsp
    popq %r15
    popq %r14
    popq %r13
    popq %r12
    popq %rbx
    popq %rbp
    ret
    .size sim_switch, .-sim_switch
)");
inline void sim_ctx_init(SimCtx& c, char* stack, size_t size, void (*entry)()) {
    uintptr_t top = ((uintptr_t)(stack + size)) & ~(uintptr_t)15;
    void** sp = (void**)(top - 64);  // six saved registers, the entry as return address, one pad slot
    for (int i = 0; i < 6; i++) sp[i] = nullptr;
    sp[6] = (void*)entry;            // entry starts with rsp = top - 8, as after a call
    sp[7] = nullptr;
    c.sp = sp;
}
inline void sim_ctx_switch(SimCtx& from, SimCtx& to) { sim_switch(&from.sp, to.sp); }
#else
struct SimCtx { ucontext_t uc; };
inline void sim_ctx_init(SimCtx& c, char* stack, size_t size, void (*entry)()) {
    getcontext(&c.uc);
    c.uc.uc_stack.ss_sp = stack;
    c.uc.uc_stack.ss_size = size;
    c.uc.uc_link = nullptr;
    makecontext(&c.uc, entry, 0);
}
inline void sim_ctx_switch(SimCtx& from, SimCtx& to) { swapcontext(&from.uc, &to.uc); }
#endif

// ---- one block's threads ----
// Scheduling is depth-first: the lowest-numbered thread that can run goes on until it must wait at a
// barrier or a shuffle, so lower threads and warps run as far ahead of higher ones as the barriers
// allow (SIM_REVERSE=1: the highest). A missing barrier then lets one thread read or overwrite what
// another has not written or read yet, and the result changes.
struct SimBarrier { int expected = 0, arrived = 0; std::vector<int> waiters; };
struct SimThread { SimCtx ctx; bool done = false; dim3 tid; int lin = 0; };

constexpr size_t SIM_STACK = 128 * 1024;
inline SimCtx g_sched;
inline std::vector<SimThread> g_threads;
inline std::vector<char> g_stacks;
inline std::vector<uint64_t> g_ready;  // a bit per thread that can run
inline int g_cur;
inline SimBarrier g_blockBar;
inline std::vector<SimBarrier> g_warpBar;
inline std::vector<int> g_warpSize;  // lanes a warp started with
inline std::vector<double> g_lanes;  // one slot per thread for shuffles
inline std::function<void()>* g_body;

inline void sim_set_ready(int t) { g_ready[t >> 6] |= 1ull << (t & 63); }

inline void sim_release(SimBarrier& b) {
    b.arrived = 0;
    for (int t : b.waiters) sim_set_ready(t);
    b.waiters.clear();
}

inline void sim_wait(SimBarrier& b) {
    if (++b.arrived == b.expected) {
        sim_release(b);
        return;
    }
    b.waiters.push_back(g_cur);
    sim_ctx_switch(g_threads[g_cur].ctx, g_sched);  // back when the last thread arrives
}

// A thread that returns no longer takes part in its block's barriers (as on sm_70 and later).
inline void sim_leave(SimBarrier& b) {
    b.expected--;
    if (b.arrived > 0 && b.arrived == b.expected) sim_release(b);
}

inline void __syncthreads() { sim_wait(g_blockBar); }

// Blocks run one after another and threads switch only at barriers, so an atomic is a plain
// read-modify-write and every write is already visible to the blocks that follow.
inline int atomicAdd(int* a, int v) {
    int old = *a;
    *a = old + v;
    return old;
}

inline void __threadfence() {}

// Every lane of the warp must be present: the kernels pass the full mask.
template <class T>
inline T __shfl_xor_sync(unsigned mask, T v, int laneMask) {
    int lin = g_threads[g_cur].lin, w = lin >> 5, lane = lin & 31;
    if (mask != 0xffffffffu) sim_fail("a shuffle with a partial mask, which the emulator does not model");
    if (g_warpSize[w] != 32 || g_warpBar[w].expected != 32) sim_fail("a full-mask shuffle in a warp with missing or exited lanes");
    g_lanes[lin] = (double)v;
    sim_wait(g_warpBar[w]);
    T r = (T)g_lanes[(w << 5) | ((lane ^ laneMask) & 31)];
    sim_wait(g_warpBar[w]);  // nobody overwrites a slot before every lane has read
    return r;
}

inline void sim_thread_main() {
    (*g_body)();
    SimThread& t = g_threads[g_cur];
    sim_leave(g_warpBar[t.lin >> 5]);
    sim_leave(g_blockBar);
    t.done = true;
    sim_ctx_switch(t.ctx, g_sched);
    sim_fail("a finished thread was resumed");
}

inline bool sim_reverse() {
    static bool r = getenv("SIM_REVERSE") && getenv("SIM_REVERSE")[0] == '1';
    return r;
}

// Runs body as every thread of every block of the grid.
inline void launch(dim3 grid, dim3 block, std::function<void()> body) {
    bool reverse = sim_reverse();
    int n = (int)(block.x * block.y * block.z);
    if (block.z != 1 || grid.z != 1) sim_fail("3-D grids and blocks are not emulated");
    if (n < 1 || n > 1024) sim_fail("block size out of range");
    gridDim = grid;
    blockDim = block;
    g_body = &body;
    if ((int)g_threads.size() < n) {
        g_threads.resize(n);
        g_stacks.resize((size_t)n * SIM_STACK);
    }
    int warps = (n + 31) / 32;
    long blocks = (long)grid.x * grid.y;
    for (long k = 0; k < blocks; k++) {
        long kk = reverse ? blocks - 1 - k : k;
        blockIdx = dim3((unsigned)(kk % grid.x), (unsigned)(kk / grid.x));
        g_blockBar = SimBarrier{n, 0, {}};
        g_warpBar.assign(warps, SimBarrier{});
        g_warpSize.assign(warps, 0);
        for (int w = 0; w < warps; w++) g_warpBar[w].expected = g_warpSize[w] = std::min(32, n - 32 * w);
        g_lanes.assign((size_t)warps * 32, 0.0);
        g_ready.assign((n + 63) / 64, 0);
        for (int t = 0; t < n; t++) {
            SimThread& f = g_threads[t];
            f.done = false;
            f.lin = t;
            f.tid = dim3(t % block.x, t / block.x);
            sim_ctx_init(f.ctx, g_stacks.data() + (size_t)t * SIM_STACK, SIM_STACK, sim_thread_main);
            sim_set_ready(t);
        }
        int live = n;
        while (live > 0) {
            int t = -1;
            int words = (int)g_ready.size();
            for (int i = 0; i < words && t < 0; i++) {
                int wi = reverse ? words - 1 - i : i;
                uint64_t bits = g_ready[wi];
                if (bits) t = wi * 64 + (reverse ? 63 - __builtin_clzll(bits) : __builtin_ctzll(bits));
            }
            if (t < 0) sim_fail("deadlock: threads wait at a barrier others never reach");
            g_ready[t >> 6] &= ~(1ull << (t & 63));
            g_cur = t;
            threadIdx = g_threads[t].tid;
            sim_ctx_switch(g_sched, g_threads[t].ctx);
            if (g_threads[t].done) live--;
        }
    }
}
