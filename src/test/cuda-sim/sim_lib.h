// What the simulated libraries (cublas.cpp, cudnn.cpp) ask of the simulated driver (driver.cpp), which
// exports these functions: a library call checks its device operands, its stream and the context
// through the driver, so it fails as a library running kernels on the device would, and its lines go
// where the driver's go (stderr and the report the tests read).
//
// Each check returns a CUresult: CUDA_SUCCESS (0), or the error after one line that names the call and
// the operand. An operand outside live memory is a device fault: it breaks the context, as a kernel's
// bad access would, and every later call (of the driver or a library) fails until it is reset.
#pragma once
#include <stddef.h>

#define SIM_LIB_EXPORT extern "C" __attribute__((visibility("default")))

// The driver's lock, held while a library works on device memory, so nothing is freed under it.
SIM_LIB_EXPORT void sim_lib_enter();
SIM_LIB_EXPORT void sim_lib_leave();
// Prints one line as it is (the library's own prefix included) and keeps it for the report.
SIM_LIB_EXPORT void sim_lib_say(const char* line);
// Whether work may run on the calling thread now: cuInit called, a current context, and no sticky fault
// in it (then that fault's code, with a line saying the context is broken).
SIM_LIB_EXPORT int sim_lib_context(const char* call);
// [ptr, ptr + bytes) inside one live allocation, ptr a multiple of align: else a device fault
// (CUDA_ERROR_ILLEGAL_ADDRESS or CUDA_ERROR_MISALIGNED_ADDRESS, sticky). Nothing to check when bytes == 0.
SIM_LIB_EXPORT int sim_lib_check(const char* call, const char* what, unsigned long long ptr, size_t bytes,
                                 size_t align);
// A live stream (or the legacy one, null): else CUDA_ERROR_INVALID_HANDLE. With work set, also one that
// work may be issued to now: not capturing (library work is not recorded into graphs here, so the call is
// refused with CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED and the capture invalidated), and not the legacy
// stream while this thread captures (CUDA_ERROR_STREAM_CAPTURE_IMPLICIT, as the driver's own calls).
SIM_LIB_EXPORT int sim_lib_stream(const char* call, void* stream, int work);

// Holds the driver's lock for a library call's scope.
struct SimLibLock {
    SimLibLock() { sim_lib_enter(); }
    ~SimLibLock() { sim_lib_leave(); }
    SimLibLock(const SimLibLock&) = delete;
    SimLibLock& operator=(const SimLibLock&) = delete;
};
