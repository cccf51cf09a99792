/* Why this exists: JCublas2 12.6.0 and JCudnn 11.7.0 are linked against libcublas.so.12 and libcudnn.so.8 with
   versioned symbols, which CUDA 13's cuBLAS and cuDNN 9 do not provide under those names. Built once per library by
   native/build-forwarders.sh, this takes the old soname and version node, exports every function the JCuda native
   imports as a jump through a table, and fills the table from the library named at run time (bind). */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <jni.h>
#include <link.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

/* The build defines LIBRARY (Cublas or Cudnn: the suffix of the JNI names), NOT_SUPPORTED (the library's status for
   an unsupported call) and OLD_SONAME, and puts forwards.inc on the include path: one FORWARD(index, name, stub)
   per imported function, where stub says what the function returns while the bound library lacks it. */
#define JNI_NAME3(f, l) Java_org_reptilegen_engine_cuda_NvidiaLibraries_##f##l
#define JNI_NAME2(f, l) JNI_NAME3(f, l)
#define JNI_NAME(f) JNI_NAME2(f, LIBRARY)

/* Status-returning functions fail with the library's not-supported status (the whole register is set, so a
   caller reading a 64-bit result sees the same number). */
static long stub_status(void) {
    return NOT_SUPPORTED;
}

/* The status-to-text functions return a message instead of a pointer made from a status. */
static const char* stub_string(void) {
    return "unknown status: the library the forwarder is bound to lacks this function";
}

/* Version queries that return the number itself (cudnnGetVersion, cublasGetCudartVersion) say 0, unknown. */
static size_t stub_zero(void) {
    return 0;
}

/* Read by the trampolines below: entry i is where exported function i jumps. Hidden, so the jumps address it
   relative to the instruction pointer and nothing outside this library sees it. */
__attribute__((visibility("hidden"))) void* forward_table[] = {
#define FORWARD(i, name, stub) [i] = (void*)stub_##stub,
#include "forwards.inc"
#undef FORWARD
};

static const char* const names[] = {
#define FORWARD(i, name, stub) [i] = #name,
#include "forwards.inc"
#undef FORWARD
};

enum { COUNT = sizeof names / sizeof names[0] };

/* Each exported function is one indirect jump through its table entry: the arguments, the stack and the return
   address stay as the caller left them, so every signature forwards untouched. */
