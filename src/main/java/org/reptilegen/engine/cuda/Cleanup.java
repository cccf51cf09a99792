package org.reptilegen.engine.cuda;

/**
 * Releases device resources best effort: every step runs even when an earlier one fails (after a device
 * fault every call may fail), and the first failure is the one reported, the later ones suppressed in it.
 */
final class Cleanup {
    private RuntimeException first;

    /** Runs one release step, keeping its failure if it is the first. */
    void run(Runnable step) {
        try {
            step.run();
        } catch (RuntimeException e) {
            if (first == null) first = e;
            else if (first != e) first.addSuppressed(e);
        }
    }

    boolean failed() {
        return first != null;
    }

    /** Throws the first failure, a CUDA error as a DeviceException saying what was being done. */
    void rethrow(String doing) {
        if (first == null) return;
        if (first instanceof jcuda.CudaException) {
            DeviceException d = new DeviceException("CUDA error while " + doing + ": " + first.getMessage());
            for (Throwable s : first.getSuppressed()) d.addSuppressed(s);
            throw d;
        }
        throw first;
    }
}
