// Request/response latency probe for the benchmarks: `pingpong server PORT` echoes fixed-size
// messages; `pingpong client HOST PORT COUNT SIZE` sends COUNT messages of SIZE bytes one at a
// time over one connection and prints p50/p99/mean round-trip times in microseconds.
// C rather than Python so the tool's own overhead does not hide the tens of microseconds measured.
#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int read_full(int fd, char *buf, size_t n) {
  size_t got = 0;
  while (got < n) {
    ssize_t r = read(fd, buf + got, n - got);
    if (r <= 0) return -1;
    got += (size_t)r;
  }
  return 0;
}

static int write_full(int fd, const char *buf, size_t n) {
  size_t put = 0;
  while (put < n) {
    ssize_t w = write(fd, buf + put, n - put);
    if (w <= 0) return -1;
    put += (size_t)w;
  }
  return 0;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static int serve(int port) {
  int s = socket(AF_INET6, SOCK_STREAM, 0), one = 1, zero = 0;
  setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  setsockopt(s, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof zero);
  struct sockaddr_in6 a = {.sin6_family = AF_INET6, .sin6_port = htons((uint16_t)port), .sin6_addr = in6addr_any};
  if (bind(s, (struct sockaddr *)&a, sizeof a) || listen(s, 64)) { perror("pingpong: bind/listen"); return 1; }
  signal(SIGCHLD, SIG_IGN);
  for (;;) {
    int c = accept(s, NULL, NULL);
    if (c < 0) continue;
    if (fork() == 0) {
      char buf[65536];
      setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      for (;;) {
        ssize_t r = read(c, buf, sizeof buf);
        if (r <= 0 || write_full(c, buf, (size_t)r)) _exit(0);
      }
    }
    close(c);
  }
}

static int client(const char *host, const char *port, long count, long size) {
  struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res;
  if (getaddrinfo(host, port, &hints, &res)) { fprintf(stderr, "pingpong: bad address %s\n", host); return 1; }
  int s = socket(res->ai_family, SOCK_STREAM, 0), one = 1;
  if (connect(s, res->ai_addr, res->ai_addrlen)) { perror("pingpong: connect"); return 1; }
  setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  char *buf = calloc(1, (size_t)size);
  double *rtt = calloc((size_t)count, sizeof *rtt), sum = 0;
  for (long i = 0; i < count + 100; i++) {  // the first 100 warm up
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    if (write_full(s, buf, (size_t)size) || read_full(s, buf, (size_t)size)) { fprintf(stderr, "pingpong: connection lost\n"); return 1; }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    if (i >= 100) {
      double us = (double)(t1.tv_sec - t0.tv_sec) * 1e6 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e3;
      rtt[i - 100] = us;
      sum += us;
    }
  }
  qsort(rtt, (size_t)count, sizeof *rtt, cmp_double);
  printf("{\"count\":%ld,\"size\":%ld,\"p50\":%.1f,\"p99\":%.1f,\"mean\":%.1f}\n", count, size,
         rtt[count / 2], rtt[(count * 99) / 100], sum / (double)count);
  return 0;
}

int main(int argc, char **argv) {
  if (argc == 3 && !strcmp(argv[1], "server")) return serve(atoi(argv[2]));
  if (argc == 6 && !strcmp(argv[1], "client")) return client(argv[2], argv[3], atol(argv[4]), atol(argv[5]));
  fprintf(stderr, "usage: pingpong server PORT | pingpong client HOST PORT COUNT SIZE\n");
  return 2;
}
