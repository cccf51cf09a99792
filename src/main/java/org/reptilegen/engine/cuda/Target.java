package org.reptilegen.engine.cuda;

import jcuda.driver.CUdeviceptr;

/**
 * What the launches of one step act on: the task parameters [B x P] they read (and a plain step
 * updates), where the step's losses go [B], and what the backward does with each gradient: an SGD
 * update, or for MAML's Hessian-vector step the adjoint update. Exactly one of update and adjoint is set.
 */
record Target(CUdeviceptr params, CUdeviceptr losses, Update update, Adjoint adjoint) {

    Target {
        if ((update == null) == (adjoint == null))
            throw new IllegalArgumentException("a step either updates or applies the adjoint");
    }

    /** An SGD step of the parameters at params, its losses added to losses. */
    static Target step(CUdeviceptr params, CUdeviceptr losses, Update update) {
        return new Target(params, losses, update, null);
    }

    /** A Hessian-vector step at params that leaves them alone and applies the adjoint update. */
    static Target adjoint(CUdeviceptr params, CUdeviceptr losses, Adjoint adjoint) {
        return new Target(params, losses, null, adjoint);
    }

    /**
     * What a fused backward does with a gradient: p += scale * grad, and acc += grad when accOn is 1
     * (FOMAML's sums; with learned rates scale is 0 and acc the step's gradient sums).
     */
    record Update(float scale, CUdeviceptr acc, int accOn) {
        <B extends Launch.Builder<B>> B on(B b) {
            return b.set("scale", scale).set("acc", acc).set("accOn", accOn);
        }
    }

    /**
     * Where a backward tangent applies the adjoint update lambda = g + lambda - alpha H v: lambda, and the
     * learned rates' gradient rows lrGrad when lrGradOn is 1 (otherwise lrGrad is lambda, never written, and alpha the
     * fixed rate).
     */
    record Adjoint(CUdeviceptr lambda, CUdeviceptr lrGrad, int lrGradOn, double alpha) {
        <B extends Launch.Builder<B>> B on(B b) {
            return b.set("lambda", lambda)
                    .set("lrGrad", lrGrad)
                    .set("lrGradOn", lrGradOn)
                    .set("alpha", alpha);
        }
    }
}
