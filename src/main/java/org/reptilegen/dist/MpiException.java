package org.reptilegen.dist;

/** An MPI call that failed, with MPI's own description of the error; or MPI support that is missing. */
public final class MpiException extends RuntimeException {
    public MpiException(String message) {
        super(message);
    }
}
