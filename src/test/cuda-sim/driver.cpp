// The simulated CUDA driver: a libcuda.so.1 that runs the real kernels/*.cu, compiled for the host
// (sim.h, kernels.cpp), behind the driver API calls the cuda engine makes through JCuda. Loaded in
// place of the NVIDIA driver, it lets the engine's own host code (contexts, memory, copies, launches,
// stream capture and graph replay) run and be tested on machines without a GPU.
//
// The virtual device: compute capability 9.0, 132 multiprocessors, 16 GiB (REPTILE_GEN_SIM_MEMORY), a
// 50 MiB L2, 2048 threads and 32 blocks per multiprocessor; occupancy is __launch_bounds__' least
// blocks where a kernel states it, else what the thread count allows. Work runs when it is issued,
// on REPTILE_GEN_SIM_THREADS worker threads (default: the host's cores), with the blocks of a grid in
// REPTILE_GEN_SIM_ORDER (forward, reverse or shuffle:SEED); events time the host's work.
//
// What it checks, as a GPU would fail or worse: every allocation is filled with 0xff (NaN) and sits
// against an unmapped page, with the bytes before it and after its end watched after every launch; a
// freed allocation is unmapped and its addresses never reused; copies and memsets must stay inside one
// live allocation; a launch's arguments are unpacked by the kernel's declaration, their count checked
// against the null entry that ends the list, pointers checked to point into live memory with the
// alignment of what they point at; a graph's launches are checked again at every replay against
// memory freed since the recording; synchronous calls during a stream capture invalidate it. A fault
// in a kernel (a bad access, a deadlock at a barrier) ends its launch, prints one line naming the
// kernel, block, thread and address, and, as on a GPU, every later call returns the error until the
// context is reset or released. The simulated cuBLAS and cuDNN (cublas.cpp, cudnn.cpp) check their
// operands, streams and the context through it (sim_lib.h), so their calls fail the same way.
#include <jni.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "sim_internal.h"
#include "sim_lib.h"

typedef int CUresult;
typedef unsigned long long CUdeviceptr;
typedef int CUdevice;

enum {
    CUDA_SUCCESS = 0,
    CUDA_ERROR_INVALID_VALUE = 1,
    CUDA_ERROR_OUT_OF_MEMORY = 2,
    CUDA_ERROR_NOT_INITIALIZED = 3,
    CUDA_ERROR_PROFILER_ALREADY_STARTED = 7,
    CUDA_ERROR_PROFILER_ALREADY_STOPPED = 8,
    CUDA_ERROR_NO_DEVICE = 100,
    CUDA_ERROR_INVALID_DEVICE = 101,
    CUDA_ERROR_INVALID_IMAGE = 200,
    CUDA_ERROR_INVALID_CONTEXT = 201,
    CUDA_ERROR_NO_BINARY_FOR_GPU = 209,
    CUDA_ERROR_INVALID_HANDLE = 400,
    CUDA_ERROR_NOT_FOUND = 500,
    CUDA_ERROR_NOT_READY = 600,
    CUDA_ERROR_ILLEGAL_ADDRESS = 700,
    CUDA_ERROR_LAUNCH_OUT_OF_RESOURCES = 701,
    CUDA_ERROR_MISALIGNED_ADDRESS = 716,
    CUDA_ERROR_LAUNCH_FAILED = 719,
    CUDA_ERROR_NOT_SUPPORTED = 801,
    CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED = 900,
    CUDA_ERROR_STREAM_CAPTURE_INVALIDATED = 901,
    CUDA_ERROR_STREAM_CAPTURE_IMPLICIT = 906,
    CUDA_ERROR_STREAM_CAPTURE_WRONG_THREAD = 908,
};

#define API extern "C" __attribute__((visibility("default")))

// ---------------------------------------------------------------------------------------------------
// Messages: one line each on stderr, also kept for the tests (SimulatedDriver.takeReport).

static std::mutex g_reportLock;
static std::string g_report;

static void sayLine(const std::string& l) {
    fputs(l.c_str(), stderr);
    fflush(stderr);
    std::lock_guard<std::mutex> g(g_reportLock);
    g_report += l;
}

static void say(const std::string& line) {
    sayLine("reptile-gen simulated driver: " + line + "\n");
}

static std::string hex(uintptr_t v) {
    char b[32];
    snprintf(b, sizeof b, "0x%llx", (unsigned long long)v);
    return b;
}

static std::string bytes(size_t n) {
    return std::to_string(n) + "-byte";
}

// ---------------------------------------------------------------------------------------------------
// The virtual device and its settings.

static const int SM_COUNT = 132, CC_MAJOR = 9, CC_MINOR = 0;
static const int THREADS_PER_SM = 2048, BLOCKS_PER_SM = 32;
static const size_t L2_BYTES = 50u << 20;
static const char* DEVICE_NAME = "reptile-gen simulated GPU";

static size_t g_totalMem = 16ull << 30;
static int g_threads = 1;
static int g_order = 0;  // 0 forward, 1 reverse, 2 shuffle
static uint64_t g_seed = 0;

// A size such as 4G, 512M or 1000000 (bytes); dflt, with a line saying so, when it is none.
static size_t parseSize(const char* name, const char* s, size_t dflt) {
    if (!s || !*s) return dflt;
    char* end;
    double v = strtod(s, &end);
    double unit = 1;
    switch (*end) {
        case 'k':
        case 'K':
            unit = 1024;
            end++;
            break;
        case 'm':
        case 'M':
            unit = 1024.0 * 1024;
            end++;
            break;
        case 'g':
        case 'G':
            unit = 1024.0 * 1024 * 1024;
            end++;
            break;
        default:
            break;
    }
    if (end == s || *end != 0 || !(v > 0) || v * unit > 1e15) {
        say(std::string(name) + "=" + s + " is not a size such as 4G, 512M or 1000000: using " +
            std::to_string(dflt >> 30) + "G");
        return dflt;
    }
    return (size_t)(v * unit);
}

static bool setOrder(const std::string& o) {
    if (o == "forward")
        g_order = 0;
    else if (o == "reverse")
        g_order = 1;
    else if (o.rfind("shuffle", 0) == 0) {
        g_order = 2;
        g_seed = o.size() > 8 && o[7] == ':' ? strtoull(o.c_str() + 8, nullptr, 10) : 1;
    } else
        return false;
    return true;
}

static std::string orderName() {
    if (g_order == 0) return "forward";
    if (g_order == 1) return "reverse";
    return "shuffle:" + std::to_string(g_seed);
}

static void readSettings() {
    g_totalMem = parseSize("REPTILE_GEN_SIM_MEMORY", getenv("REPTILE_GEN_SIM_MEMORY"), 16ull << 30);
    unsigned hw = std::thread::hardware_concurrency();
    g_threads = (int)std::max(1u, std::min(hw ? hw : 1u, 64u));
    if (const char* t = getenv("REPTILE_GEN_SIM_THREADS")) {
        int n = atoi(t);
        if (n >= 1 && n <= 64)
            g_threads = n;
        else
            say(std::string("REPTILE_GEN_SIM_THREADS=") + t + " is not 1 to 64: using " + std::to_string(g_threads));
    }
    if (const char* o = getenv("REPTILE_GEN_SIM_ORDER"))
        if (!setOrder(o))
            say(std::string("REPTILE_GEN_SIM_ORDER=") + o + " is not forward, reverse or shuffle:SEED: using forward");
}

// ---------------------------------------------------------------------------------------------------
// State. Every API call holds g_lock; kernels run on the workers while the calling thread waits.

static std::recursive_mutex g_lock;
#define LOCK std::lock_guard<std::recursive_mutex> lock_(g_lock)

static bool g_inited = false;

struct Alloc {
    uintptr_t base;
    size_t size;
    uintptr_t mapStart;
    size_t mapLen;
    uint64_t id;
    bool freed;
};

struct Module;
struct Func {
    const SimKernel* kernel;
    Module* module;
};
struct Module {
    std::map<std::string, Func*> functions;
};

// A recorded operation of a stream capture.
struct Node {
    enum Kind { KERNEL, MEMSET, COPY, EVENT } kind;
    // KERNEL
    Func* func = nullptr;
    const SimKernel* kernel = nullptr;
    dim3 grid, block;
    std::vector<unsigned char> packed;
    std::vector<unsigned> offsets;
    std::vector<uint64_t> allocIds;  // per parameter: the allocation a pointer pointed into, 0 for others
    // MEMSET (32-bit values) and COPY
    CUdeviceptr dst = 0, src = 0;
    unsigned value = 0;
    size_t count = 0;
    // EVENT
    struct Event* event = nullptr;
};

struct Event {
    bool recorded = false;
    double ms = 0;
};

struct Stream {
    bool capturing = false, invalidated = false;
    int mode = 0;
    pthread_t thread{};
    std::vector<Node> nodes;
};

struct Graph {
    std::vector<Node> nodes;
};
struct GraphExec {
    std::vector<Node> nodes;
};

struct Context {
    int refs = 0;
    CUresult sticky = CUDA_SUCCESS;
    bool profiling = false;
};

static Context g_ctx;
static thread_local Context* t_current = nullptr;

static std::map<uintptr_t, Alloc> g_allocs;  // by base, freed ones too (addresses are never reused)
static uint64_t g_nextAllocId = 1;
static size_t g_liveBytes = 0, g_liveCount = 0;
static std::set<Module*> g_modules;
static std::set<Stream*> g_streams;
static std::set<Event*> g_events;
static std::set<Graph*> g_graphs;
static std::set<GraphExec*> g_execs;
static uint64_t g_launches = 0;

// Planted bugs, for the tests that prove the checks catch them.
struct Plants {
    std::string barrierFile;
    int barrierLine = -1;
    std::string swapKernel;
    int swapA = -1, swapB = -1;
    long shortCopy = 0;  // bytes the next host-to-device copy leaves out
    std::string faultKernel;
    long faultAt = -1;  // launches of faultKernel to let pass before one faults
};
static Plants g_plants;

