/*
 * A Fable subscriber in C, written from docs/shm-transport.md alone ("Joining as a subscriber from
 * another language", "Shape", "Records", "Release: READ", "One producer, many consumers").
 * FanoutCInteropTest compiles it with `cc -std=c11 -O2 -Wall -Werror` and runs it against a Java publisher.
 *
 *   fable_subscriber <runtime dir> <publisher name> <messages> <max length> [timeout seconds]
 *
 * It joins <runtime dir>/ep/<name>.sock, reads until <messages> messages were received or told dropped,
 * and checks every one: message `seq` (0, 1, 2, ...) is msg_length(seq) bytes long, its first 8 bytes are
 * seq little-endian and byte i >= 8 is (seq + i) & 0xFF. A DROPPED record of count k means the next message
 * is seq + k. On success it prints
 *
 *   OK <messages received> <payload bytes> <drops> inline=<n> slot0=<n> slot1=<n> ref=<n> pad=<n>
 *
 * and exits 0; otherwise it prints "FAIL <what>" and exits 1 (2: bad arguments or set-up).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <sched.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

/* ---- failing ---- */

static void fail(int code, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    printf("FAIL ");
    vprintf(fmt, ap);
    printf("\n");
    fflush(stdout);
    va_end(ap);
    exit(code);
}

/* ---- the length and bytes of message seq (FanoutCInteropTest computes the same) ---- */

static uint32_t max_length; /* the largest message, at most the fan-out pool's slot size */

/* Half the messages 8..512 bytes (INLINE-sized), half 513..max_length. */
static uint32_t msg_length(uint64_t seq) {
    uint64_t h = (seq * UINT64_C(0x9E3779B97F4A7C15)) >> 40;
    if ((h & 1) == 0 || max_length <= 512) {
        uint32_t top = max_length < 512 ? max_length : 512;
        return 8 + (uint32_t) ((h >> 1) % (top - 7));
    }
    return 513 + (uint32_t) ((h >> 1) % (max_length - 512));
}

/* pattern[j] = j & 0xFF: bytes i.. of message seq (i >= 8) are pattern + ((seq + i) & 0xFF) */
static uint8_t *pattern;

/* ---- frames (big-endian) ---- */

struct out {
    uint8_t b[65536];
    size_t n;
};

static void put8(struct out *o, uint8_t v) { o->b[o->n++] = v; }
static void put16(struct out *o, uint16_t v) { put8(o, (uint8_t) (v >> 8)); put8(o, (uint8_t) v); }
static void put32(struct out *o, uint32_t v) { put16(o, (uint16_t) (v >> 16)); put16(o, (uint16_t) v); }
static void put64(struct out *o, uint64_t v) { put32(o, (uint32_t) (v >> 32)); put32(o, (uint32_t) v); }
static void putstr(struct out *o, const char *s) {
    size_t n = strlen(s);
    put16(o, (uint16_t) n);
    memcpy(o->b + o->n, s, n);
    o->n += n;
}

static void write_all(int fd, const uint8_t *p, size_t n) {
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) fail(2, "writing to the endpoint socket: %s", strerror(errno));
        p += w;
        n -= (size_t) w;
    }
}

static void send_frame(int fd, const struct out *o) {
    uint8_t len[4] = {(uint8_t) (o->n >> 24), (uint8_t) (o->n >> 16), (uint8_t) (o->n >> 8), (uint8_t) o->n};
    write_all(fd, len, 4);
    write_all(fd, o->b, o->n);
}

static int read_all(int fd, uint8_t *p, size_t n) {
    while (n > 0) {
        ssize_t r = read(fd, p, n);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) return -1;
        p += r;
        n -= (size_t) r;
    }
    return 0;
}

struct in {
    uint8_t b[65536];
    size_t n, at;
};

static void recv_frame(int fd, struct in *f, const char *what) {
    uint8_t len[4];
    if (read_all(fd, len, 4) < 0) fail(2, "the endpoint closed the socket instead of sending %s", what);
    uint32_t n = (uint32_t) len[0] << 24 | (uint32_t) len[1] << 16 | (uint32_t) len[2] << 8 | len[3];
    if (n < 1 || n > 65536) fail(2, "%s frame of length %" PRIu32 ", outside 1..65536", what, n);
    if (read_all(fd, f->b, n) < 0) fail(2, "the endpoint closed the socket in the middle of %s", what);
    f->n = n;
    f->at = 0;
}

