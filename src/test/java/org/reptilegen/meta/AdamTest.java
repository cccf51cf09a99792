package org.reptilegen.meta;

import static org.junit.jupiter.api.Assertions.assertEquals;

import org.junit.jupiter.api.Test;
import org.reptilegen.core.Adam;

class AdamTest {
    @Test
    void twoStepsMatchTheHandComputedUpdate() {
        Adam adam = new Adam(0.1, 0.9, 0.999, 1e-8);
        double[] theta = {1.0}, m = {0}, v = {0};
        adam.step(theta, new double[] {0.5}, m, v, 1, false);
        // m = 0.05, v = 0.00025; m_hat = 0.5, v_hat = 0.25; step = 0.1 * 0.5 / (0.5 + 1e-8)
        assertEquals(0.05, m[0], 1e-15);
        assertEquals(0.00025, v[0], 1e-15);
        assertEquals(1.0 - 0.1 * 0.5 / (0.5 + 1e-8), theta[0], 1e-15);

        adam.step(theta, new double[] {-1.0}, m, v, 2, false);
        double m2 = 0.9 * 0.05 - 0.1, v2 = 0.999 * 0.00025 + 0.001;
        double mhat = m2 / (1 - 0.81), vhat = v2 / (1 - 0.999 * 0.999);
        assertEquals(m2, m[0], 1e-15);
        assertEquals(v2, v[0], 1e-15);
        assertEquals(1.0 - 0.1 * 0.5 / (0.5 + 1e-8) - 0.1 * mhat / (Math.sqrt(vhat) + 1e-8), theta[0], 1e-12);
    }
}
