/* Java has no binding to MPI that every cluster ships, so the trainer reaches the cluster's own MPI through this shim, compiled against its mpi.h by mpicc. */
#define _GNU_SOURCE
#include <jni.h>
#include <mpi.h>
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Every call comes from one Java thread at a time (the Java side is synchronized), so MPI_THREAD_SERIALIZED is enough. */

static MPI_Comm local_comm = MPI_COMM_NULL;
static void *scratch = NULL;
static size_t scratch_bytes = 0;

static void throw_mpi(JNIEnv *env, const char *what, int code) {
    char msg[MPI_MAX_ERROR_STRING + 128];
    char err[MPI_MAX_ERROR_STRING];
    int len = 0;
    if (MPI_Error_string(code, err, &len) != MPI_SUCCESS) snprintf(err, sizeof err, "error %d", code);
    snprintf(msg, sizeof msg, "%s: %s", what, err);
    jclass cls = (*env)->FindClass(env, "org/reptilegen/dist/MpiException");
    if (cls != NULL) (*env)->ThrowNew(env, cls, msg);
}

static void throw_plain(JNIEnv *env, const char *msg) {
    jclass cls = (*env)->FindClass(env, "org/reptilegen/dist/MpiException");
    if (cls != NULL) (*env)->ThrowNew(env, cls, msg);
}

#define CHECK(env, what, call) do { int rc_ = (call); if (rc_ != MPI_SUCCESS) { throw_mpi(env, what, rc_); return; } } while (0)
#define CHECK_R(env, what, call, r) do { int rc_ = (call); if (rc_ != MPI_SUCCESS) { throw_mpi(env, what, rc_); return r; } } while (0)

static void *scratch_of(size_t bytes) {
    if (bytes > scratch_bytes) {
        void *p = realloc(scratch, bytes);
        if (p == NULL) return NULL;
        scratch = p;
        scratch_bytes = bytes;
    }
    return scratch;
}

/* The JVM loads this library with RTLD_LOCAL; MPI libraries that dlopen their own plugins need their symbols
   global, as for any interpreter that loads MPI (the library that defines MPI_Init is reopened RTLD_GLOBAL). */
static void make_mpi_global(void) {
    Dl_info info;
    if (dladdr((void *) &MPI_Init_thread, &info) && info.dli_fname != NULL)
        dlopen(info.dli_fname, RTLD_NOW | RTLD_GLOBAL | RTLD_NOLOAD);
}

JNIEXPORT jint JNICALL Java_org_reptilegen_dist_Mpi_init(JNIEnv *env, jclass cls) {
    int provided = 0, flag = 0;
    (void) cls;
    make_mpi_global();
    /* The JVM handles SIGSEGV, SIGBUS and SIGFPE itself (null checks, safepoints): Open MPI must not take them over
       to print its own stack traces. A value the user set stays. */
    setenv("OMPI_MCA_opal_signal", "", 0);
    CHECK_R(env, "MPI_Initialized", MPI_Initialized(&flag), -1);
    if (!flag) CHECK_R(env, "MPI_Init_thread", MPI_Init_thread(NULL, NULL, MPI_THREAD_SERIALIZED, &provided), -1);
    /* Errors come back as codes, so they become Java exceptions (and then one line and MPI_Abort), not a silent exit. */
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    int rank = 0;
    CHECK_R(env, "MPI_Comm_rank", MPI_Comm_rank(MPI_COMM_WORLD, &rank), -1);
    CHECK_R(env, "MPI_Comm_split_type", MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, rank, MPI_INFO_NULL, &local_comm), -1);
    return provided;
}

JNIEXPORT jint JNICALL Java_org_reptilegen_dist_Mpi_rank(JNIEnv *env, jclass cls) {
    int r = -1;
    (void) cls;
    CHECK_R(env, "MPI_Comm_rank", MPI_Comm_rank(MPI_COMM_WORLD, &r), -1);
    return r;
}

JNIEXPORT jint JNICALL Java_org_reptilegen_dist_Mpi_size(JNIEnv *env, jclass cls) {
    int n = -1;
    (void) cls;
    CHECK_R(env, "MPI_Comm_size", MPI_Comm_size(MPI_COMM_WORLD, &n), -1);
    return n;
}

/* The rank among the processes of this node (MPI_COMM_TYPE_SHARED): what picks the GPU. */
JNIEXPORT jint JNICALL Java_org_reptilegen_dist_Mpi_localRank(JNIEnv *env, jclass cls) {
    int r = -1;
    (void) cls;
    CHECK_R(env, "MPI_Comm_rank (node-local)", MPI_Comm_rank(local_comm, &r), -1);
    return r;
}

JNIEXPORT jint JNICALL Java_org_reptilegen_dist_Mpi_localSize(JNIEnv *env, jclass cls) {
    int n = -1;
    (void) cls;
    CHECK_R(env, "MPI_Comm_size (node-local)", MPI_Comm_size(local_comm, &n), -1);
    return n;
}