static const uint8_t *take(struct in *f, size_t n) {
    if (f->at + n > f->n) fail(2, "handshake frame too short (%zu bytes, wanted %zu more at %zu)", f->n, n, f->at);
    const uint8_t *p = f->b + f->at;
    f->at += n;
    return p;
}
static uint8_t get8(struct in *f) { return *take(f, 1); }
static uint16_t get16(struct in *f) { const uint8_t *p = take(f, 2); return (uint16_t) (p[0] << 8 | p[1]); }
static uint32_t get32(struct in *f) { const uint8_t *p = take(f, 4); return (uint32_t) p[0] << 24 | (uint32_t) p[1] << 16 | (uint32_t) p[2] << 8 | p[3]; }
static uint64_t get64(struct in *f) { uint64_t hi = get32(f); return hi << 32 | get32(f); }
static void getstr(struct in *f, char *dst, size_t cap) {
    uint16_t n = get16(f);
    const uint8_t *p = take(f, n);
    size_t c = n < cap - 1 ? n : cap - 1;
    memcpy(dst, p, c);
    dst[c] = 0;
}

/* ---- shared memory (little-endian headers) ---- */

static void le_put(uint8_t *p, uint64_t v, int bytes) {
    for (int i = 0; i < bytes; i++) p[i] = (uint8_t) (v >> (8 * i));
}
static uint64_t le_get(const uint8_t *p, int bytes) {
    uint64_t v = 0;
    for (int i = bytes - 1; i >= 0; i--) v = v << 8 | p[i];
    return v;
}

#define POOL_MAGIC UINT64_C(0x4C4F4F504C424146) /* "FABLPOOL" */
#define RING_MAGIC UINT64_C(0x474E49524C424146) /* "FABLRING" */
#define LAYOUT_VERSION 3
#define SEALS (F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL)

/* Our own direction (never written): a pool of 2 x 64 B and a ring with a 64 KiB log. */
static int own_memfd(const char *name, size_t size, int ring) {
    int fd = memfd_create(name, MFD_ALLOW_SEALING | MFD_CLOEXEC);
    if (fd < 0) fail(2, "memfd_create %s: %s", name, strerror(errno));
    if (ftruncate(fd, (off_t) size) < 0) fail(2, "ftruncate %s: %s", name, strerror(errno));
    uint8_t h[24] = {0};
    le_put(h, ring ? RING_MAGIC : POOL_MAGIC, 8);
    le_put(h + 8, LAYOUT_VERSION, 4);
    if (ring) le_put(h + 12, 65536, 4);
    le_put(h + 16, 64, 4);
    le_put(h + 20, 2, 4);
    if (pwrite(fd, h, sizeof h, 0) != (ssize_t) sizeof h) fail(2, "writing the header of %s: %s", name, strerror(errno));
    if (fcntl(fd, F_ADD_SEALS, SEALS) < 0) fail(2, "sealing %s: %s", name, strerror(errno));
    return fd;
}

