package dev.fable.cli;

import org.junit.jupiter.api.Test;
import tools.jackson.core.JsonParser;
import tools.jackson.core.JsonToken;
import tools.jackson.core.json.JsonFactory;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.fail;

/** The {@code --json} writer, read back with Jackson's streaming parser. */
class JsonTest {
    /**
     * A {@code --json} output as a list of objects, property name to String, Long, Boolean or null, in their order;
     * fails unless it is exactly one JSON array of flat objects.
     */
    static List<Map<String, Object>> parse(String json) {
        List<Map<String, Object>> out = new ArrayList<>();
        try (JsonParser p = new JsonFactory().createParser(json)) {
            assertEquals(JsonToken.START_ARRAY, p.nextToken(), json);
            for (JsonToken t = p.nextToken(); t != JsonToken.END_ARRAY; t = p.nextToken()) {
                assertEquals(JsonToken.START_OBJECT, t, json);
                Map<String, Object> m = new LinkedHashMap<>();
                for (JsonToken n = p.nextToken(); n != JsonToken.END_OBJECT; n = p.nextToken()) {
                    assertEquals(JsonToken.PROPERTY_NAME, n, json);
                    String name = p.currentName();
                    Object v = switch (p.nextToken()) {
                        case VALUE_STRING -> p.getString();
                        case VALUE_NUMBER_INT -> p.getLongValue();
                        case VALUE_TRUE, VALUE_FALSE -> p.getBooleanValue();
                        case VALUE_NULL -> null;
                        default -> fail("unexpected " + p.currentToken() + " for " + name + " in " + json);
                    };
                    m.put(name, v);
                }
                out.add(m);
            }
            assertNull(p.nextToken(), "nothing after the array: " + json);
        }
        return out;
    }

    @Test
    void anArrayOfObjectsWithAnyText() {
        List<String> texts = List.of("plain", "quote \" backslash \\ slash /", "line\nbreak\ttab\r", "control \u0001\u001f", "µs ünïcode ✓ 𝄞", "");
        String json = Json.array(texts, (g, s) -> g.writeStringProperty("text", s).writeNumberProperty("length", s.length())
                .writeBooleanProperty("empty", s.isEmpty()).writeStringProperty("none", null));
        List<Map<String, Object>> back = parse(json);
        assertEquals(texts.size(), back.size());
        for (int i = 0; i < texts.size(); i++) {
            Map<String, Object> expected = new HashMap<>(Map.of("text", texts.get(i), "length", (long) texts.get(i).length(), "empty", texts.get(i).isEmpty()));
            expected.put("none", null);
            assertEquals(expected, back.get(i));
            assertEquals(List.of("text", "length", "empty", "none"), List.copyOf(back.get(i).keySet()), "properties in the order written");
        }
        assertEquals(List.of(), parse(Json.array(List.of(), (g, s) -> fail("no items"))));
        assertEquals("[{\"n\":-9223372036854775808},{\"n\":9223372036854775807}]",
                Json.array(Arrays.asList(Long.MIN_VALUE, Long.MAX_VALUE), (g, n) -> g.writeNumberProperty("n", n)), "compact, numbers whole");
    }
}
