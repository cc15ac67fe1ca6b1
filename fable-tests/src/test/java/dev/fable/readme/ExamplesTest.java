package dev.fable.readme;

import dev.fable.examples.Receiver;
import dev.fable.examples.Sender;
import dev.fable.examples.EchoServer;
import dev.fable.examples.EchoClient;
import dev.fable.examples.PollerLoop;
import dev.fable.examples.TickPublisher;
import dev.fable.examples.TickSubscriber;
import dev.fable.Fable;
import dev.fable.testing.Await;
import dev.fable.testing.Names;
import dev.fable.testing.PeerProcess;
import org.junit.jupiter.api.Test;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.*;

/**
 * The examples module's pairs run as separate processes, as a user would run them, and the README's
 * snippets are the tagged regions of those files, word for word: neither can rot alone.
 */
class ExamplesTest {
    private static final Duration LIMIT = Duration.ofSeconds(60);

    @Test
    void senderAndReceiverAsTwoProcesses() throws Exception {
        String name = Names.unique("example-ledger");
        try (PeerProcess receiver = PeerProcess.start(Receiver.class, name)) {
            awaitName(name);
            try (PeerProcess sender = PeerProcess.start(Sender.class, name)) {
                assertEquals("sent 1001 messages to '" + name + "'", sender.expectLine("sent", LIMIT));
            }
            assertEquals("received 1001 messages, " + (1000 * 8 + (1 << 20)) + " bytes", receiver.expectLine("received", LIMIT));
        }
    }

    @Test
    void requestResponseAsTwoProcesses() throws Exception {
        String name = Names.unique("example-echo");
        try (PeerProcess server = PeerProcess.start(EchoServer.class, name)) {
            awaitName(name);
            try (PeerProcess client = PeerProcess.start(EchoClient.class, name)) {
                assertEquals("100 requests answered by '" + name + "'", client.expectLine("100", LIMIT));
            }
        }
    }

    @Test
    void onePollerThreadServesThreeClientProcesses() throws Exception {
        String name = Names.unique("example-hub");
        try (PeerProcess hub = PeerProcess.start(PollerLoop.class, name, "3")) {
            awaitName(name);
            List<PeerProcess> clients = new ArrayList<>();
            try {
                for (int i = 0; i < 3; i++) clients.add(PeerProcess.start(PollerLoop.Client.class, name, "1000"));
                assertEquals("total " + 3 * 500_500L, hub.expectLine("total", LIMIT));
            } finally {
                for (PeerProcess c : clients) c.close();
            }
        }
    }

    @Test
    void onePublisherTwoSubscriberProcesses() throws Exception {
        String name = Names.unique("example-ticks");
        try (PeerProcess pub = PeerProcess.start(TickPublisher.class, name, "2", "100000")) {
            awaitName(name);
            try (PeerProcess a = PeerProcess.start(TickSubscriber.class, name);
                 PeerProcess b = PeerProcess.start(TickSubscriber.class, name)) {
                String want = "received 100000 ticks, sum " + 99_999L * 100_000 / 2 + ", lost 0";
                assertEquals(want, a.expectLine("received", LIMIT));
                assertEquals(want, b.expectLine("received", LIMIT));
            }
            assertEquals("published 100000 ticks to 2 subscribers", pub.expectLine("published", LIMIT));
        }
    }

    /** Every {@code // tag::x[]} … {@code // end::x[]} region of the examples appears in README.md as it is in the file. */
    @Test
    void theReadmeSnippetsAreTheExamples() throws Exception {
        Path root = Path.of("").toAbsolutePath().getParent();   // the tests run in fable-tests/
        String readme = Files.readString(root.resolve("README.md"));
        Path dir = root.resolve("fable-examples/src/main/java/dev/fable/examples");
        Pattern tag = Pattern.compile("(?s)// tag::(\\w+)\\[\\]\\n(.*?)\\n\\s*// end::\\1\\[\\]");
        int found = 0;
        for (String file : List.of("Receiver.java", "Sender.java", "EchoServer.java", "EchoClient.java", "PollerLoop.java",
                "TickPublisher.java", "TickSubscriber.java")) {
            Matcher m = tag.matcher(Files.readString(dir.resolve(file)));
            while (m.find()) {
                found++;
                String snippet = dedent(m.group(2));
                assertTrue(readme.contains(snippet), "README.md must show " + file + "'s '" + m.group(1) + "' region as it is:\n" + snippet);
            }
        }
        assertEquals(7, found, "tagged regions in the examples");
    }

    private static String dedent(String block) {
        List<String> lines = block.lines().toList();
        int indent = lines.stream().filter(l -> !l.isBlank()).mapToInt(l -> l.length() - l.stripLeading().length()).min().orElse(0);
        StringBuilder b = new StringBuilder();
        for (String l : lines) b.append(l.length() >= indent ? l.substring(indent) : l.strip()).append('\n');
        return b.toString().stripTrailing();
    }

    private static void awaitName(String name) {
        Await.until(() -> Fable.names().names().stream().anyMatch(n -> n.name().equals(name)), LIMIT, () -> "'" + name + "' registered");
    }
}
