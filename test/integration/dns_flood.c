/* dns_flood: DNS responses at a steady rate, as a busy resolver answering
 * pods would send them, for the soak test (test_soak.py compiles this with
 * gcc into its temp dir; Python alone cannot send 20,000 a second).
 *
 *   dns_flood SRC_IP DST_IP DST_PORT RATE SECONDS NAMES TTL ADDR [ADDR...]
 *
 * Binds SRC_IP:53 (the trusted server's address and port, so wacd's tap
 * parses them) and sends to DST_IP:DST_PORT. NAMES pre-built responses are
 * sent round-robin: response i answers n<i>.flood.test A ADDR[i % count]
 * with TTL, except every fourth, which answers n<i>.unmatched.test (parsed,
 * matched by no pattern: the tap's cheap path). A fixed pool keeps what
 * wacd learns bounded, so its memory may be judged flat.
 *
 * Paced per millisecond with sendmmsg; stops after SECONDS or on SIGTERM /
 * SIGINT and prints "sent N" (also every second on stdout as "progress N"). */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#define BATCH_MAX 1024
#define MSG_MAX 128

static volatile sig_atomic_t stopping;

static void on_signal(int sig) { (void)sig; stopping = 1; }

struct response {
  unsigned char bytes[MSG_MAX];
  size_t len;
};

static size_t put_name(unsigned char *p, const char *name) {
  size_t n = 0;
  while (*name) {
    const char *dot = strchr(name, '.');
    size_t label = dot ? (size_t)(dot - name) : strlen(name);
    p[n++] = (unsigned char)label;
    memcpy(p + n, name, label);
    n += label;
    name += label + (dot ? 1 : 0);
  }
  p[n++] = 0;
  return n;
}

static void put16(unsigned char *p, uint16_t v) { p[0] = v >> 8; p[1] = v & 0xff; }

static void put32(unsigned char *p, uint32_t v) { put16(p, v >> 16); put16(p + 2, v & 0xffff); }

/* One response: header, the question, one A answer pointing back at it. */
static void build(struct response *r, uint32_t i, uint32_t ttl, struct in_addr addr) {
  char name[64];
  snprintf(name, sizeof name, i % 4 == 3 ? "n%u.unmatched.test" : "n%u.flood.test", i);
  unsigned char *p = r->bytes;
  put16(p, (uint16_t)i);
  put16(p + 2, 0x8180); /* response, recursion desired + available, no error */
  put16(p + 4, 1);
  put16(p + 6, 1);
  put16(p + 8, 0);
  put16(p + 10, 0);
  size_t n = 12 + put_name(p + 12, name);
  put16(p + n, 1); /* A */
  put16(p + n + 2, 1); /* IN */
  n += 4;
  put16(p + n, 0xc00c); /* name: pointer to the question's */
  put16(p + n + 2, 1);
  put16(p + n + 4, 1);
  put32(p + n + 6, ttl);
  put16(p + n + 10, 4);
  memcpy(p + n + 12, &addr, 4);
  r->len = n + 16;
}

static int64_t now_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

static void sleep_until(int64_t ns) {
  struct timespec t = {ns / 1000000000, ns % 1000000000};
  while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &t, NULL) == EINTR && !stopping) {
  }
}

static int open_socket(const char *src) {
  int fd = socket(AF_INET, SOCK_DGRAM, 0);
  int big = 8 << 20;
  setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &big, sizeof big);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(53)};
  if (fd < 0 || inet_pton(AF_INET, src, &a.sin_addr) != 1 || bind(fd, (struct sockaddr *)&a, sizeof a) != 0) {
    perror("dns_flood: bind SRC_IP:53");
    exit(1);
  }
  return fd;
}

/* Sends responses [next, next + count) of the pool; returns how many went. */
static unsigned send_batch(int fd, struct response *pool, uint32_t names, uint64_t next, unsigned count,
                           struct sockaddr_in *dst) {
  static struct mmsghdr msgs[BATCH_MAX];
  static struct iovec iov[BATCH_MAX];
  for (unsigned k = 0; k < count; ++k) {
    struct response *r = &pool[(next + k) % names];
    iov[k] = (struct iovec){r->bytes, r->len};
    msgs[k].msg_hdr = (struct msghdr){.msg_name = dst, .msg_namelen = sizeof *dst, .msg_iov = &iov[k], .msg_iovlen = 1};
  }
  unsigned done = 0;
  while (done < count && !stopping) {
    int n = sendmmsg(fd, msgs + done, count - done, 0);
    if (n < 0) {
      if (errno == ENOBUFS || errno == EAGAIN || errno == EINTR) continue; /* a full queue: retry, never drop */
      perror("dns_flood: sendmmsg");
      exit(1);
    }
    done += (unsigned)n;
  }
  return done;
}

int main(int argc, char **argv) {
  if (argc < 9) {
    fprintf(stderr, "usage: dns_flood SRC_IP DST_IP DST_PORT RATE SECONDS NAMES TTL ADDR [ADDR...]\n");
    return 2;
  }
  const char *src = argv[1];
  struct sockaddr_in dst = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(argv[3]))};
  inet_pton(AF_INET, argv[2], &dst.sin_addr);
  uint64_t rate = strtoull(argv[4], NULL, 10);
  double seconds = atof(argv[5]);
  uint32_t names = (uint32_t)strtoul(argv[6], NULL, 10), ttl = (uint32_t)strtoul(argv[7], NULL, 10);
  int naddrs = argc - 8;
  if (names == 0 || rate == 0) return 2;

  struct response *pool = calloc(names, sizeof *pool);
  for (uint32_t i = 0; i < names; ++i) {
    struct in_addr a;
    inet_pton(AF_INET, argv[8 + i % (uint32_t)naddrs], &a);
    build(&pool[i], i, ttl, a);
  }
  signal(SIGTERM, on_signal);
  signal(SIGINT, on_signal);
  setvbuf(stdout, NULL, _IOLBF, 0);
  int fd = open_socket(src);

  /* Each millisecond tick sends what the rate owes by then, so a late tick
   * catches up instead of lowering the rate. */
  const int64_t start = now_ns(), end = start + (int64_t)(seconds * 1e9);
  uint64_t sent = 0;
  int64_t tick = start, next_progress = start + 1000000000;
  while (!stopping && tick < end) {
    tick += 1000000;
    sleep_until(tick);
    uint64_t owed = (uint64_t)((double)(now_ns() - start) * (double)rate / 1e9);
    while (sent < owed && !stopping) {
      unsigned count = owed - sent > BATCH_MAX ? BATCH_MAX : (unsigned)(owed - sent);
      sent += send_batch(fd, pool, names, sent, count, &dst);
    }
    if (tick >= next_progress) {
      printf("progress %llu\n", (unsigned long long)sent);
      next_progress += 1000000000;
    }
  }
  printf("sent %llu\n", (unsigned long long)sent);
  return 0;
}
