package org.reptilegen.task;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.BufferedReader;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.reptilegen.core.TaskBatch;
import org.reptilegen.model.ModelSpec;
import org.reptilegen.model.TaskKind;
import org.reptilegen.util.BoundedRead;
import org.reptilegen.util.Bytes;
import org.reptilegen.util.IoErrors;

/** Tasks given explicitly: one JSON object per line, {"x": [[ints], ...], "y": [...]}. */
public final class TaskFile {
    private static final ObjectMapper JSON = new ObjectMapper();

    private TaskFile() {}

    public static TaskBatch read(Path file, ModelSpec model) {
        TaskKind kind = model.task();
        List<int[][]> xs = new ArrayList<>();
        List<int[]> ys = new ArrayList<>();
        byte[] bytes;
        try {
            bytes = BoundedRead.read(
                    file,
                    BoundedRead.TEXT,
                    () -> new DataException(file + " is larger than " + Bytes.show(BoundedRead.TEXT)
                            + ", more than a tasks file for one meta-gradient holds"));
        } catch (NoSuchFileException e) {
            throw new DataException("tasks file not found: " + file);
        } catch (IOException e) {
            throw new DataException("cannot read tasks file " + file + ": " + IoErrors.why(e));
        }
        try (BufferedReader r = new BufferedReader(new java.io.InputStreamReader(
                new java.io.ByteArrayInputStream(bytes), StandardCharsets.UTF_8.newDecoder()))) {
            String line;
            int no = 0;
            while ((line = r.readLine()) != null) {
                no++;
                if (line.isBlank()) continue;
                String where = file + ":" + no;
                JsonNode n;
                try {
                    n = JSON.readTree(line);
                } catch (JsonProcessingException e) {
                    throw new DataException(where + ": not JSON (" + e.getOriginalMessage() + ")");
                }
                JsonNode x = n.get("x"), y = n.get("y");
                if (x == null || !x.isArray()) throw new DataException(where + ": missing array \"x\"");
                if (y == null || !y.isArray()) throw new DataException(where + ": missing array \"y\"");
                if (x.size() != y.size())
                    throw new DataException(where + ": \"x\" has " + x.size() + " entries but \"y\" has " + y.size());
                if (x.size() == 0) throw new DataException(where + ": a task needs at least one step");
                int[][] xb = new int[x.size()][];
                int[] yb = new int[y.size()];
                for (int t = 0; t < x.size(); t++) {
                    JsonNode xt = x.get(t);
                    if (!xt.isArray() || xt.size() != kind.inputDim)
                        throw new DataException(where + ": x[" + t + "] must be a list of " + kind.inputDim + " integer"
                                + (kind.inputDim > 1 ? "s" : "") + " for a " + kind.configName() + " model");
                    xb[t] = new int[kind.inputDim];
                    for (int j = 0; j < kind.inputDim; j++) {
                        if (!xt.get(j).canConvertToInt() || !xt.get(j).isIntegralNumber())
                            throw new DataException(where + ": x[" + t + "][" + j + "] is not an integer");
                        xb[t][j] = xt.get(j).intValue();
                    }
                    String bad = model.inputError(xb[t]);
                    if (bad != null) throw new DataException(where + ": x[" + t + "]: " + bad);
                    JsonNode yt = y.get(t);
                    if (!yt.isIntegralNumber() || yt.intValue() < 0 || yt.intValue() >= kind.classes())
                        throw new DataException(
                                where + ": y[" + t + "] = " + yt + " is not a class in 0.." + (kind.classes() - 1));
                    yb[t] = yt.intValue();
                }
                xs.add(xb);
                ys.add(yb);
            }
        } catch (java.nio.charset.CharacterCodingException e) {
            throw new DataException(file + ": not UTF-8 text");
        } catch (IOException e) {
            throw new DataException("cannot read tasks file " + file + ": " + IoErrors.why(e));
        }
        if (xs.isEmpty()) throw new DataException(file + ": no tasks");
        return new TaskBatch(kind, xs.toArray(new int[0][][]), ys.toArray(new int[0][]));
    }
}