/* Opens /proc/<pid>/fd/<n>, checks it is a sealed Fable memfd of at least `size` bytes, maps it. */
static uint8_t *map_peer(uint64_t pid, uint32_t n, size_t size, int writable, const char *what) {
    char path[64], link[256];
    snprintf(path, sizeof path, "/proc/%" PRIu64 "/fd/%" PRIu32, pid, n);
    ssize_t l = readlink(path, link, sizeof link - 1);
    if (l < 0) fail(2, "%s: readlink %s: %s", what, path, strerror(errno));
    link[l] = 0;
    if (strncmp(link, "/memfd:fable-", 13) != 0) fail(2, "%s: %s is %s, not a Fable memfd", what, path, link);
    int fd = open(path, (writable ? O_RDWR : O_RDONLY) | O_CLOEXEC);
    if (fd < 0) fail(2, "%s: open %s: %s", what, path, strerror(errno));
    int seals = fcntl(fd, F_GET_SEALS);
    if (seals < 0 || (seals & SEALS) != SEALS) fail(2, "%s: %s is not sealed (seals 0x%x)", what, link, seals);
    struct stat st;
    if (fstat(fd, &st) < 0) fail(2, "%s: fstat: %s", what, strerror(errno));
    if ((uint64_t) st.st_size < size) fail(2, "%s: %s has %lld bytes, the handshake needs %zu", what, link, (long long) st.st_size, size);
    void *m = mmap(NULL, size, PROT_READ | (writable ? PROT_WRITE : 0), MAP_SHARED, fd, 0);
    if (m == MAP_FAILED) fail(2, "%s: mmap %zu bytes: %s", what, size, strerror(errno));
    close(fd); /* the mapping keeps the memory */
    return m;
}

static void check_pool_header(const uint8_t *p, uint32_t slot_size, uint32_t slot_count, const char *what) {
    if (le_get(p, 8) != POOL_MAGIC || le_get(p + 8, 4) != LAYOUT_VERSION || le_get(p + 16, 4) != slot_size
            || le_get(p + 20, 4) != slot_count)
        fail(2, "%s: header (magic %016" PRIx64 ", version %" PRIu64 ", %" PRIu64 " x %" PRIu64 " B) differs from the handshake (%" PRIu32 " x %" PRIu32 " B)",
             what, le_get(p, 8), le_get(p + 8, 4), le_get(p + 20, 4), le_get(p + 16, 4), slot_count, slot_size);
}

static void check_geometry(uint32_t slot_size, uint32_t slot_count, const char *what) {
    if (slot_size < 64 || slot_size % 64 != 0 || slot_count < 1 || slot_count > (1u << 24))
        fail(2, "%s: bad geometry %" PRIu32 " slots of %" PRIu32 " B", what, slot_count, slot_size);
    if ((uint64_t) slot_size * slot_count > (UINT64_C(1) << 32)) fail(2, "%s: pool too large", what);
}

/* ---- ring registers ---- */

#define RING_READ 384
#define RING_PRODUCER_STATE 640
#define LOG_START 4096

enum { INLINE = 1, SLOT = 2, PAD = 3, HOLE = 4, REF = 5, END = 6, DROPPED = 7 };
static const char *const KIND[] = {"0", "INLINE", "SLOT", "PAD", "HOLE", "REF", "END", "DROPPED"};

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double) t.tv_sec + t.tv_nsec / 1e9;
}

/* ---- the check: the message being received, fragment by fragment ---- */

static uint64_t expected_seq;  /* the seq of the message in progress or next */
static uint64_t msg_at;        /* bytes of it received so far (fragments) */
static uint64_t received, payload_bytes, drops;

static void check_fragment(const uint8_t *p, uint32_t n, int more, uint64_t pos, const char *kind) {
    uint64_t seq = expected_seq;
    uint32_t want = msg_length(seq);
    if (msg_at + n > want)
        fail(1, "message %" PRIu64 " (%s at log position %" PRIu64 "): %" PRIu64 " bytes or more, expected %" PRIu32,
             seq, kind, pos, msg_at + n, want);
    uint32_t i = 0;
    for (; i < n && msg_at + i < 8; i++) {
        uint8_t e = (uint8_t) (seq >> (8 * (msg_at + i)));
        if (p[i] != e) {
            uint64_t got = msg_at == 0 && n >= 8 ? le_get(p, 8) : 0;
            fail(1, "message %" PRIu64 " (%s at log position %" PRIu64 "): byte %" PRIu64 " is 0x%02x, expected 0x%02x (sequence number read: %" PRIu64 ")",
                 seq, kind, pos, msg_at + i, p[i], e, got);
        }
    }
    if (i < n) {
        const uint8_t *e = pattern + ((seq + msg_at + i) & 0xFF);
        if (memcmp(p + i, e, n - i) != 0) {
            for (uint32_t j = i; j < n; j++)
                if (p[j] != e[j - i])
                    fail(1, "message %" PRIu64 " (%s at log position %" PRIu64 ", %" PRIu32 " B): byte %" PRIu64 " is 0x%02x, expected 0x%02x",
                         seq, kind, pos, want, msg_at + j, p[j], e[j - i]);
        }
    }
    msg_at += n;
    if (!more) {
        if (msg_at != want)
            fail(1, "message %" PRIu64 " (%s at log position %" PRIu64 "): %" PRIu64 " bytes, expected %" PRIu32, seq, kind, pos, msg_at, want);
        payload_bytes += msg_at;
        received++;
        expected_seq++;
        msg_at = 0;
    }
}

