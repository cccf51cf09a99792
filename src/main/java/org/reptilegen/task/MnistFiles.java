package org.reptilegen.task;

import java.io.IOException;
import java.io.InputStream;
import java.net.ConnectException;
import java.net.ProxySelector;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.net.http.HttpTimeoutException;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Consumer;
import org.reptilegen.util.IoErrors;

/**
 * Where the MNIST-format files of a data directory are, and how to fetch them when they are not.
 *
 * <p>A directory holds the four standard files, gzipped ({@code name.gz}) or unpacked
 * ({@code name}); only the image files are needed for tasks. MNIST and Fashion-MNIST use the same
 * names, so a directory of either works the same; the {@link Dataset} only decides what a
 * download fetches. Downloads are checked against the SHA-256 digests published with the
 * TensorFlow Datasets catalogue and written through a temporary file renamed into place, so a
 * file under the final name is always complete.
 */
public final class MnistFiles {

    public static final String TRAIN_IMAGES = "train-images-idx3-ubyte";
    public static final String TRAIN_LABELS = "train-labels-idx1-ubyte";
    public static final String TEST_IMAGES = "t10k-images-idx3-ubyte";
    public static final String TEST_LABELS = "t10k-labels-idx1-ubyte";

    private static final Duration CONNECT_TIMEOUT = Duration.ofSeconds(10);
    private static final Duration REQUEST_TIMEOUT = Duration.ofSeconds(30);

    /** A data set in MNIST's format: where to download it and the digests of its .gz files. */
    public enum Dataset {
        MNIST(
                "MNIST",
                List.of(
                        "https://ossci-datasets.s3.amazonaws.com/mnist/",
                        "https://storage.googleapis.com/cvdf-datasets/mnist/"),
                "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
                "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
                "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
                "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6"),
        FASHION_MNIST(
                "Fashion-MNIST",
                List.of("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"),
                "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84",
                "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845",
                "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073",
                "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5");

        public final String title;
        /** Base URLs tried in order; each serves the four .gz files. */
        public final List<String> mirrors;
        /** File name (with .gz) to its SHA-256, in download order. */
        public final Map<String, String> sha256;

        Dataset(
                String title,
                List<String> mirrors,
                String trainImages,
                String trainLabels,
                String testImages,
                String testLabels) {
            this.title = title;
            this.mirrors = mirrors;
            Map<String, String> m = new LinkedHashMap<>();
            m.put(TRAIN_IMAGES + ".gz", trainImages);
            m.put(TRAIN_LABELS + ".gz", trainLabels);
            m.put(TEST_IMAGES + ".gz", testImages);
            m.put(TEST_LABELS + ".gz", testLabels);
            this.sha256 = Collections.unmodifiableMap(m);
        }

        public static Dataset parse(String s) {
            if (s == null) throw new DataException("data set is missing: use mnist or fashion-mnist");
            return switch (s) {
                case "mnist" -> MNIST;
                case "fashion-mnist", "fashion" -> FASHION_MNIST;
                default -> throw new DataException("unknown data set '" + s + "': use mnist or fashion-mnist");
            };
        }
    }

    private MnistFiles() {}

    /** The image file's name for a split, without .gz. */
    public static String imagesName(Split split) {
        return split == Split.TRAIN ? TRAIN_IMAGES : TEST_IMAGES;
    }

    /**
     * dir/name if present, else dir/name.gz if present, else null; either name taken by something that
     * is not a file (a directory, a device, a pipe) is an error naming it.
     */
    public static Path find(Path dir, String name) {
        for (Path p : new Path[] {dir.resolve(name), dir.resolve(name + ".gz")}) {
            if (Files.isRegularFile(p)) return p;
            if (Files.exists(p))
                throw new DataException(
                        p + " is " + (Files.isDirectory(p) ? "a directory" : "not a regular file (a device or a pipe)")
                                + ", not an IDX file");
        }
        return null;
    }

    /** The MNIST image file of a split in dir, downloaded first if absent and download is true. */
    public static Path images(Path dir, Split split, boolean download) {
        return images(dir, split, Dataset.MNIST, download, System.err::println);
    }

    /**
     * The image file of a split in dir. When it is absent and {@code download} is true, the
     * data set's missing files are fetched into dir (progress goes to {@code log}); when that is
     * off or fails, the DataException says which files to put where and where to get them.
     */
    public static Path images(Path dir, Split split, Dataset dataset, boolean download, Consumer<String> log) {
        String name = imagesName(split);
        Path found = find(dir, name);
        if (found != null) return found;
        if (!download) throw new DataException(missingMessage(dir, split, dataset, "downloading is switched off"));
        // The file asked for first, so that it is there even if a later one fails.
        Map<String, String> files = new LinkedHashMap<>();
        files.put(name + ".gz", dataset.sha256.get(name + ".gz"));
        files.putAll(dataset.sha256);
        try {
            download(dir, dataset.mirrors, files, log);
        } catch (DataException e) {
            throw new DataException(missingMessage(dir, split, dataset, e.getMessage()), e);
        }
        found = find(dir, name);
        if (found == null)
            throw new DataException(missingMessage(dir, split, dataset, "the download did not produce it"));
        return found;
    }

