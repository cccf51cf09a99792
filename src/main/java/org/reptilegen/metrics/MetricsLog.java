package org.reptilegen.metrics;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.json.JsonReadFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.json.JsonMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.BufferedWriter;
import java.io.Closeable;
import java.io.IOException;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.function.Consumer;
import org.reptilegen.util.AtomicFiles;
import org.reptilegen.util.BoundedRead;
import org.reptilegen.util.Bytes;
import org.reptilegen.util.IoErrors;

/**
 * A run's metrics.jsonl: one JSON object per line, written here, read here, cut back here.
 *
 * <p>A meta-step's line: {@code step}, {@code loss} (mean prequential NLL of its batch, nats per task),
 * {@code bits_per_dim}, {@code task_steps_per_s}, {@code seconds} (since the run's start). A held-out
 * evaluation's line: {@code step}, {@code eval_tasks}, {@code eval_nll}, {@code eval_bits_per_dim}.
 * Lines are appended one at a time, so a reader may find the last one cut off while a run writes it.
 */
public final class MetricsLog implements Closeable {
    /** The file's name in a run directory. */
    public static final String FILE = "metrics.jsonl";

    private static final ObjectMapper JSON = JsonMapper.builder()
            .enable(JsonReadFeature.ALLOW_NON_NUMERIC_NUMBERS)
            .build();

    private final Path file;
    private final Consumer<String> note;
    private BufferedWriter writer;

    private MetricsLog(Path file, Consumer<String> note) throws IOException {
        this.file = file;
        this.note = note;
        writer = open();
    }

    /**
     * Appends to file (made when absent). A write that fails (a full disk) names the file; a file deleted
     * during the run is noticed, said once through note, and started again.
     */
    public static MetricsLog append(Path file, Consumer<String> note) throws IOException {
        return new MetricsLog(file, note);
    }

    private BufferedWriter open() throws IOException {
        return Files.newBufferedWriter(
                file, StandardCharsets.UTF_8, StandardOpenOption.CREATE, StandardOpenOption.APPEND);
    }

    /** A meta-step's line. */
    public void step(long step, double loss, double bitsPerDim, double taskStepsPerSecond, double seconds)
            throws IOException {
        ObjectNode line = JSON.createObjectNode();
        line.put("step", step);
        line.put("loss", loss);
        line.put("bits_per_dim", bitsPerDim);
        line.put("task_steps_per_s", taskStepsPerSecond);
        line.put("seconds", seconds);
        write(line);
    }

    /** A held-out evaluation's line. */
    public void evaluation(long step, int tasks, double nll, double bitsPerDim) throws IOException {
        ObjectNode line = JSON.createObjectNode();
        line.put("step", step);
        line.put("eval_tasks", tasks);
        line.put("eval_nll", nll);
        line.put("eval_bits_per_dim", bitsPerDim);
        write(line);
    }

    private void write(ObjectNode line) throws IOException {
        try {
            if (!Files.exists(file)) {
                writer.close();
                writer = open();
                note.accept("note: " + file + " was deleted during the run; it goes on from here");
            }
            writer.write(JSON.writeValueAsString(line));
            writer.newLine();
            writer.flush();
        } catch (IOException e) {
            throw new IOException("cannot append to " + file + ": " + IoErrors.why(e), e);
        }
    }

    @Override
    public void close() throws IOException {
        writer.close();
    }

    /**
     * Cuts the file back to what a run resumed at meta-step step has done, so that it reads as one run:
     * the meta-steps up to step, without an evaluation at step (the resumed run evaluates again) and
     * without a line cut off by a crash. Step 0 removes the file. Rewritten atomically.
     */
    public static void keepUpTo(Path file, long step) throws IOException {
        if (!Files.exists(file)) return;
        if (step == 0) {
            Files.delete(file);
            return;
        }
        List<String> kept = new ArrayList<>();
        for (String line : text(file).split("\n")) {
            try {
                JsonNode n = JSON.readTree(line);
                long at = n == null ? Long.MAX_VALUE : n.path("step").asLong(Long.MAX_VALUE);
                if (at < step || (at == step && n.has("loss"))) kept.add(line);
            } catch (JsonProcessingException e) {
                // a line cut off by a crash: dropped
            }
        }
        AtomicFiles.write(file, tmp -> Files.write(tmp, kept, StandardCharsets.UTF_8));
    }

    /** The meta-steps' losses of a metrics file, sorted by step. */
    public record Series(double[] steps, double[] losses) {
        public int size() {
            return steps.length;
        }
    }

    /**
     * Reads the (step, loss) points. Non-finite losses (a diverged step logged as NaN) are left out; when
     * a step appears twice the later line wins. An unparsable line is an error, except a last line
     * without its line break: that is a line still being written by a running trainer.
     */
    public static Series read(Path file) {
        String text;
        try {
            text = text(file);
        } catch (IOException e) {
            throw new MetricsException("cannot read " + file + ": " + IoErrors.why(e), e);
        }
        String[] lines = text.split("\n", -1);
        boolean lastComplete = text.endsWith("\n");
        TreeMap<Double, Double> points = new TreeMap<>();
        for (int i = 0; i < lines.length; i++) {
            String line = lines[i].strip();
            if (line.isEmpty()) continue;
            JsonNode node;
            try {
                node = JSON.readTree(line);
            } catch (JsonProcessingException e) {
                if (i == lines.length - 1 && !lastComplete) break;
                throw new MetricsException(file + " line " + (i + 1) + ": not a JSON object ("
                        + IoErrors.oneLine(e.getOriginalMessage()) + ")");
            }
            if (node == null || !node.isObject()) continue;
            JsonNode step = node.get("step"), loss = node.get("loss");
            if (step == null || loss == null || !step.isNumber() || !loss.isNumber()) continue;
            double x = step.doubleValue(), y = loss.doubleValue();
            if (!Double.isFinite(x) || !Double.isFinite(y)) continue;
            points.put(x, y);
        }
        if (points.isEmpty())
            throw new MetricsException(file + ": no data points (no line has a numeric \"step\" and \"loss\")");
        double[] xs = new double[points.size()], ys = new double[points.size()];
        int k = 0;
        for (Map.Entry<Double, Double> e : points.entrySet()) {
            xs[k] = e.getKey();
            ys[k] = e.getValue();
            k++;
        }
        return new Series(xs, ys);
    }

    /** The file as UTF-8 text, bounded as every text input is. */
    private static String text(Path file) throws IOException {
        byte[] bytes = BoundedRead.read(
                file,
                BoundedRead.TEXT,
                () -> new MetricsException(
                        file + " is larger than " + Bytes.show(BoundedRead.TEXT) + ", more than a run's metrics"));
        try {
            return StandardCharsets.UTF_8
                    .newDecoder()
                    .decode(java.nio.ByteBuffer.wrap(bytes))
                    .toString();
        } catch (CharacterCodingException e) {
            throw new MetricsException(file + ": not UTF-8 text");
        }
    }
}