JNIEXPORT jstring JNICALL Java_org_reptilegen_dist_Mpi_processorName(JNIEnv *env, jclass cls) {
    char name[MPI_MAX_PROCESSOR_NAME + 1];
    int len = 0;
    (void) cls;
    CHECK_R(env, "MPI_Get_processor_name", MPI_Get_processor_name(name, &len), NULL);
    name[len] = '\0';
    return (*env)->NewStringUTF(env, name);
}

JNIEXPORT jstring JNICALL Java_org_reptilegen_dist_Mpi_libraryVersion(JNIEnv *env, jclass cls) {
    char v[MPI_MAX_LIBRARY_VERSION_STRING + 1];
    int len = 0;
    (void) cls;
    CHECK_R(env, "MPI_Get_library_version", MPI_Get_library_version(v, &len), NULL);
    v[len] = '\0';
    char *nl = strchr(v, '\n');
    if (nl) *nl = '\0';
    return (*env)->NewStringUTF(env, v);
}

/* Rank j's contiguous chunk of n elements: the first n mod size chunks are one longer. */
static void chunks(int n, int size, int *counts, int *displs) {
    int base = n / size, rem = n % size, at = 0;
    for (int j = 0; j < size; j++) {
        counts[j] = base + (j < rem ? 1 : 0);
        displs[j] = at;
        at += counts[j];
    }
}

/*
 * a := the sum over ranks of every rank's a, added in rank order ((a_0 + a_1) + a_2) + ..., so the result is the
 * same bits on every rank and in every run with this many ranks (MPI_Allreduce promises neither). Each rank sums
 * one chunk of the elements: an all-to-all sends rank j every rank's chunk j, rank j adds them in rank order, and
 * an all-gather returns the sums; each rank sends and receives about 2 (size-1)/size of the array, as a
 * bandwidth-optimal allreduce does. Floats are added in double and rounded once.
 */
static void sum_in_rank_order(JNIEnv *env, jarray array, MPI_Datatype type, size_t elem) {
    int size = 0, rank = 0;
    CHECK(env, "MPI_Comm_size", MPI_Comm_size(MPI_COMM_WORLD, &size));
    CHECK(env, "MPI_Comm_rank", MPI_Comm_rank(MPI_COMM_WORLD, &rank));
    jsize n = (*env)->GetArrayLength(env, array);
    if (size == 1 || n == 0) return;
    int *counts = malloc(4 * sizeof(int) * (size_t) size);
    if (counts == NULL) { throw_plain(env, "sum in rank order: out of native memory"); return; }
    int *displs = counts + size, *rcounts = counts + 2 * size, *rdispls = counts + 3 * size;
    chunks(n, size, counts, displs);
    int mine = counts[rank];
    for (int i = 0; i < size; i++) {
        rcounts[i] = mine;
        rdispls[i] = i * mine;
    }
    char *recv = scratch_of((size_t) size * (size_t) (mine > 0 ? mine : 1) * elem);
    if (recv == NULL) { free(counts); throw_plain(env, "sum in rank order: out of native memory"); return; }
    /* The array stays where it is (no copy in, no copy out); the JVM only postpones a garbage collection meanwhile. */
    char *data = (*env)->GetPrimitiveArrayCritical(env, array, NULL);
    if (data == NULL) { free(counts); return; }
    int rc = MPI_Alltoallv(data, counts, displs, type, recv, rcounts, rdispls, type, MPI_COMM_WORLD);
    if (rc == MPI_SUCCESS) {
        if (type == MPI_DOUBLE) {
            double *in = (double *) recv, *out = (double *) data + displs[rank];
            for (int k = 0; k < mine; k++) {
                double s = in[k];
                for (int i = 1; i < size; i++) s += in[(size_t) i * mine + k];
                out[k] = s;
            }
        } else {
            float *in = (float *) recv, *out = (float *) data + displs[rank];
            for (int k = 0; k < mine; k++) {
                double s = in[k];
                for (int i = 1; i < size; i++) s += in[(size_t) i * mine + k];
                out[k] = (float) s;
            }
        }
        rc = MPI_Allgatherv(MPI_IN_PLACE, 0, type, data, counts, displs, type, MPI_COMM_WORLD);
    }
    (*env)->ReleasePrimitiveArrayCritical(env, array, data, 0);
    free(counts);
    if (rc != MPI_SUCCESS) throw_mpi(env, "sum in rank order", rc);
}

JNIEXPORT void JNICALL Java_org_reptilegen_dist_Mpi_sumDoubles(JNIEnv *env, jclass cls, jdoubleArray a) {
    (void) cls;
    sum_in_rank_order(env, a, MPI_DOUBLE, sizeof(double));
}

JNIEXPORT void JNICALL Java_org_reptilegen_dist_Mpi_sumFloats(JNIEnv *env, jclass cls, jfloatArray a) {
    (void) cls;
    sum_in_rank_order(env, a, MPI_FLOAT, sizeof(float));
}

