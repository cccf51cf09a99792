package org.reptilegen.dist;

import org.reptilegen.util.JarLibraries;

/**
 * The MPI calls the trainer needs, through a small JNI library over the MPI C API
 * ({@code native/mpi/mpi.c}), compiled by the build with the machine's mpicc and shipped in the jar as
 * {@code native/OS-ARCH/libreptilegen-mpi.so}. It links against the MPI library it was compiled with
 * (Open MPI, MPICH or a vendor's), found at run time as any MPI program finds it. Every call is made by
 * one thread at a time; all of them are collective over MPI_COMM_WORLD unless said otherwise.
 */
final class Mpi {
    static final String LIBRARY = "libreptilegen-mpi.so";

    private Mpi() {}

    private static final class Loaded {
        static final String REASON = load();
    }

    /** Null when the library is loaded; else one line saying why MPI cannot be used. */
    static String unavailableReason() {
        return Loaded.REASON;
    }

    /** The jar resource for this platform, or null where none is built. */
    static String resource() {
        return JarLibraries.resource(LIBRARY);
    }

    static final String HOW =
            "install an MPI with its compiler wrapper mpicc (e.g. apt-get install openmpi-bin libopenmpi-dev, "
                    + "or the cluster's MPI module) and rebuild with mvn package";

    private static String load() {
        String resource = resource();
        if (resource == null) return "MPI support is built for Linux only, this is " + System.getProperty("os.name");
        try {
            if (!JarLibraries.load(resource, "reptilegen-mpi"))
                return "MPI support was not built (the jar has no " + resource.substring(1) + "): " + HOW;
            return null;
        } catch (Exception | LinkageError e) {
            return "the MPI library could not be loaded (" + e.getMessage()
                    + "): the MPI the jar was built with must be "
                    + "installed here (LD_LIBRARY_PATH, or the cluster's MPI module), or " + HOW;
        }
    }

    /** MPI_Init_thread (serialized), and the node-local communicator; returns the thread level MPI provides. */
    static native int init();

    static native int rank();

    static native int size();

    /** The rank among this node's processes. */
    static native int localRank();

    static native int localSize();

    static native String processorName();

    /** The first line of MPI_Get_library_version. Not collective. */
    static native String libraryVersion();

    /** a := the sum of every rank's a, added in rank order: the same bits on every rank and in every run. */
    static native void sumDoubles(double[] a);

    /** As sumDoubles; added in double, rounded to float once. */
    static native void sumFloats(float[] a);

    /** all := every rank's mine in rank order; counts[j] is rank j's length. */
    static native void gatherDoubles(double[] mine, double[] all, int[] counts);

    static native void broadcastDoubles(double[] a, int root);

    static native void broadcastLongs(long[] a, int root);

    /** The largest of every rank's v. */
    static native long max(long v);

    static native void barrier();

    /** MPI_Abort on MPI_COMM_WORLD: ends every rank; does not return. Not collective. */
    static native void abort(int code);

    static native void finish();

    /** Sets a variable of the process's C environment (which System.getenv does not see). Not collective. */
    static native void setenv(String name, String value);
}
