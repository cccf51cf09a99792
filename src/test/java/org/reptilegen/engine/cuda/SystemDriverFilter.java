package org.reptilegen.engine.cuda;

import org.junit.platform.engine.FilterResult;
import org.junit.platform.engine.TestDescriptor;
import org.junit.platform.engine.TestTag;
import org.junit.platform.launcher.PostDiscoveryFilter;

/**
 * The gpu tests' run on the system's CUDA driver (pom.xml: {@code -Dreptilegen.test.driver=system})
 * leaves them out, with one line saying why, where this machine cannot run the cuda engine: then the
 * run on the simulated driver is the one that tests them, and none shows as skipped for lack of a GPU.
 * Every other run is left as it is.
 */
public final class SystemDriverFilter implements PostDiscoveryFilter {
    static final String PROPERTY = "reptilegen.test.driver";
    private static final TestTag GPU = TestTag.create("gpu");
    private static boolean said;

    @Override
    public FilterResult apply(TestDescriptor d) {
        if (!"system".equals(System.getProperty(PROPERTY)) || !d.getTags().contains(GPU))
            return FilterResult.included("");
        String why = CudaEngine.unavailableReason();
        if (why == null) return FilterResult.included("the cuda engine runs on this machine's driver");
        synchronized (SystemDriverFilter.class) {
            if (!said) {
                System.out.println("gpu tests on the system's CUDA driver: not run here (" + why
                        + "); the run on the simulated driver tests them");
                said = true;
            }
        }
        return FilterResult.excluded(why);
    }
}
