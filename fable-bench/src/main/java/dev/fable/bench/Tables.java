package dev.fable.bench;

import java.util.List;

/** Column-aligned text tables and Markdown tables for the report. */
final class Tables {
    private Tables() {}

    static String text(List<String> head, List<List<String>> lines) {
        int[] w = new int[head.size()];
        for (int i = 0; i < w.length; i++) {
            w[i] = head.get(i).length();
            for (List<String> l : lines) w[i] = Math.max(w[i], l.get(i).length());
        }
        StringBuilder sb = new StringBuilder();
        line(sb, head, w);
        for (List<String> l : lines) line(sb, l, w);
        return sb.toString();
    }

    private static void line(StringBuilder sb, List<String> cells, int[] w) {
        for (int i = 0; i < cells.size(); i++) {
            String c = cells.get(i);
            if (i == 0) sb.append(c).append(" ".repeat(w[i] - c.length()));
            else sb.append("  ").append(" ".repeat(w[i] - c.length())).append(c);
        }
        sb.append('\n');
    }

    static String markdown(List<String> head, List<List<String>> lines) {
        StringBuilder sb = new StringBuilder("| ").append(String.join(" | ", head)).append(" |\n|");
        for (int i = 0; i < head.size(); i++) sb.append(i == 0 ? "---|" : "---:|");
        sb.append('\n');
        for (List<String> l : lines) {
            sb.append("| ");
            for (int i = 0; i < l.size(); i++) {
                String c = l.get(i);
                sb.append(c.startsWith("*") ? "**" + c.substring(1) + "**" : c).append(i + 1 < l.size() ? " | " : " |\n");
            }
        }
        return sb.toString();
    }
}
