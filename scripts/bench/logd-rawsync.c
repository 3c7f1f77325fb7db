// Raw disk baseline for the log benchmark: sequential appends of CHUNK bytes, each followed by
// fdatasync, to a new file in DIR for SECONDS; and the latency of a 64-byte write + fdatasync.
// Usage: logd-rawsync DIR CHUNK_BYTES SECONDS   → prints "bw_mbps=<MB/s>"
//        logd-rawsync DIR lat COUNT             → prints "p50_us=<> p99_us=<>"
// The latency loop sleeps 2 ms between writes, as the log benchmark's low-load client does.
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + t.tv_nsec / 1e9;
}

static int cmp(const void* a, const void* b) {
  double x = *(const double*)a, y = *(const double*)b;
  return x < y ? -1 : x > y;
}

int main(int argc, char** argv) {
  if (argc != 4) return 2;
  char path[4096];
  snprintf(path, sizeof path, "%s/rawsync.%d", argv[1], getpid());
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
  if (fd < 0) { perror("open"); return 1; }
  if (strcmp(argv[2], "lat") == 0) {
    int n = atoi(argv[3]);
    double* lat = calloc(n, sizeof(double));
    char buf[64];
    memset(buf, 'x', sizeof buf);
    struct timespec gap = {0, 2000000};
    for (int i = 0; i < n; i++) {
      nanosleep(&gap, 0);
      double t0 = now();
      if (write(fd, buf, sizeof buf) != sizeof buf || fdatasync(fd) != 0) { perror("write"); return 1; }
      lat[i] = (now() - t0) * 1e6;
    }
    qsort(lat, n, sizeof(double), cmp);
    printf("p50_us=%.0f p99_us=%.0f\n", lat[n / 2], lat[(int)(n * 0.99)]);
  } else {
    size_t chunk = strtoul(argv[2], 0, 10);
    double secs = atof(argv[3]);
    char* buf = aligned_alloc(4096, chunk);
    memset(buf, 'y', chunk);
    double t0 = now(), t;
    size_t total = 0;
    do {
      if (write(fd, buf, chunk) != (ssize_t)chunk || fdatasync(fd) != 0) { perror("write"); return 1; }
      total += chunk;
      t = now();
    } while (t - t0 < secs);
    printf("bw_mbps=%.1f\n", total / (t - t0) / 1e6);
  }
  close(fd);
  unlink(path);
  return 0;
}
