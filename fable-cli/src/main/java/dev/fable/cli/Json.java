package dev.fable.cli;

import tools.jackson.core.JsonGenerator;
import tools.jackson.core.json.JsonFactory;

import java.io.StringWriter;
import java.util.List;
import java.util.function.BiConsumer;

/** The {@code --json} output: one JSON array with an object per item, written by Jackson's streaming generator. */
final class Json {
    private Json() {}

    private static final JsonFactory FACTORY = new JsonFactory();

    /** The items as a JSON array; {@code properties} writes one item's properties into its object. */
    static <T> String array(List<T> items, BiConsumer<JsonGenerator, T> properties) {
        StringWriter out = new StringWriter();
        try (JsonGenerator g = FACTORY.createGenerator(out)) {
            g.writeStartArray();
            for (T item : items) {
                g.writeStartObject();
                properties.accept(g, item);
                g.writeEndObject();
            }
            g.writeEndArray();
        }
        return out.toString();
    }
}