#define FORWARD(i, name, stub)                                                                     \
    __asm__(".pushsection .text\n.globl " #name "\n.type " #name ", @function\n.p2align 4\n" #name \
            ":\n"                                                                                  \
            "\tjmp *forward_table+8*" #i "(%rip)\n.size " #name ", .-" #name "\n.popsection\n");
#include "forwards.inc"
#undef FORWARD

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static void* bound;        /* the target's handle once bound; never closed, calls may be in flight */
static int missing;        /* functions the target lacks, left on their stubs */
static char absent[COUNT]; /* which ones */
static char target[1024];  /* the target as it was named */

/* A Java string from C text on one line: control characters become spaces and bytes that are not UTF-8 of
   at most three bytes (what JNI's modified UTF-8 takes) become '?'. */
static jstring line(JNIEnv* env, const char* s) {
    char out[2048];
    size_t n = 0;
    const unsigned char* p = (const unsigned char*)s;
    while (*p && n + 4 < sizeof out) {
        int len = *p < 0x80 ? 1 : (*p & 0xE0) == 0xC0 ? 2 : (*p & 0xF0) == 0xE0 ? 3 : 0;
        for (int k = 1; k < len; k++)
            if ((p[k] & 0xC0) != 0x80) len = 0;
        if (len == 0) {
            out[n++] = '?';
            p++;
        } else if (len == 1) {
            out[n++] = *p < 0x20 || *p == 0x7F ? ' ' : (char)*p;
            p++;
        } else {
            memcpy(out + n, p, (size_t)len);
            n += (size_t)len;
            p += len;
        }
    }
    out[n] = '\0';
    return (*env)->NewStringUTF(env, out);
}

/* This library's own handle, to refuse a target that is this library itself (named by its soname). */
static void* self(void) {
    Dl_info info;
    if (!dladdr((void*)stub_status, &info) || info.dli_fname == NULL) return NULL;
    return dlopen(info.dli_fname, RTLD_NOW | RTLD_NOLOAD);
}

/* The file a handle was loaded from. */
static const char* path_of(void* handle) {
    struct link_map* map = NULL;
    if (dlinfo(handle, RTLD_DI_LINKMAP, &map) != 0 || map == NULL || map->l_name[0] == '\0') return "?";
    return map->l_name;
}

/* Opens the target (a soname or a path) and points every table entry at its function of that name; a
   function it lacks keeps its stub. Null on success, else one line: dlopen's error, or a refusal that starts
   with "refused: ". Binding is once per process: the same library again (by any name) is a success, another
   library is refused (handles made by the first would reach the second). A target that cannot be opened is
   reported as such even after a binding. */
JNIEXPORT jstring JNICALL JNI_NAME(bind)(JNIEnv* env, jclass cls, jstring name) {
    (void)cls;
    char message[2048];
    const char* t = (*env)->GetStringUTFChars(env, name, NULL);
    if (t == NULL) return NULL; /* OutOfMemoryError pending */
    pthread_mutex_lock(&lock);
    const char* result = NULL;
    void* h = dlopen(t, RTLD_NOW | RTLD_GLOBAL);
    if (h == NULL) {
        const char* e = dlerror();
        snprintf(message, sizeof message, "%s", e != NULL ? e : "dlopen failed");
        result = message;
    } else {
        void* me = self();
        if (me != NULL) dlclose(me);
        if (h == me) {
            dlclose(h);
            snprintf(
                message, sizeof message,
                "refused: %s is this forwarding library itself (its soname is %s): name the real library by its path",
                t, OLD_SONAME);
            result = message;
        } else if (bound == h) {
            dlclose(h);
        } else if (bound != NULL) {
            snprintf(message, sizeof message,
                     "refused: the %s forwarding library is bound to %s (%s) in this process; %s needs a new process",
                     OLD_SONAME, target, path_of(bound), t);
            dlclose(h);
            result = message;
        } else {
            missing = 0;
            for (int i = 0; i < COUNT; i++) {
                void* f = dlsym(h, names[i]);
                absent[i] = f == NULL;
                if (f != NULL)
                    forward_table[i] = f;
                else
                    missing++;
            }
            snprintf(target, sizeof target, "%s", t);
            bound = h;
        }
    }
    pthread_mutex_unlock(&lock);
    (*env)->ReleaseStringUTFChars(env, name, t);
    return result == NULL ? NULL : line(env, result);
}

/* One line for doctor: what is bound, the file it is, and how many functions reach it. */
JNIEXPORT jstring JNICALL JNI_NAME(describe)(JNIEnv* env, jclass cls) {
    (void)cls;
    char message[2048];
    pthread_mutex_lock(&lock);
    if (bound == NULL) {
        snprintf(message, sizeof message, "%s forwarding library, not bound; %d functions", OLD_SONAME, (int)COUNT);
    } else {
        /* The file only where the name did not say it. */
        const char* path = path_of(bound);
        char file[1100] = "";
        if (strcmp(path, target) != 0) snprintf(file, sizeof file, " (%s)", path);
        snprintf(message, sizeof message,
                 "%s%s through the %s forwarding library: %d of %d functions forwarded, %d missing", target, file,
                 OLD_SONAME, (int)COUNT - missing, (int)COUNT, missing);
    }
    pthread_mutex_unlock(&lock);
    return line(env, message);
}

/* The names the bound library lacks, separated by spaces ("" when it has them all, or before binding). */
JNIEXPORT jstring JNICALL JNI_NAME(missing)(JNIEnv* env, jclass cls) {
    (void)cls;
    static char list[COUNT * 64 + 1];
    size_t n = 0;
    pthread_mutex_lock(&lock);
    for (int i = 0; bound != NULL && i < COUNT; i++) {
        size_t len = strlen(names[i]);
        if (!absent[i] || n + len + 2 > sizeof list) continue;
        if (n > 0) list[n++] = ' ';
        memcpy(list + n, names[i], len);
        n += len;
    }
    list[n] = '\0';
    jstring s = (*env)->NewStringUTF(env, list);
    pthread_mutex_unlock(&lock);
    return s;
}
