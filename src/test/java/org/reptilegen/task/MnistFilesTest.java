package org.reptilegen.task;

import static org.junit.jupiter.api.Assertions.*;

import com.sun.net.httpserver.HttpServer;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.reptilegen.core.PixelOrder;

class MnistFilesTest {

    @Test
    void findsPlainOrGzippedFiles(@TempDir Path dir) throws IOException {
        assertNull(MnistFiles.find(dir, MnistFiles.TRAIN_IMAGES));
        Path gz = IdxFiles.write(dir, MnistFiles.TRAIN_IMAGES + ".gz", new byte[] {1});
        assertEquals(gz, MnistFiles.images(dir, Split.TRAIN, false));
        Path plain = IdxFiles.write(dir, MnistFiles.TRAIN_IMAGES, new byte[] {1});
        assertEquals(plain, MnistFiles.find(dir, MnistFiles.TRAIN_IMAGES));
    }

    @Test
    void missingFilesMessageNamesFilesDirectoryAndSources(@TempDir Path dir) {
        Path data = dir.resolve("mnist");
        DataException e =
                assertThrows(DataException.class, () -> MnistTasks.load(data, Split.TEST, PixelOrder.RASTER, false));
        String m = e.getMessage();
        assertTrue(m.contains("t10k-images-idx3-ubyte.gz"), m);
        assertTrue(m.contains("train-images-idx3-ubyte.gz"), m);
        assertTrue(m.contains(data.toAbsolutePath().toString()), m);
        assertTrue(m.contains("https://ossci-datasets.s3.amazonaws.com/mnist/"), m);
        assertTrue(m.contains("switched off"), m);
        assertFalse(m.contains("\n"));
        assertFalse(Files.exists(data), "nothing is created when downloading is off");

        DataException f = assertThrows(
                DataException.class,
                () -> MnistFiles.images(data, Split.TRAIN, MnistFiles.Dataset.FASHION_MNIST, false, s -> {}));
        assertTrue(f.getMessage().startsWith("Fashion-MNIST train images not found"), f.getMessage());
    }

    @Test
    void digestsAreThoseOfSha256() {
        assertEquals(
                "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", MnistFiles.sha256(new byte[0]));
        for (MnistFiles.Dataset d : MnistFiles.Dataset.values()) {
            assertEquals(4, d.sha256.size());
            for (String s : d.sha256.values()) assertTrue(s.matches("[0-9a-f]{64}"), s);
        }
    }

    /** A server on the loopback interface only; nothing leaves the machine. */
    private static HttpServer serve(Map<String, byte[]> files) throws IOException {
        HttpServer server = HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 0);
        server.createContext("/", exchange -> {
            byte[] body = files.get(exchange.getRequestURI().getPath());
            if (body == null) {
                exchange.sendResponseHeaders(404, -1);
            } else {
                exchange.sendResponseHeaders(200, body.length);
                try (OutputStream out = exchange.getResponseBody()) {
                    out.write(body);
                }
            }
            exchange.close();
        });
        server.start();
        return server;
    }

    private static String base(HttpServer server, String path) {
        return "http://" + server.getAddress().getHostString() + ":"
                + server.getAddress().getPort() + path;
    }

    @Test
    void downloadVerifiesDigestsAndFallsBackToTheNextMirror(@TempDir Path dir) throws IOException {
        byte[] a = "first file".getBytes(), b = "second file".getBytes();
        HttpServer server = serve(Map.of("/good/a.gz", a, "/good/b.gz", b, "/bad/a.gz", "tampered".getBytes()));
        try {
            Path data = dir.resolve("data");
            List<String> log = new ArrayList<>();
            MnistFiles.download(
                    data,
                    List.of(base(server, "/bad/"), base(server, "/good/")),
                    Map.of("a.gz", MnistFiles.sha256(a), "b.gz", MnistFiles.sha256(b)),
                    log::add);
            assertArrayEquals(a, Files.readAllBytes(data.resolve("a.gz")));
            assertArrayEquals(b, Files.readAllBytes(data.resolve("b.gz")));
            try (Stream<Path> s = Files.list(data)) {
                assertEquals(2, s.count(), "no temporary files are left behind");
            }
            assertEquals(4, log.size());
        } finally {
            server.stop(0);
        }
    }

    @Test
    void downloadWithWrongDigestFailsAndLeavesNothing(@TempDir Path dir) throws IOException {
        HttpServer server = serve(Map.of("/m/a.gz", "payload".getBytes()));
        try {
            String wrong = "0".repeat(64);
            DataException e = assertThrows(
                    DataException.class,
                    () -> MnistFiles.download(
                            dir,
                            List.of(base(server, "/m/"), base(server, "/missing/")),
                            Map.of("a.gz", wrong),
                            s -> {}));
            String m = e.getMessage();
            assertTrue(m.contains("a.gz"), m);
            assertTrue(m.contains("SHA-256"), m);
            assertTrue(m.contains("HTTP 404"), m);
            try (Stream<Path> s = Files.list(dir)) {
                assertEquals(0, s.count());
            }
        } finally {
            server.stop(0);
        }
    }

    @Test
    void downloadSkipsFilesAlreadyPresent(@TempDir Path dir) throws IOException {
        IdxFiles.write(dir, "a", new byte[] {1, 2, 3});
        // No server: a present file must not cause any request.
        MnistFiles.download(
                dir,
                List.of("http://127.0.0.1:9/"),
                Map.of("a.gz", "0".repeat(64)),
                s -> fail("no download expected: " + s));
    }
}