    /** What to do when a split's images are missing, as one line. */
    public static String missingMessage(Path dir, Split split, Dataset dataset, String why) {
        String need = imagesName(split) + ".gz";
        String other = imagesName(split == Split.TRAIN ? Split.TEST : Split.TRAIN) + ".gz";
        return dataset.title + " " + split.configName() + " images not found: put " + need + " in "
                + dir.toAbsolutePath() + " (and " + other + " for the " + (split == Split.TRAIN ? "test" : "training")
                + " split; unpacked copies without .gz work too); get them from "
                + String.join(" or ", dataset.mirrors) + " (" + why + ")";
    }

    /**
     * Fetches every file of {@code sha256} that dir lacks (in either form), trying the mirrors in
     * order for each. Throws a DataException naming the file and each mirror's failure when none
     * delivers a file with the expected digest.
     */
    static void download(Path dir, List<String> mirrors, Map<String, String> sha256, Consumer<String> log) {
        try {
            Files.createDirectories(dir);
        } catch (IOException e) {
            throw new DataException("cannot create directory " + dir + ": " + IoErrors.why(e), e);
        }
        HttpClient.Builder builder =
                HttpClient.newBuilder().connectTimeout(CONNECT_TIMEOUT).followRedirects(HttpClient.Redirect.NORMAL);
        // Honour -Dhttps.proxyHost and friends, for machines that reach the web only via a proxy.
        if (ProxySelector.getDefault() != null) builder.proxy(ProxySelector.getDefault());
        HttpClient client = builder.build();
        for (Map.Entry<String, String> file : sha256.entrySet()) {
            String gzName = file.getKey();
            String plainName = gzName.endsWith(".gz") ? gzName.substring(0, gzName.length() - 3) : gzName;
            if (find(dir, plainName) != null) continue;
            List<String> failures = new ArrayList<>();
            boolean done = false;
            for (String mirror : mirrors) {
                String url = mirror + gzName;
                log.accept("downloading " + url);
                String failure = fetch(client, url, dir, gzName, file.getValue());
                if (failure == null) {
                    done = true;
                    break;
                }
                failures.add(url + ": " + failure);
            }
            if (!done) throw new DataException("download of " + gzName + " failed: " + String.join("; ", failures));
        }
    }

    /** Downloads url to dir/name if its SHA-256 matches; returns null on success, else why not. */
    private static String fetch(HttpClient client, String url, Path dir, String name, String expectedSha256) {
        Path tmp = null;
        try {
            tmp = Files.createTempFile(dir, name + ".", ".part");
            HttpRequest request = HttpRequest.newBuilder(URI.create(url))
                    .timeout(REQUEST_TIMEOUT)
                    .GET()
                    .build();
            HttpResponse<Path> response = client.send(request, HttpResponse.BodyHandlers.ofFile(tmp));
            if (response.statusCode() != 200) return "HTTP " + response.statusCode();
            String actual = sha256(tmp);
            if (!actual.equalsIgnoreCase(expectedSha256))
                return "SHA-256 is " + actual + ", expected " + expectedSha256;
            Path target = dir.resolve(name);
            try {
                Files.move(tmp, target, StandardCopyOption.ATOMIC_MOVE);
            } catch (AtomicMoveNotSupportedException e) {
                Files.move(tmp, target, StandardCopyOption.REPLACE_EXISTING);
            }
            tmp = null;
            return null;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return "interrupted";
        } catch (HttpTimeoutException e) {
            return "timed out";
        } catch (ConnectException e) {
            return "cannot connect" + (e.getMessage() == null ? "" : " (" + e.getMessage() + ")");
        } catch (IOException | IllegalArgumentException e) {
            String msg = e.getMessage();
            return e.getClass().getSimpleName() + (msg == null ? "" : " " + msg);
        } finally {
            if (tmp != null) {
                try {
                    Files.deleteIfExists(tmp);
                } catch (IOException ignored) {
                    // A leftover .part file is harmless: it is never read as data.
                }
            }
        }
    }

    /** A file's SHA-256 as lowercase hex. */
    public static String sha256(Path file) throws IOException {
        MessageDigest md = sha256Digest();
        try (InputStream in = Files.newInputStream(file)) {
            byte[] buf = new byte[1 << 16];
            int n;
            while ((n = in.read(buf)) > 0) md.update(buf, 0, n);
        }
        return HexFormat.of().formatHex(md.digest());
    }

    static String sha256(byte[] data) {
        return HexFormat.of().formatHex(sha256Digest().digest(data));
    }

    private static MessageDigest sha256Digest() {
        try {
            return MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("every Java runtime has SHA-256", e);
        }
    }
}
