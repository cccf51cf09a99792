package org.reptilegen.engine.cuda;

import org.reptilegen.engine.EngineException;

/** A CUDA failure, said in one line: what was being done and what the driver answered. */
public final class DeviceException extends EngineException {
    public DeviceException(String message) {
        super(message);
    }
}
