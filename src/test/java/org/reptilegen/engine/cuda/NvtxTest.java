package org.reptilegen.engine.cuda;

import static org.junit.jupiter.api.Assertions.assertDoesNotThrow;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.net.URL;
import java.net.URLClassLoader;
import org.junit.jupiter.api.Test;

/** NVTX ranges without a GPU: with no profiler attached NVTX itself does nothing, so only the shim is exercised. */
class NvtxTest {

    @Test
    void withTheLibraryNestedRangesPushAndPop() {
        String resource = Nvtx.resource();
        assumeTrue(
                resource != null && Nvtx.class.getResource(resource) != null,
                "the classes have no NVTX library (built without a C compiler or the NVTX headers, or not on Linux)");
        assertTrue(Nvtx.available(), Nvtx.reason());
        assertNull(Nvtx.reason());
        assertDoesNotThrow(() -> {
            try (var a = Nvtx.range("meta-step")) {
                try (var b = Nvtx.range("inner loops")) {
                    try (var c = Nvtx.range("MAML reverse sweep")) {
                        for (int i = 0; i < 1000; i++)
                            Nvtx.range("segment " + i).close();
                    }
                }
            }
        });
    }

    @Test
    void namesNeedNotBeAsciiShortOrPresent() {
        assertDoesNotThrow(() -> {
            for (String name :
                    new String[] {"étape intérieure", "内循环", "Schritt \uD83D\uDE80", "", null, "x".repeat(5000)})
                try (var r = Nvtx.range(name)) {
                    Nvtx.range("inside").close();
                }
        });
    }

    @Test
    void withoutTheLibraryRangesAreNoOpsAndSayWhy() throws Exception {
        URL classes = Nvtx.class.getProtectionDomain().getCodeSource().getLocation();
        try (URLClassLoader hidden = new URLClassLoader(new URL[] {classes}, ClassLoader.getPlatformClassLoader()) {
            @Override
            public URL findResource(String name) {
                return name.startsWith("native/") ? null : super.findResource(name);
            }
        }) {
            Class<?> nvtx = Class.forName(Nvtx.class.getName(), true, hidden);
            assertFalse((boolean) nvtx.getMethod("available").invoke(null));
            String reason = (String) nvtx.getMethod("reason").invoke(null);
            assertNotNull(reason);
            assertFalse(reason.contains("\n"), reason);
            if (Nvtx.resource() != null) assertTrue(reason.contains(Nvtx.LIBRARY), reason);
            for (int i = 0; i < 3; i++) {
                AutoCloseable r =
                        (AutoCloseable) nvtx.getMethod("range", String.class).invoke(null, "inner loops");
                assertDoesNotThrow(r::close);
            }
        }
    }
}