int main(int argc, char **argv) {
    if (argc < 5 || argc > 6) {
        fprintf(stderr, "usage: %s <runtime dir> <publisher name> <messages> <max length> [timeout seconds]\n", argv[0]);
        return 2;
    }
    const char *dir = argv[1], *pub_name = argv[2];
    uint64_t messages = strtoull(argv[3], NULL, 10);
    max_length = (uint32_t) strtoul(argv[4], NULL, 10);
    double timeout = argc > 5 ? atof(argv[5]) : 60;
    if (max_length < 8) fail(2, "max length %" PRIu32 " < 8", max_length);
    setvbuf(stdout, NULL, _IOLBF, 0);

    /* 1. Rendezvous */
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if ((size_t) snprintf(sa.sun_path, sizeof sa.sun_path, "%s/ep/%s.sock", dir, pub_name) >= sizeof sa.sun_path)
        fail(2, "socket path too long: %s/ep/%s.sock", dir, pub_name);
    int sock = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (sock < 0) fail(2, "socket: %s", strerror(errno));
    if (connect(sock, (struct sockaddr *) &sa, sizeof sa) < 0) fail(2, "connect %s: %s", sa.sun_path, strerror(errno));

    /* 3. Session frame */
    static struct out o;
    uint64_t conn_id = 0;
    int ur = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
    if (ur < 0 || read_all(ur, (uint8_t *) &conn_id, sizeof conn_id) < 0) fail(2, "/dev/urandom: %s", strerror(errno));
    close(ur);
    conn_id |= 1;
    o.n = 0;
    put32(&o, 0x46534553);
    put8(&o, 3); /* SUBSCRIBE */
    put64(&o, conn_id);
    put64(&o, 0);
    send_frame(sock, &o);

    /* 4. Our own direction */
    long pid = (long) getpid();
    char name[64];
    snprintf(name, sizeof name, "fable-%ld-1.pool", pid);
    int own_pool = own_memfd(name, 4096 + 2 * 64, 0);
    snprintf(name, sizeof name, "fable-%ld-1.ring", pid);
    int own_ring = own_memfd(name, 4096 + 65536, 1);

    /* 5. HELLO */
    char my_name[64];
    snprintf(my_name, sizeof my_name, "c-subscriber-%ld", pid);
    o.n = 0;
    putstr(&o, "shm");
    put16(&o, 5);
    putstr(&o, pub_name);
    put64(&o, (uint64_t) pid);
    putstr(&o, my_name);
    put8(&o, 0); /* SPIN */
    put32(&o, 64);
    put32(&o, 2);
    put32(&o, 65536);
    put32(&o, (uint32_t) own_pool);
    put32(&o, (uint32_t) own_ring);
    send_frame(sock, &o);

    /* 6. ACCEPT */
    static struct in f;
    recv_frame(sock, &f, "ACCEPT");
    uint8_t kind = get8(&f);
    if (kind == 3) {
        char reason[1024];
        getstr(&f, reason, sizeof reason);
        fail(2, "refused: %s", reason);
    }
    if (kind != 2) fail(2, "expected ACCEPT (2) or REJECT (3), got %u", kind);
    uint64_t ppid = get64(&f);
    char ppname[256];
    getstr(&f, ppname, sizeof ppname);
    uint8_t pwait = get8(&f);
    uint32_t slot_size = get32(&f), slot_count = get32(&f), log_bytes = get32(&f);
    uint32_t pool_fd = get32(&f), ring_fd = get32(&f);
    uint8_t secret_n = get8(&f);
    take(&f, secret_n);
    uint8_t ticket_n = get8(&f);
    take(&f, ticket_n);
    uint8_t has_fanout = get8(&f);
    uint32_t fan_fd = 0, fan_size = 0, fan_count = 0;
    if (has_fanout == 1) {
        fan_fd = get32(&f);
        fan_size = get32(&f);
        fan_count = get32(&f);
    } else if (has_fanout != 0) {
        fail(2, "fan-out section byte %u", has_fanout);
    }
    if (f.at != f.n) fprintf(stderr, "note: ACCEPT has %zu bytes after the fan-out section\n", f.n - f.at);
    fprintf(stderr, "ACCEPT from %s (pid %" PRIu64 ", wait %u): pool %" PRIu32 " x %" PRIu32 " B, log %" PRIu32 " B, secret %u B, ticket %u B, fan-out %s %" PRIu32 " x %" PRIu32 " B\n",
            ppname, ppid, pwait, slot_count, slot_size, log_bytes, secret_n, ticket_n, has_fanout ? "yes" : "no", fan_count, fan_size);
    check_geometry(slot_size, slot_count, "publisher's pool");
    if (log_bytes < 65536 || log_bytes > (1u << 30) || (log_bytes & (log_bytes - 1)) != 0)
        fail(2, "log of %" PRIu32 " bytes: not a power of two in 64 KiB .. 1 GiB", log_bytes);
    if (has_fanout) check_geometry(fan_size, fan_count, "fan-out pool");
    if (max_length > (has_fanout ? fan_size : slot_size)) fail(2, "max length %" PRIu32 " is more than a slot", max_length);

    /* 7. Map, check, READY */
    const uint8_t *pool0 = map_peer(ppid, pool_fd, 4096 + (size_t) slot_size * slot_count, 0, "publisher's pool");
    uint8_t *ring = map_peer(ppid, ring_fd, 4096 + (size_t) log_bytes, 1, "publisher's ring");
    const uint8_t *pool1 = has_fanout ? map_peer(ppid, fan_fd, 4096 + (size_t) fan_size * fan_count, 0, "fan-out pool") : NULL;
    check_pool_header(pool0, slot_size, slot_count, "publisher's pool");
    if (has_fanout) check_pool_header(pool1, fan_size, fan_count, "fan-out pool");
    if (le_get(ring, 8) != RING_MAGIC || le_get(ring + 8, 4) != LAYOUT_VERSION || le_get(ring + 12, 4) != log_bytes
            || le_get(ring + 16, 4) != slot_size || le_get(ring + 20, 4) != slot_count)
        fail(2, "publisher's ring: header differs from the handshake");
    o.n = 0;
    put8(&o, 4);
    send_frame(sock, &o);

    uint32_t big = slot_size > fan_size ? slot_size : fan_size;
    if (big < 512) big = 512;
    pattern = malloc(256 + (size_t) big);
    if (!pattern) fail(2, "out of memory");
    for (size_t j = 0; j < 256 + (size_t) big; j++) pattern[j] = (uint8_t) j;

    /* 8. Read the log */
    const uint64_t mask = log_bytes - 1;
    const uint32_t inline_max = slot_size < 512 ? slot_size : 512;
    _Atomic uint64_t *read_reg = (_Atomic uint64_t *) (ring + RING_READ);
    _Atomic uint32_t *producer_state = (_Atomic uint32_t *) (ring + RING_PRODUCER_STATE);
    uint64_t pos = 0, read_published = 0;
    unsigned unpublished = 0;
    int hole_pending = 0;
    uint64_t hole_pos = 0;
    uint32_t hole_len = 0;
    uint64_t n_inline = 0, n_slot0 = 0, n_slot1 = 0, n_ref = 0, n_pad = 0, n_hole = 0;
    double last_progress = now();
    unsigned long idle = 0;
    int progressed = 0;

    while (received + drops < messages) {
        uint64_t off = pos & mask;
        uint8_t *rec = ring + LOG_START + off;
        uint64_t h = atomic_load_explicit((_Atomic uint64_t *) rec, memory_order_acquire);
        if (h == 0) {
            /* nothing yet: publish what we released, and now and then see whether the publisher is still there */
            uint64_t read = hole_pending ? hole_pos : pos;
            if (read != read_published) {
                atomic_store_explicit(read_reg, read, memory_order_release);
                read_published = read;
                unpublished = 0;
            }
            if (++idle > 1024) sched_yield(); /* spin, then let the publisher have the CPU if it shares ours */
            if ((idle & 0xFFFF) == 0) {
                double t = now();
                if (progressed) {
                    last_progress = t;
                    progressed = 0;
                }
                if (t - last_progress > timeout)
                    fail(1, "nothing new for %.0f s at log position %" PRIu64 " after %" PRIu64 " messages and %" PRIu64 " drops",
                         timeout, pos, received, drops);
                if (atomic_load_explicit(producer_state, memory_order_acquire) == 1
                        && atomic_load_explicit((_Atomic uint64_t *) rec, memory_order_acquire) == 0)
                    fail(1, "the publisher closed after %" PRIu64 " messages and %" PRIu64 " drops (expected %" PRIu64 ")",
                         received, drops, messages);
                struct pollfd pfd = {.fd = sock, .events = POLLIN};
                if (poll(&pfd, 1, 0) > 0) {
                    uint8_t b[4096];
                    ssize_t r = recv(sock, b, sizeof b, MSG_DONTWAIT);
                    if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR)) {
                        if (atomic_load_explicit((_Atomic uint64_t *) rec, memory_order_acquire) == 0)
                            fail(1, "the publisher's socket closed after %" PRIu64 " messages and %" PRIu64 " drops (expected %" PRIu64 ")",
                                 received, drops, messages);
                    } else if (r > 0) {
                        fprintf(stderr, "note: %zd unexpected bytes on the socket after READY\n", r);
                    }
                }
            }
            continue;
        }
        idle = 0;
        progressed = 1;
        uint32_t tag = (uint32_t) h;
        uint32_t len = (uint32_t) (h >> 32) & 0xFFFFFF;
        unsigned k = (unsigned) (h >> 56) & 0x7F;
        int more = (int) (h >> 63);
        if (tag != (uint32_t) (pos >> 4))
            fail(1, "record at %" PRIu64 ": tag %08" PRIx32 ", expected %08" PRIx32 " (header %016" PRIx64 ")", pos, tag, (uint32_t) (pos >> 4), h);
        if (k < INLINE || k > DROPPED) fail(1, "record at %" PRIu64 ": kind %u (header %016" PRIx64 ")", pos, k, h);
        uint64_t size;
        switch (k) {
        case INLINE:
        case HOLE:
            if (len > inline_max) fail(1, "%s at %" PRIu64 ": length %" PRIu32 " > %" PRIu32, KIND[k], pos, len, inline_max);
            size = (8 + (uint64_t) len + 15) & ~UINT64_C(15);
            break;
        case PAD:
            size = log_bytes - off;
            if (len != size - 8) fail(1, "PAD at %" PRIu64 ": length %" PRIu32 ", expected %" PRIu64, pos, len, size - 8);
            break;
        case SLOT:
        case DROPPED:
            if (len != 8) fail(1, "%s at %" PRIu64 ": header length %" PRIu32 ", expected 8", KIND[k], pos, len);
            size = 16;
            break;
        case REF:
            size = 16;
            break;
        default: /* END */
            if (len != 0) fail(1, "END at %" PRIu64 ": length %" PRIu32, pos, len);
            size = 16;
            break;
        }
        if (off + size > log_bytes) fail(1, "%s at %" PRIu64 " (%" PRIu64 " B) crosses the log's end", KIND[k], pos, size);
        if (more && k != INLINE && k != REF) fail(1, "%s at %" PRIu64 " has the MORE bit", KIND[k], pos);

        switch (k) {
        case INLINE:
            n_inline++;
            check_fragment(rec + 8, len, more, pos, "INLINE");
            break;
        case SLOT: {
            uint64_t ptr = le_get(rec + 8, 8);
            uint32_t plen = (uint32_t) (ptr >> 32);
            int pmore = (int) (ptr >> 31) & 1;
            unsigned pool = (unsigned) (ptr >> 24) & 0x7F;
            uint32_t slot = (uint32_t) ptr & 0xFFFFFF;
            if (pool == 0) {
                if (slot >= slot_count || plen > slot_size)
                    fail(1, "SLOT at %" PRIu64 ": pool 0 slot %" PRIu32 " length %" PRIu32 " outside %" PRIu32 " x %" PRIu32 " B", pos, slot, plen, slot_count, slot_size);
                n_slot0++;
                check_fragment(pool0 + 4096 + (size_t) slot * slot_size, plen, pmore, pos, "SLOT pool 0");
            } else if (pool == 1) {
                if (!has_fanout) fail(1, "SLOT at %" PRIu64 ": pool 1 without a fan-out pool", pos);
                if (slot >= fan_count || plen > fan_size || pmore)
                    fail(1, "SLOT at %" PRIu64 ": pool 1 slot %" PRIu32 " length %" PRIu32 " more %d outside %" PRIu32 " x %" PRIu32 " B", pos, slot, plen, pmore, fan_count, fan_size);
                n_slot1++;
                check_fragment(pool1 + 4096 + (size_t) slot * fan_size, plen, 0, pos, "SLOT pool 1");
            } else {
                fail(1, "SLOT at %" PRIu64 ": pool %u (pointer %016" PRIx64 ")", pos, pool, ptr);
            }
            /* a slot is held only between poll and release, and we release at once: never held twice */
            break;
        }
        case PAD:
            n_pad++;
            break;
        case HOLE:
            if (hole_pending) fail(1, "HOLE at %" PRIu64 " while the HOLE at %" PRIu64 " is pending", pos, hole_pos);
            hole_pending = 1;
            hole_pos = pos;
            hole_len = len;
            n_hole++;
            break;
        case REF: {
            uint64_t at = le_get(rec + 8, 8);
            if (!hole_pending || at != hole_pos || len > hole_len)
                fail(1, "REF at %" PRIu64 " names %" PRIu64 " length %" PRIu32 "; pending HOLE: %s at %" PRIu64 " length %" PRIu32,
                     pos, at, len, hole_pending ? "yes" : "none", hole_pos, hole_len);
            n_ref++;
            check_fragment(ring + LOG_START + (hole_pos & mask) + 8, len, more, pos, "REF");
            hole_pending = 0;
            break;
        }
        case END:
            fail(1, "END (end of epoch) at %" PRIu64 " after %" PRIu64 " messages: a reconfiguration, which this subscriber does not follow", pos, received);
            break;
        case DROPPED: {
            uint64_t count = le_get(rec + 8, 8);
            if (count < 1 || count > INT32_MAX) fail(1, "DROPPED at %" PRIu64 ": count %" PRIu64, pos, count);
            if (msg_at != 0) fail(1, "DROPPED at %" PRIu64 " in the middle of message %" PRIu64, pos, expected_seq);
            drops += count;
            expected_seq += count;
            break;
        }
        }
        pos += size;
        if (++unpublished >= 32) {
            uint64_t read = hole_pending ? hole_pos : pos;
            atomic_store_explicit(read_reg, read, memory_order_release);
            read_published = read;
            unpublished = 0;
        }
    }
    if (received + drops != messages)
        fail(1, "%" PRIu64 " received + %" PRIu64 " dropped != %" PRIu64 " expected", received, drops, messages);
    atomic_store_explicit(read_reg, hole_pending ? hole_pos : pos, memory_order_release);
    printf("OK %" PRIu64 " %" PRIu64 " %" PRIu64 " inline=%" PRIu64 " slot0=%" PRIu64 " slot1=%" PRIu64 " ref=%" PRIu64 " pad=%" PRIu64 " hole=%" PRIu64 "\n",
           received, payload_bytes, drops, n_inline, n_slot0, n_slot1, n_ref, n_pad, n_hole);
    /* 9. Leaving */
    close(sock);
    close(own_pool);
    close(own_ring);
    return 0;
}
