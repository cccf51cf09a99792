package org.reptilegen.engine.cuda;

/** A CUDA failure, said in one line: what was being done and what the driver answered. */
public final class DeviceException extends RuntimeException {
    public DeviceException(String message) {
        super(message);
    }
}
