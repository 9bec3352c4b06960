// loadgen: the packet benchmark's traffic (test/bench/packet), client and
// server in one process.  Each thread enters its network namespace with
// setns(2) before it opens a socket, so both ends share one clock and one
// measuring window: after --warmup seconds the counters start, after
// --duration more they stop.  Prints one JSON object.
//
//   loadgen crr --client-netns F --server-netns F --server IP[,IP...] --port N
//               [--workers 4] [--server-threads 2] [--warmup 1] [--duration 3]
//     new TCP connections: each worker connects, sends 1 byte, reads the
//     1-byte answer and closes with RST (SO_LINGER 0: no TIME_WAIT, so ports
//     come back at once); counts exchanges completed in the window.
//   loadgen udp --client-netns F --server-netns F --server IP --port N
//               [--senders 1] [--receivers 1] [--payload 64] [--batch 32]
//               [--unreplied] [--warmup 1] [--duration 3]
//     sendmmsg flood of PAYLOAD-byte datagrams, one flow per sender, counted
//     where they arrive.  Each flow first gets one answer from the receiver,
//     so conntrack sees it established; --unreplied skips that, and every
//     packet stays ct state new (each one is evaluated against the policy).
//
// Built by test/bench/packet/packet.py with `gcc -O2 -pthread`.
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

enum phase { WARMUP, MEASURE, STOP };

struct options {
  const char *mode, *client_netns, *server_netns;
  struct in_addr servers[16];
  int n_servers, port, workers, server_threads, senders, receivers, payload, batch;
  bool unreplied;
  double warmup, duration;
};

// One per thread, a cache line each: counters bumped by one thread only.
struct counter {
  _Alignas(64) atomic_ulong done;
  atomic_ulong failed;
};

struct worker {
  struct counter c;
  int index;
};

static struct options opt = {.workers = 4, .server_threads = 2, .senders = 1, .receivers = 1,
                             .payload = 64, .batch = 32, .warmup = 1, .duration = 3};
static _Atomic int phase = WARMUP;
static atomic_int ready;  // servers listening / receivers bound

static void die(const char *what) {
  fprintf(stderr, "loadgen: %s: %s\n", what, strerror(errno));
  exit(2);
}

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void sleep_for(double seconds) {
  struct timespec ts = {(time_t)seconds, (long)((seconds - (time_t)seconds) * 1e9)};
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
  }
}

static void enter_netns(const char *path) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) die(path);
  if (setns(fd, CLONE_NEWNET) != 0) die("setns");
  close(fd);
}

static void set_timeouts(int fd, double seconds) {
  struct timeval tv = {(time_t)seconds, (suseconds_t)((seconds - (time_t)seconds) * 1e6)};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
}

static struct sockaddr_in server_addr(int i) {
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(opt.port)};
  a.sin_addr = opt.servers[i % opt.n_servers];
  return a;
}

// A socket bound to every address of the namespace on opt.port; with
// SO_REUSEPORT each server thread has its own and the kernel spreads flows.
static int bound_socket(int type) {
  int fd = socket(AF_INET, type | SOCK_CLOEXEC, 0);
  if (fd < 0) die("socket");
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
  struct sockaddr_in any = {.sin_family = AF_INET, .sin_port = htons(opt.port)};
  if (bind(fd, (struct sockaddr *)&any, sizeof any) != 0) die("bind");
  return fd;
}

static void count(struct counter *c, bool ok, unsigned long n) {
  if (atomic_load_explicit(&phase, memory_order_relaxed) != MEASURE) return;
  atomic_fetch_add_explicit(ok ? &c->done : &c->failed, n, memory_order_relaxed);
}

// ---------------------------------------------------------------- crr

// Echoes what each connection sends; closes it when the client does.
static void serve_connection(int ep, int fd) {
  char buf[64];
  ssize_t n = read(fd, buf, sizeof buf);
  if (n > 0) {
    if (write(fd, buf, n) != n) close(fd);
    return;
  }
  if (n < 0 && errno == EAGAIN) return;
  epoll_ctl(ep, EPOLL_CTL_DEL, fd, NULL);
  close(fd);
}

static void accept_all(int ep, int listener) {
  for (;;) {
    int fd = accept4(listener, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) return;
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = fd};
    epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
  }
}

static void *tcp_server(void *arg) {
  (void)arg;
  enter_netns(opt.server_netns);
  int listener = bound_socket(SOCK_STREAM | SOCK_NONBLOCK);
  if (listen(listener, 4096) != 0) die("listen");
  int ep = epoll_create1(EPOLL_CLOEXEC);
  struct epoll_event ev = {.events = EPOLLIN, .data.fd = listener};
  epoll_ctl(ep, EPOLL_CTL_ADD, listener, &ev);
  atomic_fetch_add(&ready, 1);
  struct epoll_event events[256];
  while (atomic_load(&phase) != STOP) {
    int n = epoll_wait(ep, events, 256, 100);
    for (int i = 0; i < n; i++) {
      if (events[i].data.fd == listener)
        accept_all(ep, listener);
      else
        serve_connection(ep, events[i].data.fd);
    }
  }
  return NULL;
}

