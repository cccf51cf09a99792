// The CUDA execution model on the host, for the simulated driver (driver.cpp): kernels/*.cu compile
// against this header with a C++ compiler, so the real kernels run on machines without a GPU.
//
// What it does: __global__ functions become plain functions. The driver runs a grid's blocks on worker
// threads, several at once, in the order it is told (forward, reverse, or a seeded shuffle); a block's
// threads are cooperative fibers on one worker that switch only at __syncthreads() and warp shuffles,
// so barriers, shared memory (one copy per worker, hence per running block) and shuffles behave as on
// the device. Between barriers the lowest thread runs ahead as far as it can (or the highest, or a
// seeded random one): a missing barrier lets one thread read what another has not written yet.
// Atomics are real atomics and fences real fences, so the last-block patterns meet real interleavings.
//
// Limits: it checks indexing, arithmetic, barriers and ordering, not speed. No GPU memory model beyond
// the host's (x86 stores are seen in order); the lanes of a warp are not in lockstep (code that relies
// on implicit warp synchrony gets no guarantee here either); int atomicAdd only, no dynamic shared
// memory; shared memory is neither poisoned nor bounds-checked; only the intrinsics the kernels use (a
// new one is a compile error here, to be added); host libm and host float rounding (no fused multiply-
// add) instead of the GPU's, so results agree with a GPU to rounding, not bits.
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
    constexpr dim3() {}
    constexpr dim3(unsigned a, unsigned b = 1, unsigned c = 1) : x(a), y(b), z(c) {}
};
// Read at nearly every line of a kernel: constant-initialised, so an access needs no initialisation check.
inline thread_local dim3 threadIdx, blockIdx, blockDim, gridDim;

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __noinline__ __attribute__((noinline))
// Register budgets mean nothing on the host (the driver reads them from the sources for occupancy).
#define __launch_bounds__(...)
// One copy per worker thread: a worker runs one block at a time, and all of its threads.
#define __shared__ static thread_local
using std::max;
using std::min;

// Ends the running block as a device fault would (the driver reports it and makes the error sticky).
[[noreturn]] void sim_kernel_fault(const char* what);
// A planted missing barrier (driver.cpp): true when the barrier at file:line is to be skipped.
bool sim_barrier_planted_missing(const char* file, int line);

// ---- fibers: a context switch that saves only what a function call must preserve ----
#if defined(__x86_64__)
// swapcontext would also save the signal mask with a system call at every switch, which makes the
// simulation many times slower. Needs -fcf-protection=none (no shadow stack), which the build passes.
struct SimCtx {
    void* sp = nullptr;
};
extern "C" void sim_switch(void** save, void* load);
inline void sim_ctx_init(SimCtx& c, char* stack, size_t size, void (*entry)()) {
    uintptr_t top = ((uintptr_t)(stack + size)) & ~(uintptr_t)15;
    void** sp = (void**)(top - 64);  // six saved registers, the entry as return address, one pad slot
    for (int i = 0; i < 6; i++) sp[i] = nullptr;
    sp[6] = (void*)entry;  // entry starts with rsp = top - 8, as after a call
    sp[7] = nullptr;
    c.sp = sp;
}
inline void sim_ctx_switch(SimCtx& from, SimCtx& to) {
    sim_switch(&from.sp, to.sp);
}
#else
struct SimCtx {
    ucontext_t uc;
};
inline void sim_ctx_init(SimCtx& c, char* stack, size_t size, void (*entry)()) {
    getcontext(&c.uc);
    c.uc.uc_stack.ss_sp = stack;
    c.uc.uc_stack.ss_size = size;
    c.uc.uc_link = nullptr;
    makecontext(&c.uc, entry, 0);
}
inline void sim_ctx_switch(SimCtx& from, SimCtx& to) {
    swapcontext(&from.uc, &to.uc);
}
#endif

// ---- one block's threads, on one worker ----
struct SimBarrier {
    int expected = 0, arrived = 0;
    std::vector<int> waiters;
};
struct SimThread {
    SimCtx ctx;
    bool done = false;
    dim3 tid;
    int lin = 0;
    unsigned shuffles = 0;
};

// Which ready thread runs next.
enum SimPick { SIM_LOWEST = 0, SIM_HIGHEST = 1, SIM_RANDOM = 2 };

struct SimBlock {
    SimCtx sched;
    std::vector<SimThread> threads;
    char* stacks = nullptr;  // one stack per thread, each above an unmapped guard page
    int stackCount = 0;
    std::vector<uint64_t> ready;  // a bit per thread that can run
    int cur = 0;
    SimBarrier blockBar;
    std::vector<SimBarrier> warpBar;
    std::vector<int> warpSize;  // lanes a warp started with
    std::vector<double> lanes;  // two slots per thread for shuffles, used in turn
    const std::function<void()>* body = nullptr;
    SimPick pick = SIM_LOWEST;
    uint64_t rng = 0;
    int live = 0;  // threads that have not returned
};
inline thread_local SimBlock* g_blk = nullptr;

constexpr size_t SIM_STACK = 128 * 1024;

inline void sim_set_ready(int t) {
    g_blk->ready[t >> 6] |= 1ull << (t & 63);
}

inline void sim_release(SimBarrier& b) {
    b.arrived = 0;
    for (int t : b.waiters) sim_set_ready(t);
    b.waiters.clear();
}

// Leaves the running thread (waiting at a barrier, or done) for the next ready one, directly, or for
// the block's scheduler when none is ready (block.cpp).
void sim_switch_away(SimBlock* k);

inline void sim_wait(SimBarrier& b) {
    if (++b.arrived == b.expected) {
        sim_release(b);
        return;
    }
    SimBlock* k = g_blk;
    b.waiters.push_back(k->cur);
    sim_switch_away(k);  // back when the last thread arrives
}

// A thread that returns no longer takes part in its block's barriers (as on sm_70 and later).
inline void sim_leave(SimBarrier& b) {
    b.expected--;
    if (b.arrived > 0 && b.arrived == b.expected) sim_release(b);
}

inline void sim_syncthreads(const char* file, int line) {
    if (sim_barrier_planted_missing(file, line)) return;
    sim_wait(g_blk->blockBar);
}
#define __syncthreads() sim_syncthreads(__FILE__, __LINE__)

// Blocks run at once on several workers: atomics and fences are the host's own.
inline int atomicAdd(int* a, int v) {
    return __atomic_fetch_add(a, v, __ATOMIC_SEQ_CST);
}
inline void __threadfence() {
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
}

// Every lane of the warp must be present: the kernels pass the full mask.
template <class T>
inline T __shfl_xor_sync(unsigned mask, T v, int laneMask) {
    SimBlock* k = g_blk;
    int lin = k->threads[k->cur].lin, w = lin >> 5, lane = lin & 31;
    if (mask != 0xffffffffu) sim_kernel_fault("a shuffle with a partial mask, which the simulator does not model");
    if (k->warpSize[w] != 32 || k->warpBar[w].expected != 32)
        sim_kernel_fault("a full-mask shuffle in a warp with missing or exited lanes");
    // Shuffles alternate between two sets of slots: a lane writes the set of shuffle n + 2 only after
    // every lane has reached shuffle n + 1, hence has read its value of shuffle n. One barrier each.
    size_t set = (size_t)(k->threads[k->cur].shuffles++ & 1) * k->threads.size();
    k->lanes[set + lin] = (double)v;
    sim_wait(k->warpBar[w]);
    return (T)k->lanes[set + ((w << 5) | ((lane ^ laneMask) & 31))];
}