/* all := every rank's mine, concatenated in rank order; counts[j] is rank j's length. */
JNIEXPORT void JNICALL Java_org_reptilegen_dist_Mpi_gatherDoubles(JNIEnv *env, jclass cls, jdoubleArray mine, jdoubleArray all, jintArray counts) {
    int size = 0;
    (void) cls;
    CHECK(env, "MPI_Comm_size", MPI_Comm_size(MPI_COMM_WORLD, &size));
    if ((*env)->GetArrayLength(env, counts) != size) { throw_plain(env, "gather: one count per rank is needed"); return; }
    int *c = malloc(2 * sizeof(int) * (size_t) size);
    if (c == NULL) { throw_plain(env, "gather: out of native memory"); return; }
    int *d = c + size;
    (*env)->GetIntArrayRegion(env, counts, 0, size, c);
    long total = 0;
    for (int j = 0; j < size; j++) {
        d[j] = (int) total;
        total += c[j];
    }
    if (total != (*env)->GetArrayLength(env, all)) { free(c); throw_plain(env, "gather: the counts do not add up to the result's length"); return; }
    jsize n = (*env)->GetArrayLength(env, mine);
    double *src = (*env)->GetPrimitiveArrayCritical(env, mine, NULL);
    double *dst = src == NULL ? NULL : (*env)->GetPrimitiveArrayCritical(env, all, NULL);
    int rc = dst == NULL ? MPI_SUCCESS : MPI_Allgatherv(src, n, MPI_DOUBLE, dst, c, d, MPI_DOUBLE, MPI_COMM_WORLD);
    if (dst != NULL) (*env)->ReleasePrimitiveArrayCritical(env, all, dst, 0);
    if (src != NULL) (*env)->ReleasePrimitiveArrayCritical(env, mine, src, JNI_ABORT);
    free(c);
    if (rc != MPI_SUCCESS) throw_mpi(env, "MPI_Allgatherv", rc);
}

JNIEXPORT void JNICALL Java_org_reptilegen_dist_Mpi_broadcastDoubles(JNIEnv *env, jclass cls, jdoubleArray a, jint root) {
    (void) cls;
    jsize n = (*env)->GetArrayLength(env, a);
    double *p = (*env)->GetPrimitiveArrayCritical(env, a, NULL);
    if (p == NULL) return;
    int rc = MPI_Bcast(p, n, MPI_DOUBLE, root, MPI_COMM_WORLD);
    (*env)->ReleasePrimitiveArrayCritical(env, a, p, 0);
    if (rc != MPI_SUCCESS) throw_mpi(env, "MPI_Bcast", rc);
}

JNIEXPORT void JNICALL Java_org_reptilegen_dist_Mpi_broadcastLongs(JNIEnv *env, jclass cls, jlongArray a, jint root) {
    (void) cls;
    jsize n = (*env)->GetArrayLength(env, a);
    jlong *p = (*env)->GetPrimitiveArrayCritical(env, a, NULL);
    if (p == NULL) return;
    int rc = MPI_Bcast(p, n, MPI_INT64_T, root, MPI_COMM_WORLD);
    (*env)->ReleasePrimitiveArrayCritical(env, a, p, 0);
    if (rc != MPI_SUCCESS) throw_mpi(env, "MPI_Bcast", rc);
}

/* The largest of every rank's value: with 0 and 1, whether any rank says yes. */
JNIEXPORT jlong JNICALL Java_org_reptilegen_dist_Mpi_max(JNIEnv *env, jclass cls, jlong v) {
    int64_t in = v, out = 0;
    (void) cls;
    CHECK_R(env, "MPI_Allreduce", MPI_Allreduce(&in, &out, 1, MPI_INT64_T, MPI_MAX, MPI_COMM_WORLD), 0);
    return out;
}

JNIEXPORT void JNICALL Java_org_reptilegen_dist_Mpi_barrier(JNIEnv *env, jclass cls) {
    (void) cls;
    CHECK(env, "MPI_Barrier", MPI_Barrier(MPI_COMM_WORLD));
}

JNIEXPORT void JNICALL Java_org_reptilegen_dist_Mpi_abort(JNIEnv *env, jclass cls, jint code) {
    (void) env;
    (void) cls;
    fflush(stdout);
    fflush(stderr);
    MPI_Abort(MPI_COMM_WORLD, code);
    /* MPI_Abort should not return; if it does, the process must still end, or the others wait for it. */
    _exit(code == 0 ? 1 : code);
}

JNIEXPORT void JNICALL Java_org_reptilegen_dist_Mpi_finish(JNIEnv *env, jclass cls) {
    (void) cls;
    if (local_comm != MPI_COMM_NULL) MPI_Comm_free(&local_comm);
    CHECK(env, "MPI_Finalize", MPI_Finalize());
}

/* The CUDA driver reads CUDA_VISIBLE_DEVICES from the C environment when it starts, which Java cannot set. */
JNIEXPORT void JNICALL Java_org_reptilegen_dist_Mpi_setenv(JNIEnv *env, jclass cls, jstring name, jstring value) {
    (void) cls;
    const char *n = (*env)->GetStringUTFChars(env, name, NULL);
    const char *v = n == NULL ? NULL : (*env)->GetStringUTFChars(env, value, NULL);
    if (v != NULL) setenv(n, v, 1);
    if (v != NULL) (*env)->ReleaseStringUTFChars(env, value, v);
    if (n != NULL) (*env)->ReleaseStringUTFChars(env, name, n);
}
