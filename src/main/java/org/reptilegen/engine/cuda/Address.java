package org.reptilegen.engine.cuda;

import jcuda.driver.CUdeviceptr;

/**
 * A device pointer whose address the engine can read: every allocation is one ({@link Device#alloc}), and
 * so is a pointer a library hands out into memory of ours (cuDNN's weight-space tensors), so the two can
 * be subtracted into an offset.
 */
final class Address extends CUdeviceptr {
    /** The device address, 0 for none. */
    long value() {
        return getNativePointer();
    }
}