// One connection: connect, 1 byte each way, close with RST.  Timeouts of
// 1 s catch a dropped SYN (its first retransmission is 1 s later).
static bool one_exchange(const struct sockaddr_in *to) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  set_timeouts(fd, 1.0);
  char c = 'x';
  bool ok = connect(fd, (const struct sockaddr *)to, sizeof *to) == 0 && write(fd, &c, 1) == 1 &&
            read(fd, &c, 1) == 1;
  struct linger rst = {.l_onoff = 1, .l_linger = 0};
  setsockopt(fd, SOL_SOCKET, SO_LINGER, &rst, sizeof rst);
  close(fd);
  return ok;
}

static void *crr_worker(void *arg) {
  struct worker *w = arg;
  enter_netns(opt.client_netns);
  struct sockaddr_in to = server_addr(w->index);  // workers spread over the server addresses
  while (atomic_load_explicit(&phase, memory_order_relaxed) != STOP) count(&w->c, one_exchange(&to), 1);
  return NULL;
}

// ---------------------------------------------------------------- udp

// Counts data datagrams; answers "H" (a flow's hello) so conntrack sees a reply.
static void *udp_receiver(void *arg) {
  struct worker *w = arg;
  enter_netns(opt.server_netns);
  int fd = bound_socket(SOCK_DGRAM);
  int size = 32 << 20;
  setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof size);
  set_timeouts(fd, 0.1);
  atomic_fetch_add(&ready, 1);
  enum { N = 64 };
  char (*bufs)[2048] = malloc(N * 2048);
  struct mmsghdr msgs[N];
  struct iovec iov[N];
  struct sockaddr_in from[N];
  while (atomic_load_explicit(&phase, memory_order_relaxed) != STOP) {
    for (int i = 0; i < N; i++) {
      iov[i] = (struct iovec){bufs[i], sizeof bufs[i]};
      msgs[i].msg_hdr = (struct msghdr){.msg_name = &from[i], .msg_namelen = sizeof from[i],
                                        .msg_iov = &iov[i], .msg_iovlen = 1};
    }
    int n = recvmmsg(fd, msgs, N, MSG_WAITFORONE, NULL);
    unsigned long data = 0;
    for (int i = 0; i < n; i++) {
      if (msgs[i].msg_len == 1 && bufs[i][0] == 'H')
        sendto(fd, "H", 1, 0, (struct sockaddr *)&from[i], msgs[i].msg_hdr.msg_namelen);
      else
        data++;
    }
    if (data) count(&w->c, true, data);
  }
  return NULL;
}

// Sends "H" until the receiver answers (3 s at most): the flow is then
// established in conntrack before the flood starts.
static bool hello(int fd) {
  for (int attempt = 0; attempt < 30; attempt++) {
    if (send(fd, "H", 1, 0) != 1) return false;
    struct pollfd p = {.fd = fd, .events = POLLIN};
    char c;
    if (poll(&p, 1, 100) == 1 && recv(fd, &c, 1, 0) == 1 && c == 'H') return true;
  }
  return false;
}

static void *udp_sender(void *arg) {
  struct worker *w = arg;
  enter_netns(opt.client_netns);
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  struct sockaddr_in to = server_addr(0);
  if (fd < 0 || connect(fd, (struct sockaddr *)&to, sizeof to) != 0) die("udp connect");
  if (!opt.unreplied && !hello(fd)) {
    fprintf(stderr, "loadgen: no answer to the hello of sender %d\n", w->index);
    atomic_fetch_add(&w->c.failed, 1);
    return NULL;
  }
  char *payload = calloc(1, opt.payload);
  memset(payload, 'D', opt.payload);
  struct iovec iov = {payload, (size_t)opt.payload};
  struct mmsghdr *msgs = calloc(opt.batch, sizeof *msgs);
  for (int i = 0; i < opt.batch; i++) msgs[i].msg_hdr = (struct msghdr){.msg_iov = &iov, .msg_iovlen = 1};
  while (atomic_load_explicit(&phase, memory_order_relaxed) != STOP) {
    int n = sendmmsg(fd, msgs, opt.batch, 0);
    if (n > 0) count(&w->c, true, n);
  }
  return NULL;
}

// ---------------------------------------------------------------- main

static void parse_servers(char *list) {
  for (char *s = strtok(list, ","); s && opt.n_servers < 16; s = strtok(NULL, ",")) {
    if (inet_pton(AF_INET, s, &opt.servers[opt.n_servers++]) != 1) {
      fprintf(stderr, "loadgen: bad address %s\n", s);
      exit(2);
    }
  }
}

