package org.reptilegen.util;

import java.util.List;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Future;

/** Waiting for the tasks a pool of worker threads runs. */
public final class Futures {
    private Futures() {}

    /**
     * Waits for every future in order; a task's exception or error is thrown as it was (a checked one
     * wrapped), and an interrupted wait restores the thread's flag and ends with an IllegalStateException.
     */
    public static void awaitAll(List<? extends Future<?>> futures) {
        for (Future<?> f : futures) {
            try {
                f.get();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IllegalStateException("interrupted", e);
            } catch (ExecutionException e) {
                Throwable cause = e.getCause();
                if (cause instanceof RuntimeException r) throw r;
                if (cause instanceof Error err) throw err;
                throw new IllegalStateException(cause);
            }
        }
    }
}
