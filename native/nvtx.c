/* JCuda has no NVTX binding, and Nsight Systems and Nsight Compute group the engine's kernels by these named ranges. */
#include <jni.h>
#include <stdlib.h>
#include <nvtx3/nvToolsExt.h>

/* Names arrive as NUL-terminated UTF-8 bytes: JNI's own string encoding is modified UTF-8, which
   Nsight would show wrongly for characters outside the BMP. */
JNIEXPORT void JNICALL Java_org_reptilegen_engine_cuda_Nvtx_push(JNIEnv *env, jclass cls, jbyteArray name) {
    char small[128];
    jsize n = (*env)->GetArrayLength(env, name);
    char *buf = n <= (jsize) sizeof small ? small : malloc((size_t) n);
    (void) cls;
    if (n < 1 || buf == NULL) {
        /* Still push, so that the caller's pop stays balanced. */
        nvtxRangePushA("");
        return;
    }
    (*env)->GetByteArrayRegion(env, name, 0, n, (jbyte *) buf);
    buf[n - 1] = '\0';
    nvtxRangePushA(buf);
    if (buf != small) free(buf);
}

JNIEXPORT void JNICALL Java_org_reptilegen_engine_cuda_Nvtx_pop(JNIEnv *env, jclass cls) {
    (void) env;
    (void) cls;
    nvtxRangePop();
}

/* Called once after loading, so a library whose symbols do not match fails there and not mid-run. */
JNIEXPORT jint JNICALL Java_org_reptilegen_engine_cuda_Nvtx_version(JNIEnv *env, jclass cls) {
    (void) env;
    (void) cls;
    return NVTX_VERSION;
}