static void parse(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: loadgen crr|udp --client-netns F --server-netns F --server IP[,IP] --port N ...\n");
    exit(2);
  }
  opt.mode = argv[1];
  for (int i = 2; i < argc; i++) {
    const char *k = argv[i];
    if (!strcmp(k, "--unreplied")) {
      opt.unreplied = true;
      continue;
    }
    if (i + 1 >= argc) {
      fprintf(stderr, "loadgen: %s needs a value\n", k);
      exit(2);
    }
    char *v = argv[++i];
    if (!strcmp(k, "--client-netns")) opt.client_netns = v;
    else if (!strcmp(k, "--server-netns")) opt.server_netns = v;
    else if (!strcmp(k, "--server")) parse_servers(v);
    else if (!strcmp(k, "--port")) opt.port = atoi(v);
    else if (!strcmp(k, "--workers")) opt.workers = atoi(v);
    else if (!strcmp(k, "--server-threads")) opt.server_threads = atoi(v);
    else if (!strcmp(k, "--senders")) opt.senders = atoi(v);
    else if (!strcmp(k, "--receivers")) opt.receivers = atoi(v);
    else if (!strcmp(k, "--payload")) opt.payload = atoi(v);
    else if (!strcmp(k, "--batch")) opt.batch = atoi(v);
    else if (!strcmp(k, "--warmup")) opt.warmup = atof(v);
    else if (!strcmp(k, "--duration")) opt.duration = atof(v);
    else {
      fprintf(stderr, "loadgen: unknown option %s\n", k);
      exit(2);
    }
  }
  if (!opt.client_netns || !opt.server_netns || !opt.n_servers || !opt.port) {
    fprintf(stderr, "loadgen: --client-netns, --server-netns, --server and --port are required\n");
    exit(2);
  }
}

static struct worker *start(int n, void *(*fn)(void *), pthread_t *threads) {
  struct worker *w = aligned_alloc(64, ((sizeof(struct worker) * n + 63) / 64) * 64);
  memset(w, 0, sizeof(struct worker) * n);
  for (int i = 0; i < n; i++) {
    w[i].index = i;
    if (pthread_create(&threads[i], NULL, fn, &w[i]) != 0) die("pthread_create");
  }
  return w;
}

static unsigned long total(struct worker *w, int n, bool failed) {
  unsigned long sum = 0;
  for (int i = 0; i < n; i++) sum += atomic_load(failed ? &w[i].c.failed : &w[i].c.done);
  return sum;
}

static void wait_ready(int n) {
  double deadline = now() + 5;
  while (atomic_load(&ready) < n) {
    if (now() > deadline) {
      fprintf(stderr, "loadgen: servers not ready\n");
      exit(2);
    }
    sleep_for(0.001);
  }
}

// CPU seconds this process has used, softirq work done in its threads'
// context included (the kernel's tick accounting charges it to the task
// it interrupts; here that is the forwarding of the packets they send).
static double cpu_seconds(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
}

// Warm-up, then the window: its exact length and the CPU used in it.
static void run_window(double *seconds, double *cpu) {
  sleep_for(opt.warmup);
  atomic_store(&phase, MEASURE);
  double t0 = now(), c0 = cpu_seconds();
  sleep_for(opt.duration);
  atomic_store(&phase, STOP);
  *seconds = now() - t0;
  *cpu = cpu_seconds() - c0;
}

int main(int argc, char **argv) {
  prctl(PR_SET_PDEATHSIG, SIGKILL);  // a killed harness takes its traffic with it
  parse(argc, argv);
  bool crr = !strcmp(opt.mode, "crr");
  if (!crr && strcmp(opt.mode, "udp")) {
    fprintf(stderr, "loadgen: mode is crr or udp\n");
    exit(2);
  }
  int n_srv = crr ? opt.server_threads : opt.receivers, n_cli = crr ? opt.workers : opt.senders;
  pthread_t srv_t[64], cli_t[64];
  if (n_srv > 64 || n_cli > 64) {
    fprintf(stderr, "loadgen: at most 64 threads a side\n");
    exit(2);
  }
  struct worker *srv = start(n_srv, crr ? tcp_server : udp_receiver, srv_t);
  wait_ready(n_srv);
  struct worker *cli = start(n_cli, crr ? crr_worker : udp_sender, cli_t);
  double seconds, cpu;
  run_window(&seconds, &cpu);
  for (int i = 0; i < n_cli; i++) pthread_join(cli_t[i], NULL);
  for (int i = 0; i < n_srv; i++) pthread_join(srv_t[i], NULL);
  if (crr) {
    unsigned long done = total(cli, n_cli, false);
    printf("{\"mode\": \"crr\", \"completed\": %lu, \"failed\": %lu, \"seconds\": %.4f, \"cpu_seconds\": %.4f, "
           "\"rate\": %.1f}\n",
           done, total(cli, n_cli, true), seconds, cpu, done / seconds);
  } else {
    unsigned long got = total(srv, n_srv, false);
    printf("{\"mode\": \"udp%s\", \"received\": %lu, \"sent\": %lu, \"failed\": %lu, \"seconds\": %.4f, "
           "\"cpu_seconds\": %.4f, \"rate\": %.1f}\n",
           opt.unreplied ? "-unreplied" : "", got, total(cli, n_cli, false), total(cli, n_cli, true), seconds, cpu,
           got / seconds);
  }
  return 0;
}
