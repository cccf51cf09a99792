// Runs one block of a grid: its threads as fibers on the calling worker thread (see sim.h).
#include <sys/mman.h>
#include <unistd.h>

#include "sim_internal.h"

#if defined(__x86_64__)
asm(R"(
    .text
    .globl sim_switch
    .hidden sim_switch
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
#endif

static constexpr int MAX_THREADS = 1024;

static size_t page() {
    static size_t p = (size_t)sysconf(_SC_PAGESIZE);
    return p;
}

// Each stack sits above an unmapped page, so a kernel that overflows its stack faults instead of
// writing into its neighbour's.
static size_t stackSpan() {
    return SIM_STACK + page();
}

void sim_block_init(SimBlock& blk) {
    if (blk.stacks) return;
    size_t span = stackSpan() * MAX_THREADS;
    void* m = mmap(nullptr, span, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (m == MAP_FAILED) {
        perror("reptile-gen simulated driver: fiber stacks");
        abort();
    }
    blk.stacks = (char*)m;
    for (int t = 0; t < MAX_THREADS; t++) mprotect(blk.stacks + t * stackSpan(), page(), PROT_NONE);
    blk.stackCount = MAX_THREADS;
    blk.threads.resize(MAX_THREADS);
}

static int pickThread(SimBlock& k);

void sim_switch_away(SimBlock* k) {
    SimThread& self = k->threads[k->cur];
    int t = pickThread(*k);
    if (t < 0) {
        sim_ctx_switch(self.ctx, k->sched);
        return;
    }
    k->ready[t >> 6] &= ~(1ull << (t & 63));
    k->cur = t;
    threadIdx = k->threads[t].tid;
    sim_ctx_switch(self.ctx, k->threads[t].ctx);
}

static void threadMain() {
    SimBlock* k = g_blk;
    (*k->body)();
    k = g_blk;
    SimThread& t = k->threads[k->cur];
    sim_leave(k->warpBar[t.lin >> 5]);
    sim_leave(k->blockBar);
    t.done = true;
    k->live--;
    sim_switch_away(k);
    sim_kernel_fault("a finished thread was resumed");
}

static uint64_t splitmix(uint64_t& s) {
    uint64_t z = (s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

// The next thread to run among the ready ones, or -1.
static int pickThread(SimBlock& k) {
    int words = (int)k.ready.size();
    if (k.pick == SIM_RANDOM) {
        int count = 0;
        for (uint64_t w : k.ready) count += __builtin_popcountll(w);
        if (count == 0) return -1;
        int n = (int)(splitmix(k.rng) % (uint64_t)count);
        for (int i = 0; i < words; i++) {
            uint64_t bits = k.ready[i];
            int c = __builtin_popcountll(bits);
            if (n >= c) {
                n -= c;
                continue;
            }
            while (n-- > 0) bits &= bits - 1;
            return i * 64 + __builtin_ctzll(bits);
        }
        return -1;
    }
    bool high = k.pick == SIM_HIGHEST;
    for (int i = 0; i < words; i++) {
        int wi = high ? words - 1 - i : i;
        uint64_t bits = k.ready[wi];
        if (bits) return wi * 64 + (high ? 63 - __builtin_clzll(bits) : __builtin_ctzll(bits));
    }
    return -1;
}

void sim_run_block(SimBlock& k, dim3 grid, dim3 block, const std::function<void()>& body, unsigned bx, unsigned by,
                   SimPick pick, uint64_t seed) {
    int n = (int)(block.x * block.y * block.z);
    g_blk = &k;
    gridDim = grid;
    blockDim = block;
    blockIdx = dim3(bx, by);
    k.body = &body;
    k.pick = pick;
    k.rng = seed;
    int warps = (n + 31) / 32;
    k.blockBar = SimBarrier{n, 0, {}};
    k.warpBar.assign(warps, SimBarrier{});
    k.warpSize.assign(warps, 0);
    for (int w = 0; w < warps; w++) k.warpBar[w].expected = k.warpSize[w] = std::min(32, n - 32 * w);
    if (k.lanes.size() != 2 * k.threads.size()) k.lanes.assign(2 * k.threads.size(), 0.0);
    k.ready.assign((n + 63) / 64, 0);
    for (int t = 0; t < n; t++) {
        SimThread& f = k.threads[t];
        f.done = false;
        f.lin = t;
        f.shuffles = 0;
        f.tid = dim3(t % block.x, (t / block.x) % block.y, t / (block.x * block.y));
        sim_ctx_init(f.ctx, k.stacks + t * stackSpan() + page(), SIM_STACK, threadMain);
        sim_set_ready(t);
    }
    // The threads hand over to each other at barriers; back here when all are done, or none can run.
    k.live = n;
    int t = pickThread(k);
    k.ready[t >> 6] &= ~(1ull << (t & 63));
    k.cur = t;
    threadIdx = k.threads[t].tid;
    sim_ctx_switch(k.sched, k.threads[t].ctx);
    if (k.live > 0) sim_kernel_fault("deadlock: threads wait at a barrier that the others never reach");
}
