// Runs a recorded launch plan of the CUDA engine on the host (see sim.h for why and for the limits).
//
// KernelEmulationTest records the launches that the engine's own StepPlan and Workspace build (kernel
// name, grid, block, arguments with every pointer as a byte offset into one arena), with the buffers to
// upload, runs this program on the plan and compares the memory it writes back with the CPU engine.
// The arguments are converted by the parameter types of the real kernel declarations, so a launch whose
// argument count or kinds differ from the .cu file fails here.
//
// Plan, one command a line:
//   arena BYTES              the memory, every byte 0xff (float NaN, int -1), so reading what was never
//                            written shows; a page after it is unreadable, so running past its end crashes
//   ints OFF N v1 .. vN      32-bit values at byte offset OFF (floats as their bits)
//   longs OFF N v1 .. vN     64-bit values
//   zero OFF BYTES
//   launch NAME GX GY BX BY N a1 .. aN
//                            each argument a kind letter and a value: p byte offset (-1: null), i int, l long long,
//                            f float bits, d double bits
// At the end the whole arena is written to OUT.
//
// Usage: emulate PLAN OUT. Built by the test with the generated kernels.inc, which includes every
// kernels/*.cu and defines KERNEL_LIST, the kernels the engine launches.
#include "sim.h"
#include "kernels.inc"

#include <sys/mman.h>
#include <unistd.h>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <tuple>
#include <utility>

static unsigned char* g_mem;
static long long g_bytes;

[[noreturn]] static void die(const std::string& what) {
    fprintf(stderr, "emulator: %s\n", what.c_str());
    exit(2);
}

struct Arg { char kind; long long value; };

static void expectKind(const char* kernel, int i, const Arg& a, char kind) {
    if (a.kind != kind)
        die(std::string(kernel) + ": argument " + std::to_string(i) + " is '" + a.kind + "', the kernel declares '" + kind + "'");
}

// The value of a recorded argument as parameter type T of the kernel.
template <class T> struct From;
template <class T> struct From<T*> {
    static T* get(const char* k, int i, const Arg& a) {
        expectKind(k, i, a, 'p');
        if (a.value == -1) return nullptr;
        if (a.value < 0 || a.value > g_bytes) die(std::string(k) + ": argument " + std::to_string(i) + " points outside the arena");
        return (T*)(g_mem + a.value);
    }
};
template <> struct From<int> {
    static int get(const char* k, int i, const Arg& a) { expectKind(k, i, a, 'i'); return (int)a.value; }
};
template <> struct From<long long> {
    static long long get(const char* k, int i, const Arg& a) { expectKind(k, i, a, 'l'); return a.value; }
};
template <> struct From<float> {
    static float get(const char* k, int i, const Arg& a) {
        expectKind(k, i, a, 'f');
        int32_t bits = (int32_t)a.value;
        float f;
        memcpy(&f, &bits, 4);
        return f;
    }
};
template <> struct From<double> {
    static double get(const char* k, int i, const Arg& a) {
        expectKind(k, i, a, 'd');
        double d;
        memcpy(&d, &a.value, 8);
        return d;
    }
};

template <class... A, size_t... I>
static void runWith(const char* name, void (*kernel)(A...), dim3 g, dim3 b, const std::vector<Arg>& a, std::index_sequence<I...>) {
    std::tuple<A...> args{From<A>::get(name, (int)I, a[I])...};
    launch(g, b, [&] { std::apply(kernel, args); });
}

template <class... A>
static void run(const char* name, void (*kernel)(A...), dim3 g, dim3 b, const std::vector<Arg>& a) {
    if (a.size() != sizeof...(A))
        die(std::string(name) + " takes " + std::to_string(sizeof...(A)) + " arguments, the launch passes " + std::to_string(a.size()));
    runWith(name, kernel, g, b, a, std::index_sequence_for<A...>{});
}

struct Kernel {
    const char* name;
    void (*run)(dim3, dim3, const std::vector<Arg>&);
};
#define KERNEL_ENTRY(k) {#k, [](dim3 g, dim3 b, const std::vector<Arg>& a) { run(#k, k, g, b, a); }},
static const Kernel kKernels[] = {KERNEL_LIST(KERNEL_ENTRY)};

static void arena(long long bytes) {
    if (g_mem) die("a second arena");
    long page = sysconf(_SC_PAGESIZE);
    long long span = (bytes + 255) / 256 * 256;
    long long mapped = (span + page - 1) / page * page + page;
    void* m = mmap(nullptr, mapped, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED) die("cannot map the arena");
    unsigned char* guard = (unsigned char*)m + mapped - page;
    if (mprotect(guard, page, PROT_NONE) != 0) die("cannot protect the guard page");
    g_mem = guard - span;  // 256-byte aligned, ends at the guard page
    g_bytes = bytes;
    memset(g_mem, 0xff, span);
}

static void checkRange(long long off, long long bytes) {
    if (!g_mem) die("no arena yet");
    if (off < 0 || bytes < 0 || off + bytes > g_bytes) die("a write outside the arena");
}

int main(int argc, char** argv) {
    if (argc != 3) die("usage: emulate PLAN OUT");
    std::ifstream in(argv[1]);
    if (!in) die(std::string("cannot read ") + argv[1]);
    std::string line;
    long lineNo = 0;
    while (std::getline(in, line)) {
        lineNo++;
        std::istringstream s(line);
        std::string op;
        if (!(s >> op)) continue;
        if (op == "arena") {
            long long bytes;
            s >> bytes;
            arena(bytes);
        } else if (op == "ints" || op == "longs") {
            long long off, n;
            s >> off >> n;
            int size = op == "ints" ? 4 : 8;
            checkRange(off, n * size);
            for (long long i = 0; i < n; i++) {
                long long v;
                if (!(s >> v)) die("line " + std::to_string(lineNo) + ": too few values");
                if (size == 4) {
                    int32_t x = (int32_t)v;
                    memcpy(g_mem + off + 4 * i, &x, 4);
                } else {
                    memcpy(g_mem + off + 8 * i, &v, 8);
                }
            }
        } else if (op == "zero") {
            long long off, bytes;
            s >> off >> bytes;
            checkRange(off, bytes);
            memset(g_mem + off, 0, bytes);
        } else if (op == "launch") {
            std::string name;
            unsigned gx, gy, bx, by;
            int n;
            s >> name >> gx >> gy >> bx >> by >> n;
            std::vector<Arg> args(n);
            for (Arg& a : args) {
                std::string t;
                if (!(s >> t) || t.size() < 2) die("line " + std::to_string(lineNo) + ": bad argument");
                a.kind = t[0];
                a.value = std::stoll(t.substr(1));
            }
            if (!g_mem) die("no arena yet");
            const Kernel* k = nullptr;
            for (const Kernel& c : kKernels) if (name == c.name) k = &c;
            if (!k) die("unknown kernel " + name);
            k->run(dim3(gx, gy), dim3(bx, by), args);
        } else {
            die("line " + std::to_string(lineNo) + ": unknown command " + op);
        }
        if (s.fail()) die("line " + std::to_string(lineNo) + ": cannot read it");
    }
    if (!g_mem) die("the plan has no arena");
    FILE* out = fopen(argv[2], "wb");
    if (!out || fwrite(g_mem, 1, g_bytes, out) != (size_t)g_bytes || fclose(out) != 0) die(std::string("cannot write ") + argv[2]);
    return 0;
}
