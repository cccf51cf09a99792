package org.reptilegen.engine.cuda;

import jcuda.jcublas.JCublas2;
import jcuda.jcublas.cublasHandle;
import jcuda.jcudnn.JCudnn;
import jcuda.jcudnn.cudnnHandle;

/**
 * Run in a JVM of its own by {@link NvidiaLibrariesTest}, since a forwarding library binds once per process: loads
 * cuBLAS and cuDNN as the engine does (targets named by -Dreptilegen.cublas and -Dreptilegen.cudnn), then calls
 * what it can and prints one {@code key=value} line per result ("null" for none).
 *
 * <p>Arguments: a target to try binding each forwarding library to afterwards (a second, different library).
 */
final class NvidiaLibrariesProbe {
    private NvidiaLibrariesProbe() {}

    public static void main(String[] args) {
        String other = args.length > 0 ? args[0] : null;
        String cublas = NvidiaLibraries.cublasProblem();
        print("cublasProblem", cublas);
        print("cublasProblemAgain", NvidiaLibraries.cublasProblem());
        print("cublasDescription", NvidiaLibraries.cublasDescription());
        print("cublasCreate", call(() -> JCublas2.cublasCreate(new cublasHandle())));
        print(
                "cublasMissing",
                Integer.toString(NvidiaLibraries.missing(NvidiaLibraries.CUBLAS).size()));
        print("cublasSame", NvidiaLibraries.bind(NvidiaLibraries.CUBLAS, NvidiaLibraries.CUBLAS.target()));
        if (other != null) print("cublasOther", NvidiaLibraries.bind(NvidiaLibraries.CUBLAS, other));
        String cudnn = NvidiaLibraries.cudnnProblem();
        print("cudnnProblem", cudnn);
        print("cudnnDescription", NvidiaLibraries.cudnnDescription());
        print("cudnnCreate", call(() -> JCudnn.cudnnCreate(new cudnnHandle())));
        print(
                "cudnnMissing",
                Integer.toString(NvidiaLibraries.missing(NvidiaLibraries.CUDNN).size()));
        print("cudnnSame", NvidiaLibraries.bind(NvidiaLibraries.CUDNN, NvidiaLibraries.CUDNN.target()));
        if (other != null) print("cudnnOther", NvidiaLibraries.bind(NvidiaLibraries.CUDNN, other));
        try {
            NvidiaLibraries.checkCublas(NvidiaLibraries.CUBLAS_NOT_SUPPORTED, "cublasCreate");
        } catch (DeviceException e) {
            print("cublasCheck", e.getMessage());
        }
    }

    private static String call(java.util.function.IntSupplier f) {
        try {
            return Integer.toString(f.getAsInt());
        } catch (Throwable t) {
            return "threw " + t.getClass().getName();
        }
    }

    private static void print(String key, String value) {
        System.out.println(key + "=" + (value == null ? "null" : value.replace('\n', '|')));
    }
}