static double nowMs() {
    timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

// ---------------------------------------------------------------------------------------------------
// Errors: the sticky one of the context, and the checks every call makes.

static CUresult fail(CUresult r, const std::string& why) {
    say(why);
    return r;
}

// A device fault: reported now, returned by this and every later call until the context is reset.
static CUresult fault(CUresult r, const std::string& why) {
    say(why);
    if (g_ctx.sticky == CUDA_SUCCESS) g_ctx.sticky = r;
    return r;
}

static CUresult needContext() {
    if (!g_inited) return CUDA_ERROR_NOT_INITIALIZED;
    if (t_current != &g_ctx || g_ctx.refs <= 0) return CUDA_ERROR_INVALID_CONTEXT;
    return g_ctx.sticky;
}

#define NEED_CONTEXT                       \
    do {                                   \
        CUresult r_ = needContext();       \
        if (r_ != CUDA_SUCCESS) return r_; \
    } while (0)

// The stream this thread captures into, if any.
static Stream* capturingHere() {
    for (Stream* s : g_streams)
        if (s->capturing && pthread_equal(s->thread, pthread_self())) return s;
    return nullptr;
}

// A call that would synchronise while this thread captures: refused, and the capture is invalidated.
static CUresult refuseDuringCapture(const char* call) {
    Stream* s = capturingHere();
    if (!s) return CUDA_SUCCESS;
    s->invalidated = true;
    return fail(
        CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED,
        std::string(call) + " during a stream capture on this thread: not allowed, and the capture is invalidated");
}

#define NOT_DURING_CAPTURE(call)                 \
    do {                                         \
        CUresult r_ = refuseDuringCapture(call); \
        if (r_ != CUDA_SUCCESS) return r_;       \
    } while (0)

// ---------------------------------------------------------------------------------------------------
// Memory: one large reservation; each allocation mapped on its own, with an unmapped page after it and
// before the next, its end against that page (less the rounding to 256 bytes).

static uintptr_t g_vaStart = 0, g_vaNext = 0, g_vaEnd = 0;

static size_t pageSize() {
    static size_t p = (size_t)sysconf(_SC_PAGESIZE);
    return p;
}

static size_t roundUp(size_t n, size_t to) {
    return (n + to - 1) / to * to;
}

static bool reserve() {
    if (g_vaStart) return true;
    for (int bits = 40; bits >= 36; bits--) {
        size_t len = (size_t)1 << bits;
        void* m = mmap(nullptr, len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        if (m != MAP_FAILED) {
            g_vaStart = g_vaNext = (uintptr_t)m;
            g_vaEnd = g_vaStart + len;
            return true;
        }
    }
    return false;
}

// The allocation holding [p, p + n), or that p points into when n == 0 (its end included); freed ones too.
static Alloc* findAlloc(uintptr_t p) {
    auto it = g_allocs.upper_bound(p);
    if (it == g_allocs.begin()) return nullptr;
    --it;
    Alloc& a = it->second;
    if (p <= a.base + a.size) return &a;
    return nullptr;
}

// Where an address is, in words, for messages.
static std::string whereIs(uintptr_t p) {
    if (p < g_vaStart || p >= g_vaEnd) return hex(p) + ", which is not device memory";
    auto it = g_allocs.upper_bound(p);
    const Alloc* before = nullptr;
    const Alloc* after = it == g_allocs.end() ? nullptr : &it->second;
    if (it != g_allocs.begin()) before = &std::prev(it)->second;
    if (before && p >= before->base && p < before->base + before->size)
        return hex(p) + ", byte " + std::to_string(p - before->base) + " of the " + bytes(before->size) +
               " allocation at " + hex(before->base) + (before->freed ? ", which was freed" : "");
    if (before && p >= before->base + before->size && p < before->mapStart + before->mapLen + pageSize())
        return hex(p) + ", " + std::to_string(p - before->base - before->size) + " bytes past the end of the " +
               bytes(before->size) + " allocation at " + hex(before->base) + (before->freed ? " (freed)" : "");
    if (after && p >= after->mapStart - pageSize() && p < after->base)
        return hex(p) + ", " + std::to_string(after->base - p) + " bytes before the start of the " +
               bytes(after->size) + " allocation at " + hex(after->base) + (after->freed ? " (freed)" : "");
    return hex(p) + ", which is in no allocation";
}

// Why [p, p + n) is not inside one live allocation, or "" when it is.
static std::string rangeProblem(CUdeviceptr p, size_t n) {
    Alloc* a = findAlloc((uintptr_t)p);
    if (!a || p < a->base) return "starts at " + whereIs((uintptr_t)p);
    if (a->freed) return "is in freed memory (" + whereIs((uintptr_t)p) + ")";
    if (p + n > a->base + a->size)
        return "runs " + std::to_string(p + n - a->base - a->size) + " bytes past the end of the " + bytes(a->size) +
               " allocation at " + hex(a->base) + " (from byte " + std::to_string(p - a->base) + ")";
    return "";
}

static CUresult checkRange(const char* call, const char* what, CUdeviceptr p, size_t n) {
    std::string why = rangeProblem(p, n);
    if (why.empty()) return CUDA_SUCCESS;
    return fail(CUDA_ERROR_INVALID_VALUE,
                std::string(call) + ": the " + what + " of " + std::to_string(n) + " bytes " + why);
}

// The watched bytes of an allocation: before its start and after its end up to the page.
static void guardBytes(const Alloc& a, std::vector<std::pair<unsigned char*, size_t>>& out) {
    out.push_back({(unsigned char*)a.mapStart, a.base - a.mapStart});
    out.push_back({(unsigned char*)(a.base + a.size), a.mapStart + a.mapLen - a.base - a.size});
}

// After a launch: a write next to a live allocation, with the byte it changed first.
static std::string guardProblem() {
    std::vector<std::pair<unsigned char*, size_t>> zones;
    for (auto& [base, a] : g_allocs) {
        if (a.freed) continue;
        zones.clear();
        guardBytes(a, zones);
        for (size_t z = 0; z < zones.size(); z++) {
            unsigned char* p = zones[z].first;
            for (size_t i = 0; i < zones[z].second; i++)
                if (p[i] != 0xff) {
                    std::string where = whereIs((uintptr_t)(p + i));
                    memset(p, 0xff, zones[z].second);  // reported once
                    return "a write at " + where;
                }
        }
    }
    return "";
}

API CUresult cuMemAlloc_v2(CUdeviceptr* dptr, size_t bytesize) {
    LOCK;
    NEED_CONTEXT;
    NOT_DURING_CAPTURE("cuMemAlloc");
    if (!dptr) return CUDA_ERROR_INVALID_VALUE;
    if (bytesize == 0) return fail(CUDA_ERROR_INVALID_VALUE, "cuMemAlloc of 0 bytes");
    if (bytesize > g_totalMem || g_liveBytes + bytesize > g_totalMem) return CUDA_ERROR_OUT_OF_MEMORY;
    if (!reserve()) return fail(CUDA_ERROR_OUT_OF_MEMORY, "cannot reserve address space for device memory");
    size_t body = roundUp(bytesize, 256), mapLen = roundUp(body, pageSize());
    uintptr_t start = g_vaNext + pageSize();
    // Large allocations start on a huge page and ask for huge pages: filling a gigabyte with NaN then
    // takes hundreds, not hundreds of thousands, of page faults.
    const size_t huge = (size_t)2 << 20;
    if (mapLen >= huge) start = roundUp(start, huge);
    if (start + mapLen + pageSize() > g_vaEnd)
        return fail(CUDA_ERROR_OUT_OF_MEMORY, "the reserved device address space is used up");
    if (mprotect((void*)start, mapLen, PROT_READ | PROT_WRITE) != 0)
        return fail(CUDA_ERROR_OUT_OF_MEMORY, "cannot map device memory");
    if (mapLen >= huge) madvise((void*)start, mapLen, MADV_HUGEPAGE);
    memset((void*)start, 0xff, mapLen);
    g_vaNext = start + mapLen;
    Alloc a{start + mapLen - body, bytesize, start, mapLen, g_nextAllocId++, false};
    g_allocs[a.base] = a;
    g_liveBytes += bytesize;
    g_liveCount++;
    *dptr = a.base;
    return CUDA_SUCCESS;
}

API CUresult cuMemFree_v2(CUdeviceptr dptr) {
    LOCK;
    NEED_CONTEXT;
    NOT_DURING_CAPTURE("cuMemFree");
    if (dptr == 0) return CUDA_SUCCESS;
    auto it = g_allocs.find((uintptr_t)dptr);
    if (it == g_allocs.end())
        return fail(CUDA_ERROR_INVALID_VALUE,
                    "cuMemFree of " + whereIs((uintptr_t)dptr) + ": not the start of an allocation");
    Alloc& a = it->second;
    if (a.freed)
        return fail(CUDA_ERROR_INVALID_VALUE,
                    "cuMemFree of the " + bytes(a.size) + " allocation at " + hex(a.base) + ", freed before");
    a.freed = true;
    madvise((void*)a.mapStart, a.mapLen, MADV_DONTNEED);
    mprotect((void*)a.mapStart, a.mapLen, PROT_NONE);
    g_liveBytes -= a.size;
    g_liveCount--;
    return CUDA_SUCCESS;
}

API CUresult cuMemGetInfo_v2(size_t* free, size_t* total) {
    LOCK;
    NEED_CONTEXT;
    if (!free || !total) return CUDA_ERROR_INVALID_VALUE;
    *total = g_totalMem;
    *free = g_totalMem - g_liveBytes;
    return CUDA_SUCCESS;
}

static CUresult copyHtoD(const char* call, CUdeviceptr dst, const void* src, size_t n) {
    NEED_CONTEXT;
    NOT_DURING_CAPTURE(call);
    if (n == 0) return CUDA_SUCCESS;
    if (!src) return fail(CUDA_ERROR_INVALID_VALUE, std::string(call) + ": a null host pointer");
    if (CUresult r = checkRange(call, "destination", dst, n)) return r;
    size_t copy = n;
    if (g_plants.shortCopy > 0 && (size_t)g_plants.shortCopy < n) {
        copy = n - (size_t)g_plants.shortCopy;
        say(std::string("planted: ") + call + " copies " + std::to_string(copy) + " of its " + std::to_string(n) +
            " bytes");
        g_plants.shortCopy = 0;
    }
    memcpy((void*)dst, src, copy);
    return CUDA_SUCCESS;
}

static CUresult copyDtoH(const char* call, void* dst, CUdeviceptr src, size_t n) {
    NEED_CONTEXT;
    NOT_DURING_CAPTURE(call);
    if (n == 0) return CUDA_SUCCESS;
    if (!dst) return fail(CUDA_ERROR_INVALID_VALUE, std::string(call) + ": a null host pointer");
    if (CUresult r = checkRange(call, "source", src, n)) return r;
    memcpy(dst, (const void*)src, n);
    return CUDA_SUCCESS;
}

static CUresult copyDtoD(const char* call, CUdeviceptr dst, CUdeviceptr src, size_t n) {
    if (n == 0) return CUDA_SUCCESS;
    if (CUresult r = checkRange(call, "destination", dst, n)) return r;
    if (CUresult r = checkRange(call, "source", src, n)) return r;
    memmove((void*)dst, (const void*)src, n);
    return CUDA_SUCCESS;
}

static CUresult memset32(const char* call, CUdeviceptr dst, unsigned v, size_t count) {
    if (count == 0) return CUDA_SUCCESS;
    if (dst % 4 != 0)
        return fail(CUDA_ERROR_INVALID_VALUE, std::string(call) + ": " + hex(dst) + " is not 4-byte aligned");
    if (CUresult r = checkRange(call, "range", dst, count * 4)) return r;
    unsigned* p = (unsigned*)dst;
    for (size_t i = 0; i < count; i++) p[i] = v;
    return CUDA_SUCCESS;
}

API CUresult cuMemcpyHtoD_v2(CUdeviceptr dst, const void* src, size_t n) {
    LOCK;
    return copyHtoD("cuMemcpyHtoD", dst, src, n);
}

API CUresult cuMemcpyDtoH_v2(void* dst, CUdeviceptr src, size_t n) {
    LOCK;
    return copyDtoH("cuMemcpyDtoH", dst, src, n);
}

API CUresult cuMemcpyDtoD_v2(CUdeviceptr dst, CUdeviceptr src, size_t n) {
    LOCK;
    NEED_CONTEXT;
    NOT_DURING_CAPTURE("cuMemcpyDtoD");
    return copyDtoD("cuMemcpyDtoD", dst, src, n);
}

API CUresult cuMemsetD32_v2(CUdeviceptr dst, unsigned v, size_t n) {
    LOCK;
    NEED_CONTEXT;
    NOT_DURING_CAPTURE("cuMemsetD32");
    return memset32("cuMemsetD32", dst, v, n);
}

static bool validStream(void* s) {
    return s == nullptr || g_streams.count((Stream*)s);
}

// The capture a stream call records into: the stream's own, or null to run the work now. A call on
// the legacy stream while this thread captures is refused (it would synchronise with the capture).
static CUresult captureOf(const char* call, void* hs, Stream** into) {
    *into = nullptr;
    if (!validStream(hs)) return fail(CUDA_ERROR_INVALID_HANDLE, std::string(call) + ": not a live stream");
    Stream* s = (Stream*)hs;
    if (s && s->capturing) {
        *into = s;
        return CUDA_SUCCESS;
    }
    if (!s && capturingHere()) {
        capturingHere()->invalidated = true;
        return fail(CUDA_ERROR_STREAM_CAPTURE_IMPLICIT,
                    std::string(call) + " on the legacy stream during a stream capture on this thread");
    }
    return CUDA_SUCCESS;
}

API CUresult cuMemsetD32Async(CUdeviceptr dst, unsigned v, size_t n, void* hs) {
    LOCK;
    NEED_CONTEXT;
    Stream* s;
    if (CUresult r = captureOf("cuMemsetD32Async", hs, &s)) return r;
    if (s) {
        if (CUresult r = checkRange("cuMemsetD32Async", "range", dst, n * 4)) return r;
        Node nd;
        nd.kind = Node::MEMSET;
        nd.dst = dst;
        nd.value = v;
        nd.count = n;
        s->nodes.push_back(nd);
        return CUDA_SUCCESS;
    }
    return memset32("cuMemsetD32Async", dst, v, n);
}

API CUresult cuMemcpyDtoDAsync_v2(CUdeviceptr dst, CUdeviceptr src, size_t n, void* hs) {
    LOCK;
    NEED_CONTEXT;
    Stream* s;
    if (CUresult r = captureOf("cuMemcpyDtoDAsync", hs, &s)) return r;
    if (s) {
        if (CUresult r = checkRange("cuMemcpyDtoDAsync", "destination", dst, n)) return r;
        if (CUresult r = checkRange("cuMemcpyDtoDAsync", "source", src, n)) return r;
        Node nd;
        nd.kind = Node::COPY;
        nd.dst = dst;
        nd.src = src;
        nd.count = n;
        s->nodes.push_back(nd);
        return CUDA_SUCCESS;
    }
    return copyDtoD("cuMemcpyDtoDAsync", dst, src, n);
}

// Host memory is pageable here: the asynchronous copies complete before they return, as the driver
// does for pageable memory.
API CUresult cuMemcpyHtoDAsync_v2(CUdeviceptr dst, const void* src, size_t n, void* hs) {
    LOCK;
    Stream* s;
    if (CUresult r = captureOf("cuMemcpyHtoDAsync", hs, &s)) return r;
    if (s) return fail(CUDA_ERROR_NOT_SUPPORTED, "cuMemcpyHtoDAsync into a stream capture is not simulated");
    return copyHtoD("cuMemcpyHtoDAsync", dst, src, n);
}

API CUresult cuMemcpyDtoHAsync_v2(void* dst, CUdeviceptr src, size_t n, void* hs) {
    LOCK;
    Stream* s;
    if (CUresult r = captureOf("cuMemcpyDtoHAsync", hs, &s)) return r;
    if (s) return fail(CUDA_ERROR_NOT_SUPPORTED, "cuMemcpyDtoHAsync into a stream capture is not simulated");
    return copyDtoH("cuMemcpyDtoHAsync", dst, src, n);
}

// ---------------------------------------------------------------------------------------------------
// Workers: run the blocks of a launch, several at once. A fault in a kernel (a signal, or a fault the
// block runner finds) jumps back to the worker, which stops taking blocks of that launch.

struct Job;
struct Worker {
    pthread_t thread{};
    int index = 0;
    SimBlock blk;
    sigjmp_buf jmp;
    volatile sig_atomic_t inBlock = 0;
    volatile int faultSignal = 0;
    void* volatile faultAddr = nullptr;
    const char* faultWhat = nullptr;
    unsigned bx = 0, by = 0;
};

static const int MAX_WORKERS = 64;
static Worker* g_workerList[MAX_WORKERS];
static std::atomic<int> g_workerCount{0};
static thread_local Worker* t_worker = nullptr;

struct Job {
    const std::function<void()>* body;
    const char* kernel;
    dim3 grid, block;
    std::vector<uint32_t> order;
    std::atomic<size_t> next{0};
    std::atomic<bool> aborted{false};
    SimPick pick;
    uint64_t seed;
    int participants;
    // the first fault
    std::mutex faultLock;
    bool faulted = false;
    int signal = 0;
    uintptr_t addr = 0;
    std::string what;
    unsigned bx = 0, by = 0, tx = 0, ty = 0;
};

// Never destroyed: at exit the workers still wait on them, and destroying a condition variable that
// has waiters blocks.
static std::mutex& g_poolLock = *new std::mutex;
static std::condition_variable& g_poolWake = *new std::condition_variable;
static std::condition_variable& g_poolDone = *new std::condition_variable;
static Job* g_job = nullptr;
static uint64_t g_jobGeneration = 0;
static int g_jobRunning = 0;
static struct sigaction g_previous[65];
static bool g_handlersInstalled = false;

static Worker* workerOfThisThread() {
    int n = g_workerCount.load(std::memory_order_acquire);
    pthread_t self = pthread_self();
    for (int i = 0; i < n; i++)
        if (g_workerList[i] && pthread_equal(g_workerList[i]->thread, self)) return g_workerList[i];
    return nullptr;
}

static void onFault(int sig, siginfo_t* info, void* uc) {
    Worker* w = workerOfThisThread();
    if (w && w->inBlock) {
        w->faultSignal = sig;
        w->faultAddr = info ? info->si_addr : nullptr;
        siglongjmp(w->jmp, 1);
    }
    // Not a kernel's: the handler that was there before (the JVM's) decides.
    struct sigaction& p = g_previous[sig];
    if (p.sa_flags & SA_SIGINFO) {
        if (p.sa_sigaction) p.sa_sigaction(sig, info, uc);
        return;
    }
    if (p.sa_handler == SIG_IGN) return;
    if (p.sa_handler == SIG_DFL) {
        signal(sig, SIG_DFL);
        raise(sig);
        return;
    }
    p.sa_handler(sig);
}

static void installHandlers() {
    if (g_handlersInstalled) return;
    g_handlersInstalled = true;
    for (int sig : {SIGSEGV, SIGBUS, SIGFPE, SIGILL}) {
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_sigaction = onFault;
        sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
        sigemptyset(&sa.sa_mask);
        sigaction(sig, &sa, &g_previous[sig]);
    }
}

void sim_kernel_fault(const char* what) {
    Worker* w = t_worker;
    if (!w || !w->inBlock) {
        say(std::string("a kernel fault outside a worker: ") + what);
        abort();
    }
    w->faultWhat = what;
    siglongjmp(w->jmp, 2);
}

bool sim_barrier_planted_missing(const char* file, int line) {
    if (line != g_plants.barrierLine || g_plants.barrierFile.empty()) return false;
    const char* slash = strrchr(file, '/');
    return g_plants.barrierFile == (slash ? slash + 1 : file);
}

static void runBlocks(Worker* w, Job* job) {
    for (;;) {
        if (job->aborted.load(std::memory_order_relaxed)) return;
        size_t i = job->next.fetch_add(1);
        if (i >= job->order.size()) return;
        uint32_t id = job->order[i];
        w->bx = id % job->grid.x;
        w->by = id / job->grid.x;
        w->faultSignal = 0;
        w->faultWhat = nullptr;
        w->inBlock = 1;
        if (sigsetjmp(w->jmp, 1) == 0) {
            uint64_t seed = job->seed ^ (0x9e3779b97f4a7c15ull * (id + 1));
            sim_run_block(w->blk, job->grid, job->block, *job->body, w->bx, w->by, job->pick, seed);
            w->inBlock = 0;
        } else {
            w->inBlock = 0;
            std::lock_guard<std::mutex> g(job->faultLock);
            if (!job->faulted) {
                job->faulted = true;
                job->signal = w->faultSignal;
                job->addr = (uintptr_t)w->faultAddr;
                job->what = w->faultWhat ? w->faultWhat : "";
                job->bx = w->bx;
                job->by = w->by;
                dim3 t = w->blk.threads[w->blk.cur].tid;
                job->tx = t.x;
                job->ty = t.y;
            }
            job->aborted = true;
            return;
        }
    }
}

static void* workerMain(void* arg) {
    Worker* w = (Worker*)arg;
    t_worker = w;
    stack_t ss;
    ss.ss_size = 64 * 1024;
    ss.ss_sp = malloc(ss.ss_size);
    ss.ss_flags = 0;
    sigaltstack(&ss, nullptr);
    sim_block_init(w->blk);
    uint64_t seen = 0;
    for (;;) {
        Job* job;
        {
            std::unique_lock<std::mutex> g(g_poolLock);
            g_poolWake.wait(g, [&] { return g_jobGeneration != seen; });
            seen = g_jobGeneration;
            job = g_job;
            if (!job || w->index >= job->participants) continue;
        }
        runBlocks(w, job);
        {
            std::lock_guard<std::mutex> g(g_poolLock);
            if (--g_jobRunning == 0) g_poolDone.notify_all();
        }
    }
    return nullptr;
}

static void ensureWorkers(int n) {
    installHandlers();
    while (g_workerCount.load() < n) {
        Worker* w = new Worker();
        int i = g_workerCount.load();
        w->index = i;
        pthread_attr_t attr;
        pthread_attr_init(&attr);
        pthread_attr_setstacksize(&attr, 1 << 20);
        // Listed before it starts, so a fault in its first block finds it.
        g_workerList[i] = w;
        if (pthread_create(&w->thread, &attr, workerMain, w) != 0) {
            say("cannot start a worker thread");
            abort();
        }
        pthread_attr_destroy(&attr);
        g_workerCount.store(i + 1, std::memory_order_release);
    }
}

static uint64_t splitmix(uint64_t& s) {
    uint64_t z = (s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static const char* signalName(int s) {
    switch (s) {
        case SIGSEGV:
            return "an access to memory it may not touch";
        case SIGBUS:
            return "a bus error";
        case SIGFPE:
            return "an arithmetic trap (integer division by zero)";
        case SIGILL:
            return "an illegal instruction (a trap)";
        default:
            return "a signal";
    }
}

// Runs every block of a grid; "" when it ran to the end, else why it stopped.
static std::string runGrid(const SimKernel* k, const std::function<void()>& body, dim3 grid, dim3 block,
                           CUresult* code) {
    Job job;
    job.body = &body;
    job.kernel = k->name;
    job.grid = grid;
    job.block = block;
    size_t blocks = (size_t)grid.x * grid.y;
    job.order.resize(blocks);
    for (size_t i = 0; i < blocks; i++) job.order[i] = (uint32_t)i;
    uint64_t seed = g_seed ^ (0xd1b54a32d192ed03ull * (g_launches + 1));
    if (g_order == 1) std::reverse(job.order.begin(), job.order.end());
    if (g_order == 2)
        for (size_t i = blocks; i > 1; i--) std::swap(job.order[i - 1], job.order[splitmix(seed) % i]);
    job.pick = g_order == 0 ? SIM_LOWEST : g_order == 1 ? SIM_HIGHEST : SIM_RANDOM;
    job.seed = seed;
    int n = (int)std::min<size_t>((size_t)g_threads, blocks);
    job.participants = n;
    ensureWorkers(n);
    {
        std::unique_lock<std::mutex> g(g_poolLock);
        g_job = &job;
        g_jobRunning = n;
        g_jobGeneration++;
        g_poolWake.notify_all();
        g_poolDone.wait(g, [] { return g_jobRunning == 0; });
        g_job = nullptr;
    }
    if (!job.faulted) return "";
    std::string at = " in block (" + std::to_string(job.bx) + ", " + std::to_string(job.by) + ") thread (" +
                     std::to_string(job.tx) + ", " + std::to_string(job.ty) + ")";
    if (job.signal) {
        *code = job.signal == SIGSEGV || job.signal == SIGBUS ? CUDA_ERROR_ILLEGAL_ADDRESS : CUDA_ERROR_LAUNCH_FAILED;
        return std::string(signalName(job.signal)) + at + (job.signal == SIGSEGV ? " at " + whereIs(job.addr) : "");
    }
    *code = CUDA_ERROR_LAUNCH_FAILED;
    return job.what + at;
}

// ---------------------------------------------------------------------------------------------------
// Launches.

struct LaunchArgs {
    std::vector<unsigned char> packed;
    std::vector<unsigned> offsets;
};

static std::string gridText(dim3 g, dim3 b) {
    return "grid (" + std::to_string(g.x) + ", " + std::to_string(g.y) + "), block (" + std::to_string(b.x) + ", " +
           std::to_string(b.y) + ")";
}

// Checks a launch's pointer arguments against live memory; the ids of the allocations they point into.
static std::string checkPointers(const SimKernel* k, const LaunchArgs& a, std::vector<uint64_t>* ids, CUresult* code) {
    if (ids) ids->assign(k->params.size(), 0);
    for (size_t i = 0; i < k->params.size(); i++) {
        const SimParam& p = k->params[i];
        if (!p.pointer) continue;
        uintptr_t v;
        memcpy(&v, a.packed.data() + a.offsets[i], sizeof v);
        if (v == 0) continue;
        std::string arg = "argument " + std::to_string(i) + " (" + p.type + ") of " + k->name + " is ";
        Alloc* al = findAlloc(v);
        if (!al || v < al->base) {
            *code = CUDA_ERROR_ILLEGAL_ADDRESS;
            return arg + whereIs(v);
        }
        if (al->freed) {
            *code = CUDA_ERROR_ILLEGAL_ADDRESS;
            return arg + "in freed memory: " + whereIs(v);
        }
        if (p.pointee > 1 && v % p.pointee != 0) {
            *code = CUDA_ERROR_MISALIGNED_ADDRESS;
            return arg + hex(v) + ", not aligned to the " + std::to_string(p.pointee) + " bytes of what it points at";
        }
        if (ids) (*ids)[i] = al->id;
    }
    return "";
}

static CUresult execKernel(const SimKernel* k, dim3 grid, dim3 block, const LaunchArgs& a, const std::string& context) {
    g_launches++;
    std::string launch = k->name + std::string(" (") + gridText(grid, block) + ")" + context;
    CUresult code = CUDA_SUCCESS;
    std::string bad = checkPointers(k, a, nullptr, &code);
    if (!bad.empty()) return fault(code, launch + ": " + bad);
    if (!g_plants.faultKernel.empty() && g_plants.faultKernel == k->name && g_plants.faultAt >= 0 &&
        g_plants.faultAt-- == 0) {
        g_plants.faultKernel.clear();
        return fault(CUDA_ERROR_ILLEGAL_ADDRESS, launch + ": planted: a fault in this launch");
    }
    std::function<void()> body = k->bind(a.packed.data(), a.offsets);
    std::string why = runGrid(k, body, grid, block, &code);
    if (!why.empty()) return fault(code, launch + ": " + why);
    std::string guard = guardProblem();
    if (!guard.empty()) return fault(CUDA_ERROR_ILLEGAL_ADDRESS, launch + ": " + guard);
    return CUDA_SUCCESS;
}

API CUresult cuLaunchKernel(void* f, unsigned gx, unsigned gy, unsigned gz, unsigned bx, unsigned by, unsigned bz,
                            unsigned sharedMemBytes, void* hs, void** kernelParams, void** extra) {
    LOCK;
    NEED_CONTEXT;
    Func* fn = (Func*)f;
    bool known = false;
    for (Module* m : g_modules)
        for (auto& [name, fp] : m->functions)
            if (fp == fn) known = true;
    if (!known) return fail(CUDA_ERROR_INVALID_HANDLE, "cuLaunchKernel: not a function of a loaded module");
    const SimKernel* k = fn->kernel;
    dim3 grid(gx, gy, gz), block(bx, by, bz);
    std::string launch = std::string("cuLaunchKernel ") + k->name + " (" + gridText(grid, block) + ")";
    if (gx == 0 || gy == 0 || gz == 0 || bx == 0 || by == 0 || bz == 0 || gy > 65535 || gz > 65535 || gx > 2147483647u)
        return fail(CUDA_ERROR_INVALID_VALUE, launch + ": a grid or block dimension out of range");
    if ((unsigned long long)bx * by * bz > 1024)
        return fail(CUDA_ERROR_INVALID_VALUE, launch + ": more than 1024 threads per block");
    if (k->maxThreads > 0 && (int)(bx * by * bz) > k->maxThreads)
        return fail(
            CUDA_ERROR_LAUNCH_OUT_OF_RESOURCES,
            launch + ": more threads per block than its __launch_bounds__ (" + std::to_string(k->maxThreads) + ")");
    if (gz != 1 || bz != 1) return fail(CUDA_ERROR_NOT_SUPPORTED, launch + ": 3-D grids and blocks are not simulated");
    if (sharedMemBytes != 0) return fail(CUDA_ERROR_NOT_SUPPORTED, launch + ": dynamic shared memory is not simulated");
    if (extra) return fail(CUDA_ERROR_NOT_SUPPORTED, launch + ": arguments through 'extra' are not simulated");
    size_t n = k->params.size();
    if (n > 0 && !kernelParams)
        return fail(CUDA_ERROR_INVALID_VALUE, launch + ": no arguments, the kernel takes " + std::to_string(n));
    // The list ends with a null entry (a real driver reads only as many as the kernel declares).
    for (size_t i = 0; i < n; i++)
        if (!kernelParams[i])
            return fail(CUDA_ERROR_INVALID_VALUE,
                        launch + ": " + std::to_string(i) + " arguments, the kernel takes " + std::to_string(n));
    if (kernelParams && kernelParams[n])
        return fail(CUDA_ERROR_INVALID_VALUE,
                    launch + ": more than the " + std::to_string(n) +
                        " arguments the kernel takes (or an argument list without its ending null entry)");
    LaunchArgs a;
    size_t off = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned size = k->params[i].size;
        off = roundUp(off, size);
        a.offsets.push_back((unsigned)off);
        off += size;
    }
    a.packed.resize(off);
    for (size_t i = 0; i < n; i++) memcpy(a.packed.data() + a.offsets[i], kernelParams[i], k->params[i].size);
    if (g_plants.swapKernel == k->name) {
        int i = g_plants.swapA, j = g_plants.swapB;
        std::vector<unsigned char> vi(a.packed.begin() + a.offsets[i],
                                      a.packed.begin() + a.offsets[i] + k->params[i].size);
        std::vector<unsigned char> vj(a.packed.begin() + a.offsets[j],
                                      a.packed.begin() + a.offsets[j] + k->params[j].size);
        // Each value goes where the other was, cut or widened to that parameter's size.
        vi.resize(k->params[j].size, 0);
        vj.resize(k->params[i].size, 0);
        memcpy(a.packed.data() + a.offsets[i], vj.data(), k->params[i].size);
        memcpy(a.packed.data() + a.offsets[j], vi.data(), k->params[j].size);
    }
    Stream* s;
    if (CUresult r = captureOf("cuLaunchKernel", hs, &s)) return r;
    if (s) {
        Node nd;
        nd.kind = Node::KERNEL;
        nd.func = fn;
        nd.kernel = k;
        nd.grid = grid;
        nd.block = block;
        nd.packed = a.packed;
        nd.offsets = a.offsets;
        CUresult code = CUDA_SUCCESS;
        std::string bad = checkPointers(k, a, &nd.allocIds, &code);
        if (!bad.empty()) {
            s->invalidated = true;
            return fail(CUDA_ERROR_INVALID_VALUE, launch + " during a stream capture: " + bad);
        }
        s->nodes.push_back(std::move(nd));
        return CUDA_SUCCESS;
    }
    // Work runs as it is issued; a fault in it is reported by this and every later call.
    execKernel(k, grid, block, a, "");
    return CUDA_SUCCESS;
}

API CUresult cuOccupancyMaxActiveBlocksPerMultiprocessor(int* numBlocks, void* f, int blockSize, size_t dynamicSMem) {
    LOCK;
    NEED_CONTEXT;
    Func* fn = (Func*)f;
    if (!numBlocks || !fn || blockSize <= 0 || blockSize > 1024) return CUDA_ERROR_INVALID_VALUE;
    if (dynamicSMem != 0)
        return fail(CUDA_ERROR_NOT_SUPPORTED, "occupancy with dynamic shared memory is not simulated");
    int byThreads = THREADS_PER_SM / blockSize;
    int n = std::min(byThreads, BLOCKS_PER_SM);
    if (fn->kernel->minBlocks > 0) n = std::min(n, fn->kernel->minBlocks);
    if (fn->kernel->maxThreads > 0 && blockSize > fn->kernel->maxThreads) n = 0;
    *numBlocks = n;
    return CUDA_SUCCESS;
}

// ---------------------------------------------------------------------------------------------------
// Streams, events, capture and graphs.

API CUresult cuStreamCreate(void** ph, unsigned flags) {
    LOCK;
    NEED_CONTEXT;
    (void)flags;
    if (!ph) return CUDA_ERROR_INVALID_VALUE;
    Stream* s = new Stream();
    g_streams.insert(s);
    *ph = s;
    return CUDA_SUCCESS;
}

API CUresult cuStreamDestroy_v2(void* h) {
    LOCK;
    NEED_CONTEXT;
    Stream* s = (Stream*)h;
    if (!s || !g_streams.count(s)) return fail(CUDA_ERROR_INVALID_HANDLE, "cuStreamDestroy: not a live stream");
    g_streams.erase(s);
    delete s;
    return CUDA_SUCCESS;
}

API CUresult cuStreamSynchronize(void* h) {
    LOCK;
    NEED_CONTEXT;
    if (!validStream(h)) return fail(CUDA_ERROR_INVALID_HANDLE, "cuStreamSynchronize: not a live stream");
    Stream* s = (Stream*)h;
    if ((s && s->capturing) || (!s && capturingHere())) {
        (s ? s : capturingHere())->invalidated = true;
        return fail(CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED,
                    "cuStreamSynchronize of a capturing stream: the capture is invalidated");
    }
    return CUDA_SUCCESS;
}

API CUresult cuStreamQuery(void* h) {
    LOCK;
    NEED_CONTEXT;
    if (!validStream(h)) return CUDA_ERROR_INVALID_HANDLE;
    Stream* s = (Stream*)h;
    if (s && s->capturing) {
        s->invalidated = true;
        return fail(CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED,
                    "cuStreamQuery of a capturing stream: the capture is invalidated");
    }
    return CUDA_SUCCESS;
}

API CUresult cuStreamWaitEvent(void* h, void* e, unsigned flags) {
    LOCK;
    NEED_CONTEXT;
    (void)flags;
    if (!validStream(h) || !g_events.count((Event*)e)) return CUDA_ERROR_INVALID_HANDLE;
    return CUDA_SUCCESS;
}

API CUresult cuCtxSynchronize() {
    LOCK;
    NEED_CONTEXT;
    NOT_DURING_CAPTURE("cuCtxSynchronize");
    return CUDA_SUCCESS;
}

API CUresult cuStreamBeginCapture_v2(void* h, int mode) {
    LOCK;
    NEED_CONTEXT;
    Stream* s = (Stream*)h;
    if (!s) return fail(CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED, "cuStreamBeginCapture on the legacy stream");
    if (!g_streams.count(s)) return fail(CUDA_ERROR_INVALID_HANDLE, "cuStreamBeginCapture: not a live stream");
    if (s->capturing) return fail(CUDA_ERROR_INVALID_VALUE, "cuStreamBeginCapture: the stream is capturing already");
    if (mode < 0 || mode > 2) return CUDA_ERROR_INVALID_VALUE;
    s->capturing = true;
    s->invalidated = false;
    s->mode = mode;
    s->thread = pthread_self();
    s->nodes.clear();
    return CUDA_SUCCESS;
}

API CUresult cuStreamEndCapture(void* h, void** phGraph) {
    LOCK;
    NEED_CONTEXT;
    Stream* s = (Stream*)h;
    if (!s || !g_streams.count(s)) return fail(CUDA_ERROR_INVALID_HANDLE, "cuStreamEndCapture: not a live stream");
    if (!s->capturing) return fail(CUDA_ERROR_INVALID_VALUE, "cuStreamEndCapture: the stream is not capturing");
    if (s->mode != 2 && !pthread_equal(s->thread, pthread_self()))
        return fail(CUDA_ERROR_STREAM_CAPTURE_WRONG_THREAD,
                    "cuStreamEndCapture from another thread than the one that began it");
    s->capturing = false;
    if (phGraph) *phGraph = nullptr;
    if (s->invalidated) {
        s->nodes.clear();
        return CUDA_ERROR_STREAM_CAPTURE_INVALIDATED;
    }
    if (!phGraph) return CUDA_ERROR_INVALID_VALUE;
    Graph* g = new Graph();
    g->nodes.swap(s->nodes);
    g_graphs.insert(g);
    *phGraph = g;
    return CUDA_SUCCESS;
}

API CUresult cuStreamIsCapturing(void* h, int* status) {
    LOCK;
    NEED_CONTEXT;
    if (!status || !validStream(h)) return CUDA_ERROR_INVALID_VALUE;
    Stream* s = (Stream*)h;
    *status = s && s->capturing ? (s->invalidated ? 2 : 1) : 0;
    return CUDA_SUCCESS;
}

API CUresult cuGraphInstantiateWithFlags(void** phExec, void* hGraph, unsigned long long flags) {
    LOCK;
    NEED_CONTEXT;
    (void)flags;
    Graph* g = (Graph*)hGraph;
    if (!phExec || !g || !g_graphs.count(g))
        return fail(CUDA_ERROR_INVALID_VALUE, "cuGraphInstantiate: not a live graph");
    GraphExec* e = new GraphExec();
    e->nodes = g->nodes;
    g_execs.insert(e);
    *phExec = e;
    return CUDA_SUCCESS;
}

API CUresult cuGraphDestroy(void* hGraph) {
    LOCK;
    NEED_CONTEXT;
    Graph* g = (Graph*)hGraph;
    if (!g || !g_graphs.count(g)) return fail(CUDA_ERROR_INVALID_VALUE, "cuGraphDestroy: not a live graph");
    g_graphs.erase(g);
    delete g;
    return CUDA_SUCCESS;
}

API CUresult cuGraphExecDestroy(void* hExec) {
    LOCK;
    NEED_CONTEXT;
    GraphExec* e = (GraphExec*)hExec;
    if (!e || !g_execs.count(e))
        return fail(CUDA_ERROR_INVALID_VALUE, "cuGraphExecDestroy: not a live executable graph");
    g_execs.erase(e);
    delete e;
    return CUDA_SUCCESS;
}

API CUresult cuGraphUpload(void* hExec, void* hs) {
    LOCK;
    NEED_CONTEXT;
    GraphExec* e = (GraphExec*)hExec;
    if (!e || !g_execs.count(e)) return fail(CUDA_ERROR_INVALID_VALUE, "cuGraphUpload: not a live executable graph");
    if (!validStream(hs)) return CUDA_ERROR_INVALID_HANDLE;
    return CUDA_SUCCESS;
}

static bool allocLive(uint64_t id) {
    for (auto& [base, a] : g_allocs)
        if (a.id == id) return !a.freed;
    return false;
}

API CUresult cuGraphLaunch(void* hExec, void* hs) {
    LOCK;
    NEED_CONTEXT;
    GraphExec* e = (GraphExec*)hExec;
    if (!e || !g_execs.count(e)) return fail(CUDA_ERROR_INVALID_VALUE, "cuGraphLaunch: not a live executable graph");
    Stream* s;
    if (CUresult r = captureOf("cuGraphLaunch", hs, &s)) return r;
    if (s)
        return fail(CUDA_ERROR_NOT_SUPPORTED, "cuGraphLaunch into a stream capture (a child graph) is not simulated");
    // Every pointer the recording holds must still point into the allocation it pointed into then.
    for (size_t i = 0; i < e->nodes.size(); i++) {
        const Node& nd = e->nodes[i];
        if (nd.kind != Node::KERNEL) continue;
        if (!g_modules.count(nd.func->module))
            return fault(CUDA_ERROR_INVALID_HANDLE, "graph launch, node " + std::to_string(i) + " (" + nd.kernel->name +
                                                        "): its module was unloaded");
        for (size_t j = 0; j < nd.allocIds.size(); j++)
            if (nd.allocIds[j] && !allocLive(nd.allocIds[j])) {
                uintptr_t v;
                memcpy(&v, nd.packed.data() + nd.offsets[j], sizeof v);
                return fault(CUDA_ERROR_ILLEGAL_ADDRESS,
                             "graph launch, node " + std::to_string(i) + " (" + nd.kernel->name + "): argument " +
                                 std::to_string(j) + " (" + nd.kernel->params[j].type +
                                 ") points into memory freed since the graph was recorded: " + whereIs(v));
            }
    }
    for (size_t i = 0; i < e->nodes.size(); i++) {
        const Node& nd = e->nodes[i];
        CUresult r = CUDA_SUCCESS;
        std::string where = " (graph node " + std::to_string(i) + ")";
        switch (nd.kind) {
            case Node::KERNEL: {
                LaunchArgs a{nd.packed, nd.offsets};
                r = execKernel(nd.kernel, nd.grid, nd.block, a, where);
                break;
            }
            case Node::MEMSET:
                r = memset32(("a memset" + where).c_str(), nd.dst, nd.value, nd.count);
                break;
            case Node::COPY:
                r = copyDtoD(("a copy" + where).c_str(), nd.dst, nd.src, nd.count);
                break;
            case Node::EVENT:
                if (g_events.count(nd.event)) {
                    nd.event->recorded = true;
                    nd.event->ms = nowMs();
                }
                break;
        }
        if (r != CUDA_SUCCESS) {
            if (g_ctx.sticky == CUDA_SUCCESS) g_ctx.sticky = r;
            return CUDA_SUCCESS;  // reported by the next call, as a fault in a running graph would be
        }
    }
    return CUDA_SUCCESS;
}

API CUresult cuEventCreate(void** ph, unsigned flags) {
    LOCK;
    NEED_CONTEXT;
    (void)flags;
    if (!ph) return CUDA_ERROR_INVALID_VALUE;
    Event* e = new Event();
    g_events.insert(e);
    *ph = e;
    return CUDA_SUCCESS;
}

API CUresult cuEventDestroy_v2(void* h) {
    LOCK;
    NEED_CONTEXT;
    Event* e = (Event*)h;
    if (!e || !g_events.count(e)) return fail(CUDA_ERROR_INVALID_HANDLE, "cuEventDestroy: not a live event");
    g_events.erase(e);
    delete e;
    return CUDA_SUCCESS;
}

API CUresult cuEventRecord(void* h, void* hs) {
    LOCK;
    NEED_CONTEXT;
    Event* e = (Event*)h;
    if (!e || !g_events.count(e)) return fail(CUDA_ERROR_INVALID_HANDLE, "cuEventRecord: not a live event");
    Stream* s;
    if (CUresult r = captureOf("cuEventRecord", hs, &s)) return r;
    if (s) {
        Node nd;
        nd.kind = Node::EVENT;
        nd.event = e;
        s->nodes.push_back(nd);
        return CUDA_SUCCESS;
    }
    e->recorded = true;
    e->ms = nowMs();
    return CUDA_SUCCESS;
}

API CUresult cuEventRecordWithFlags(void* h, void* hs, unsigned flags) {
    (void)flags;
    return cuEventRecord(h, hs);
}

API CUresult cuEventSynchronize(void* h) {
    LOCK;
    NEED_CONTEXT;
    NOT_DURING_CAPTURE("cuEventSynchronize");
    if (!g_events.count((Event*)h)) return fail(CUDA_ERROR_INVALID_HANDLE, "cuEventSynchronize: not a live event");
    return CUDA_SUCCESS;
}

API CUresult cuEventQuery(void* h) {
    LOCK;
    NEED_CONTEXT;
    if (!g_events.count((Event*)h)) return CUDA_ERROR_INVALID_HANDLE;
    return CUDA_SUCCESS;
}

API CUresult cuEventElapsedTime(float* ms, void* a, void* b) {
    LOCK;
    NEED_CONTEXT;
    Event* s = (Event*)a;
    Event* e = (Event*)b;
    if (!ms || !g_events.count(s) || !g_events.count(e))
        return fail(CUDA_ERROR_INVALID_HANDLE, "cuEventElapsedTime: not a live event");
    if (!s->recorded || !e->recorded)
        return fail(CUDA_ERROR_INVALID_HANDLE, "cuEventElapsedTime of an event never recorded");
    *ms = (float)(e->ms - s->ms);
    return CUDA_SUCCESS;
}

// ---------------------------------------------------------------------------------------------------
// Modules: any fatbin, cubin or PTX image is accepted as the kernels of kernels/*.cu, which are the ones
// compiled into this library; a fatbin is checked to hold code this device can run.

static bool readFatbinArchs(const unsigned char* p, std::vector<std::pair<int, int>>* entries) {
    uint32_t magic;
    memcpy(&magic, p, 4);
    if (magic != 0xBA55ED50u) return false;
    uint16_t headerSize;
    uint64_t fatSize;
    memcpy(&headerSize, p + 6, 2);
    memcpy(&fatSize, p + 8, 8);
    const unsigned char* e = p + headerSize;
    const unsigned char* end = e + fatSize;
    while (e + 32 <= end) {
        uint16_t kind;
        uint32_t eh, arch;
        uint64_t size;
        memcpy(&kind, e, 2);
        memcpy(&eh, e + 4, 4);
        memcpy(&size, e + 8, 8);
        memcpy(&arch, e + 28, 4);
        if (eh < 32 || eh > 4096) return false;
        entries->push_back({kind, (int)arch});
        e += eh + size;
    }
    return true;
}

API CUresult cuModuleLoadData(void** module, const void* image) {
    LOCK;
    NEED_CONTEXT;
    if (!module || !image) return CUDA_ERROR_INVALID_VALUE;
    const unsigned char* p = (const unsigned char*)image;
    std::vector<std::pair<int, int>> entries;
    bool fatbin = readFatbinArchs(p, &entries);
    bool elf = memcmp(p,
                      "\x7f"
                      "ELF",
                      4) == 0;
    const char* t = (const char*)p;
    while (*t == ' ' || *t == '\n' || *t == '\t' || *t == '\r') t++;
    bool ptx = strncmp(t, "//", 2) == 0 || strncmp(t, ".version", 8) == 0;
    if (!fatbin && !elf && !ptx)
        return fail(CUDA_ERROR_INVALID_IMAGE, "cuModuleLoadData: the image is no fatbin, cubin or PTX");
    if (fatbin) {
        bool runs = false;
        for (auto& [kind, arch] : entries)
            if ((kind == 2 && arch == CC_MAJOR * 10 + CC_MINOR) || (kind == 1 && arch <= CC_MAJOR * 10 + CC_MINOR))
                runs = true;
        if (!runs) return CUDA_ERROR_NO_BINARY_FOR_GPU;
    }
    Module* m = new Module();
    g_modules.insert(m);
    *module = m;
    return CUDA_SUCCESS;
}

API CUresult cuModuleUnload(void* hmod) {
    LOCK;
    NEED_CONTEXT;
    Module* m = (Module*)hmod;
    if (!m || !g_modules.count(m)) return fail(CUDA_ERROR_INVALID_HANDLE, "cuModuleUnload: not a loaded module");
    for (auto& [name, f] : m->functions) delete f;
    g_modules.erase(m);
    delete m;
    return CUDA_SUCCESS;
}

API CUresult cuModuleGetFunction(void** hfunc, void* hmod, const char* name) {
    LOCK;
    NEED_CONTEXT;
    Module* m = (Module*)hmod;
    if (!hfunc || !name) return CUDA_ERROR_INVALID_VALUE;
    if (!m || !g_modules.count(m)) return fail(CUDA_ERROR_INVALID_HANDLE, "cuModuleGetFunction: not a loaded module");
    auto it = m->functions.find(name);
    if (it != m->functions.end()) {
        *hfunc = it->second;
        return CUDA_SUCCESS;
    }
    for (const SimKernel& k : sim_kernels())
        if (strcmp(k.name, name) == 0) {
            Func* f = new Func{&k, m};
            m->functions[name] = f;
            *hfunc = f;
            return CUDA_SUCCESS;
        }
    return CUDA_ERROR_NOT_FOUND;
}

// ---------------------------------------------------------------------------------------------------
// Initialisation, the device and its primary context.

// Everything the context holds, released; how many of each were still there.
static std::string destroyContextState() {
    size_t allocs = g_liveCount, modules = g_modules.size(), streams = g_streams.size(), events = g_events.size(),
           graphs = g_graphs.size(), execs = g_execs.size();
    for (auto& [base, a] : g_allocs)
        if (!a.freed) {
            a.freed = true;
            madvise((void*)a.mapStart, a.mapLen, MADV_DONTNEED);
            mprotect((void*)a.mapStart, a.mapLen, PROT_NONE);
        }
    g_liveBytes = 0;
    g_liveCount = 0;
    for (Module* m : g_modules) {
        for (auto& [name, f] : m->functions) delete f;
        delete m;
    }
    g_modules.clear();
    for (Stream* s : g_streams) delete s;
    g_streams.clear();
    for (Event* e : g_events) delete e;
    g_events.clear();
    for (Graph* g : g_graphs) delete g;
    g_graphs.clear();
    for (GraphExec* e : g_execs) delete e;
    g_execs.clear();
    g_ctx.sticky = CUDA_SUCCESS;
    g_ctx.profiling = false;
    if (allocs + modules + streams + events + graphs + execs == 0) return "";
    return std::to_string(allocs) + " allocations, " + std::to_string(modules) + " modules, " +
           std::to_string(streams) + " streams, " + std::to_string(events) + " events, " + std::to_string(graphs) +
           " graphs and " + std::to_string(execs) + " executable graphs";
}

static std::string g_lastLeak;

API CUresult cuInit(unsigned flags) {
    LOCK;
    if (flags != 0) return CUDA_ERROR_INVALID_VALUE;
    if (!g_inited) {
        readSettings();
        g_inited = true;
    }
    return CUDA_SUCCESS;
}

API CUresult cuDriverGetVersion(int* v) {
    if (!v) return CUDA_ERROR_INVALID_VALUE;
    *v = 12060;
    return CUDA_SUCCESS;
}

API CUresult cuDeviceGetCount(int* n) {
    LOCK;
    if (!g_inited) return CUDA_ERROR_NOT_INITIALIZED;
    if (!n) return CUDA_ERROR_INVALID_VALUE;
    *n = 1;
    return CUDA_SUCCESS;
}

API CUresult cuDeviceGet(CUdevice* d, int ordinal) {
    LOCK;
    if (!g_inited) return CUDA_ERROR_NOT_INITIALIZED;
    if (!d) return CUDA_ERROR_INVALID_VALUE;
    if (ordinal != 0) return CUDA_ERROR_INVALID_DEVICE;
    *d = 0;
    return CUDA_SUCCESS;
}

API CUresult cuDeviceGetName(char* name, int len, CUdevice d) {
    LOCK;
    if (!g_inited) return CUDA_ERROR_NOT_INITIALIZED;
    if (d != 0) return CUDA_ERROR_INVALID_DEVICE;
    if (!name || len <= 0) return CUDA_ERROR_INVALID_VALUE;
    snprintf(name, (size_t)len, "%s", DEVICE_NAME);
    return CUDA_SUCCESS;
}

API CUresult cuDeviceTotalMem_v2(size_t* bytes, CUdevice d) {
    LOCK;
    if (!g_inited) return CUDA_ERROR_NOT_INITIALIZED;
    if (d != 0) return CUDA_ERROR_INVALID_DEVICE;
    if (!bytes) return CUDA_ERROR_INVALID_VALUE;
    *bytes = g_totalMem;
    return CUDA_SUCCESS;
}

API CUresult cuDeviceComputeCapability(int* major, int* minor, CUdevice d) {
    if (d != 0) return CUDA_ERROR_INVALID_DEVICE;
    if (!major || !minor) return CUDA_ERROR_INVALID_VALUE;
    *major = CC_MAJOR;
    *minor = CC_MINOR;
    return CUDA_SUCCESS;
}

API CUresult cuDeviceGetUuid(unsigned char* uuid, CUdevice d) {
    if (d != 0) return CUDA_ERROR_INVALID_DEVICE;
    if (!uuid) return CUDA_ERROR_INVALID_VALUE;
    const char* id = "reptile-gen-sim0";
    memcpy(uuid, id, 16);
    return CUDA_SUCCESS;
}

API CUresult cuDeviceGetAttribute(int* v, int attrib, CUdevice d) {
    LOCK;
    if (!g_inited) return CUDA_ERROR_NOT_INITIALIZED;
    if (d != 0) return CUDA_ERROR_INVALID_DEVICE;
    if (!v) return CUDA_ERROR_INVALID_VALUE;
    switch (attrib) {
        case 1:
            *v = 1024;
            break;  // max threads per block
        case 2:
        case 3:
            *v = 1024;
            break;  // max block dim x, y
        case 4:
            *v = 64;
            break;  // max block dim z
        case 5:
            *v = 2147483647;
            break;  // max grid dim x
        case 6:
        case 7:
            *v = 65535;
            break;  // max grid dim y, z
        case 8:
            *v = 48 * 1024;
            break;  // shared memory per block
        case 9:
            *v = 64 * 1024;
            break;  // constant memory
        case 10:
            *v = 32;
            break;  // warp size
        case 12:
            *v = 65536;
            break;  // registers per block
        case 13:
            *v = 1980000;
            break;  // clock rate, kHz
        case 16:
            *v = SM_COUNT;
            break;
        case 17:
        case 18:
            *v = 0;
            break;  // kernel timeout, integrated
        case 19:
            *v = 1;
            break;  // can map host memory
        case 20:
            *v = 0;
            break;  // compute mode default
        case 31:
        case 32:
            *v = 1;
            break;  // concurrent kernels, ECC
        case 33:
        case 34:
        case 50:
            *v = 0;
            break;  // PCI bus, device, domain
        case 36:
            *v = 2619000;
            break;  // memory clock, kHz
        case 37:
            *v = 5120;
            break;  // memory bus width, bits
        case 38:
            *v = (int)L2_BYTES;
            break;
        case 39:
            *v = THREADS_PER_SM;
            break;
        case 40:
            *v = 2;
            break;  // copy engines
        case 41:
            *v = 1;
            break;  // unified addressing
        case 75:
            *v = CC_MAJOR;
            break;
        case 76:
            *v = CC_MINOR;
            break;
        case 81:
            *v = 228 * 1024;
            break;  // shared memory per multiprocessor
        case 82:
            *v = 65536;
            break;  // registers per multiprocessor
        case 97:
            *v = 227 * 1024;
            break;  // shared memory per block, opt-in
        case 106:
            *v = BLOCKS_PER_SM;
            break;
        default:
            return fail(CUDA_ERROR_INVALID_VALUE,
                        "cuDeviceGetAttribute: attribute " + std::to_string(attrib) + " is not simulated");
    }
    return CUDA_SUCCESS;
}

API CUresult cuDevicePrimaryCtxRetain(void** pctx, CUdevice d) {
    LOCK;
    if (!g_inited) return CUDA_ERROR_NOT_INITIALIZED;
    if (d != 0) return CUDA_ERROR_INVALID_DEVICE;
    if (!pctx) return CUDA_ERROR_INVALID_VALUE;
    g_ctx.refs++;
    *pctx = &g_ctx;
    return CUDA_SUCCESS;
}

API CUresult cuDevicePrimaryCtxRelease_v2(CUdevice d) {
    LOCK;
    if (!g_inited) return CUDA_ERROR_NOT_INITIALIZED;
    if (d != 0) return CUDA_ERROR_INVALID_DEVICE;
    if (g_ctx.refs <= 0) return fail(CUDA_ERROR_INVALID_CONTEXT, "cuDevicePrimaryCtxRelease of a context not retained");
    if (--g_ctx.refs == 0) {
        std::string leak = destroyContextState();
        g_lastLeak = leak;
        if (!leak.empty()) say("the primary context was released holding " + leak);
    }
    return CUDA_SUCCESS;
}

API CUresult cuDevicePrimaryCtxReset_v2(CUdevice d) {
    LOCK;
    if (!g_inited) return CUDA_ERROR_NOT_INITIALIZED;
    if (d != 0) return CUDA_ERROR_INVALID_DEVICE;
    destroyContextState();
    return CUDA_SUCCESS;
}

API CUresult cuDevicePrimaryCtxGetState(CUdevice d, unsigned* flags, int* active) {
    LOCK;
    if (!g_inited) return CUDA_ERROR_NOT_INITIALIZED;
    if (d != 0) return CUDA_ERROR_INVALID_DEVICE;
    if (!flags || !active) return CUDA_ERROR_INVALID_VALUE;
    *flags = 0;
    *active = g_ctx.refs > 0;
    return CUDA_SUCCESS;
}

API CUresult cuCtxSetCurrent(void* ctx) {
    LOCK;
    if (!g_inited) return CUDA_ERROR_NOT_INITIALIZED;
    if (ctx && ctx != &g_ctx) return fail(CUDA_ERROR_INVALID_CONTEXT, "cuCtxSetCurrent: not a context of this driver");
    t_current = (Context*)ctx;
    return CUDA_SUCCESS;
}

API CUresult cuCtxGetCurrent(void** pctx) {
    LOCK;
    if (!g_inited) return CUDA_ERROR_NOT_INITIALIZED;
    if (!pctx) return CUDA_ERROR_INVALID_VALUE;
    *pctx = t_current;
    return CUDA_SUCCESS;
}

API CUresult cuCtxGetDevice(CUdevice* d) {
    LOCK;
    if (!g_inited) return CUDA_ERROR_NOT_INITIALIZED;
    if (!d) return CUDA_ERROR_INVALID_VALUE;
    if (t_current != &g_ctx || g_ctx.refs <= 0) return CUDA_ERROR_INVALID_CONTEXT;
    *d = 0;
    return CUDA_SUCCESS;
}

API CUresult cuProfilerStart() {
    LOCK;
    NEED_CONTEXT;
    if (g_ctx.profiling) return CUDA_ERROR_PROFILER_ALREADY_STARTED;
    g_ctx.profiling = true;
    return CUDA_SUCCESS;
}

API CUresult cuProfilerStop() {
    LOCK;
    NEED_CONTEXT;
    if (!g_ctx.profiling) return CUDA_ERROR_PROFILER_ALREADY_STOPPED;
    g_ctx.profiling = false;
    return CUDA_SUCCESS;
}

static const char* errorName(int e) {
    switch (e) {
        case 0:
            return "CUDA_SUCCESS";
        case 1:
            return "CUDA_ERROR_INVALID_VALUE";
        case 2:
            return "CUDA_ERROR_OUT_OF_MEMORY";
        case 3:
            return "CUDA_ERROR_NOT_INITIALIZED";
        case 7:
            return "CUDA_ERROR_PROFILER_ALREADY_STARTED";
        case 8:
            return "CUDA_ERROR_PROFILER_ALREADY_STOPPED";
        case 100:
            return "CUDA_ERROR_NO_DEVICE";
        case 101:
            return "CUDA_ERROR_INVALID_DEVICE";
        case 200:
            return "CUDA_ERROR_INVALID_IMAGE";
        case 201:
            return "CUDA_ERROR_INVALID_CONTEXT";
        case 209:
            return "CUDA_ERROR_NO_BINARY_FOR_GPU";
        case 400:
            return "CUDA_ERROR_INVALID_HANDLE";
        case 500:
            return "CUDA_ERROR_NOT_FOUND";
        case 600:
            return "CUDA_ERROR_NOT_READY";
        case 700:
            return "CUDA_ERROR_ILLEGAL_ADDRESS";
        case 701:
            return "CUDA_ERROR_LAUNCH_OUT_OF_RESOURCES";
        case 716:
            return "CUDA_ERROR_MISALIGNED_ADDRESS";
        case 719:
            return "CUDA_ERROR_LAUNCH_FAILED";
        case 801:
            return "CUDA_ERROR_NOT_SUPPORTED";
        case 900:
            return "CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED";
        case 901:
            return "CUDA_ERROR_STREAM_CAPTURE_INVALIDATED";
        case 906:
            return "CUDA_ERROR_STREAM_CAPTURE_IMPLICIT";
        case 908:
            return "CUDA_ERROR_STREAM_CAPTURE_WRONG_THREAD";
        default:
            return nullptr;
    }
}

API CUresult cuGetErrorName(int e, const char** s) {
    if (!s) return CUDA_ERROR_INVALID_VALUE;
    *s = errorName(e);
    return *s ? CUDA_SUCCESS : CUDA_ERROR_INVALID_VALUE;
}

API CUresult cuGetErrorString(int e, const char** s) {
    return cuGetErrorName(e, s);
}

// Every other entry point JCuda imports (stubs.cpp) ends here.
extern "C" CUresult sim_unsupported(const char* name) {
    LOCK;
    static std::set<std::string> said;
    if (said.insert(name).second) say(std::string(name) + " is not simulated (CUDA_ERROR_NOT_SUPPORTED)");
    return CUDA_ERROR_NOT_SUPPORTED;
}

// ---------------------------------------------------------------------------------------------------
// The hooks of the simulated libraries (sim_lib.h).

void sim_lib_enter() {
    g_lock.lock();
}

void sim_lib_leave() {
    g_lock.unlock();
}

void sim_lib_say(const char* line) {
    sayLine(std::string(line) + "\n");
}

int sim_lib_context(const char* call) {
    LOCK;
    if (!g_inited) return fail(CUDA_ERROR_NOT_INITIALIZED, std::string(call) + ": cuInit has not been called");
    if (t_current != &g_ctx || g_ctx.refs <= 0)
        return fail(CUDA_ERROR_INVALID_CONTEXT, std::string(call) + ": no current context on this thread");
    if (g_ctx.sticky != CUDA_SUCCESS) {
        const char* name = errorName(g_ctx.sticky);
        return fail(g_ctx.sticky, std::string(call) + ": refused, the context is broken by an earlier fault (" +
                                      (name ? name : std::to_string(g_ctx.sticky)) + ") until it is reset");
    }
    return CUDA_SUCCESS;
}

int sim_lib_check(const char* call, const char* what, unsigned long long ptr, size_t bytes, size_t align) {
    LOCK;
    if (bytes == 0) return CUDA_SUCCESS;
    if (align > 1 && ptr % align != 0)
        return fault(CUDA_ERROR_MISALIGNED_ADDRESS, std::string(call) + ": the " + what + " at " + hex(ptr) +
                                                        " is not aligned to " + std::to_string(align) + " bytes");
    std::string why = rangeProblem(ptr, bytes);
    if (why.empty()) return CUDA_SUCCESS;
    return fault(CUDA_ERROR_ILLEGAL_ADDRESS,
                 std::string(call) + ": the " + what + " of " + std::to_string(bytes) + " bytes " + why);
}

int sim_lib_stream(const char* call, void* stream, int work) {
    LOCK;
    if (!validStream(stream))
        return fail(CUDA_ERROR_INVALID_HANDLE, std::string(call) + ": " + hex((uintptr_t)stream) +
                                                   " is not a live stream (cuStreamCreate, not destroyed)");
    if (!work) return CUDA_SUCCESS;
    Stream* s;
    if (CUresult r = captureOf(call, stream, &s)) return r;
    if (!s) return CUDA_SUCCESS;
    s->invalidated = true;
    return fail(
        CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED,
        std::string(call) +
            " on a capturing stream: library work is not recorded into graphs here; the capture is invalidated");
}

// ---------------------------------------------------------------------------------------------------
// Controls for the tests (org.reptilegen.engine.cuda.SimulatedDriver).

static std::string str(JNIEnv* env, jstring s) {
    if (!s) return "";
    const char* c = env->GetStringUTFChars(s, nullptr);
    std::string r(c);
    env->ReleaseStringUTFChars(s, c);
    return r;
}

API void Java_org_reptilegen_engine_cuda_SimulatedDriver_configure(JNIEnv* env, jclass, jstring order, jint threads) {
    LOCK;
    if (!g_inited) readSettings();
    std::string o = str(env, order);
    if (!setOrder(o)) env->ThrowNew(env->FindClass("java/lang/IllegalArgumentException"), ("order " + o).c_str());
    if (threads >= 1 && threads <= MAX_WORKERS) g_threads = threads;
}

API jstring Java_org_reptilegen_engine_cuda_SimulatedDriver_settings(JNIEnv* env, jclass) {
    LOCK;
    if (!g_inited) readSettings();
    std::string s = orderName() + ", " + std::to_string(g_threads) + " threads";
    return env->NewStringUTF(s.c_str());
}

API void Java_org_reptilegen_engine_cuda_SimulatedDriver_plant(JNIEnv* env, jclass, jstring kind, jstring where, jint a,
                                                               jint b) {
    LOCK;
    std::string k = str(env, kind), w = str(env, where);
    if (k == "missing-barrier") {
        g_plants.barrierFile = w;
        g_plants.barrierLine = a;
    } else if (k == "swap-arguments") {
        const SimKernel* found = nullptr;
        for (const SimKernel& s : sim_kernels())
            if (w == s.name) found = &s;
        if (!found || a < 0 || b < 0 || a >= (int)found->params.size() || b >= (int)found->params.size() || a == b) {
            env->ThrowNew(env->FindClass("java/lang/IllegalArgumentException"),
                          ("no arguments " + std::to_string(a) + ", " + std::to_string(b) + " of " + w).c_str());
            return;
        }
        g_plants.swapKernel = w;
        g_plants.swapA = a;
        g_plants.swapB = b;
    } else if (k == "short-copy") {
        g_plants.shortCopy = a;
    } else if (k == "fault-launch") {
        g_plants.faultKernel = w;
        g_plants.faultAt = a;
    } else {
        env->ThrowNew(env->FindClass("java/lang/IllegalArgumentException"), ("no such plant: " + k).c_str());
    }
}

API void Java_org_reptilegen_engine_cuda_SimulatedDriver_clearPlants(JNIEnv*, jclass) {
    LOCK;
    g_plants = Plants();
}

API jstring Java_org_reptilegen_engine_cuda_SimulatedDriver_takeReport(JNIEnv* env, jclass) {
    std::lock_guard<std::mutex> g(g_reportLock);
    jstring r = env->NewStringUTF(g_report.c_str());
    g_report.clear();
    return r;
}

// {live allocations, their bytes, modules, streams, events, graphs, executable graphs, primary context
// references, launches so far}
API jlongArray Java_org_reptilegen_engine_cuda_SimulatedDriver_live(JNIEnv* env, jclass) {
    LOCK;
    jlong v[9] = {(jlong)g_liveCount,      (jlong)g_liveBytes,     (jlong)g_modules.size(),
                  (jlong)g_streams.size(), (jlong)g_events.size(), (jlong)g_graphs.size(),
                  (jlong)g_execs.size(),   (jlong)g_ctx.refs,      (jlong)g_launches};
    jlongArray a = env->NewLongArray(9);
    env->SetLongArrayRegion(a, 0, 9, v);
    return a;
}

API jstring Java_org_reptilegen_engine_cuda_SimulatedDriver_lastLeak(JNIEnv* env, jclass) {
    LOCK;
    return env->NewStringUTF(g_lastLeak.c_str());
}
