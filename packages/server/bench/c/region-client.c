/*
 * A small vfio-user client in C for comparing servers on equal terms: it negotiates VERSION, then
 * times a loop of one operation against each server in turn, alternating rounds so that noise on a
 * shared machine hits every server alike. Built at bench time by bench/c-client.ts; not shipped.
 *
 *   region-client [--cpu N] [--rounds R] [--count N] [--op read|posted-write] [--region I]
 *                 [--offset O] [--size S] SOCKET[#REGION#OFFSET]...
 *
 * `read` sends REGION_READ and waits for each reply (a round trip). `posted-write` sends
 * REGION_WRITE with the No_reply flag (as QEMU posts BAR writes) and ends each batch with one
 * REGION_READ of the same region so that every write has been processed when the clock stops.
 * A socket may carry its own region and offset (`path#2#0x0`), so that servers whose devices
 * differ can be compared on equivalent registers.
 * Prints one JSON line per server: {"socket":..., "ops_per_sec":[per round...]}.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

enum { CMD_VERSION = 1, CMD_REGION_READ = 9, CMD_REGION_WRITE = 10 };
enum { FLAG_REPLY = 0x1, FLAG_NO_REPLY = 0x10, FLAG_ERROR = 0x20 };

struct __attribute__((packed)) header {
  uint16_t msg_id;
  uint16_t cmd;
  uint32_t msg_size;
  uint32_t flags;
  uint32_t error_no;
};

struct __attribute__((packed)) region_access {
  uint64_t offset;
  uint32_t region;
  uint32_t count;
};

static void die(const char *what) {
  perror(what);
  exit(1);
}

static void write_all(int fd, const void *buf, size_t len) {
  const char *p = buf;
  while (len > 0) {
    ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      die("send");
    }
    p += n;
    len -= (size_t)n;
  }
}

static void read_all(int fd, void *buf, size_t len) {
  char *p = buf;
  while (len > 0) {
    ssize_t n = recv(fd, p, len, 0);
    if (n == 0) {
      fprintf(stderr, "server closed the connection\n");
      exit(1);
    }
    if (n < 0) {
      if (errno == EINTR) continue;
      die("recv");
    }
    p += n;
    len -= (size_t)n;
  }
}

/* Reads one reply into buf (header included); fails on an error reply. */
static size_t read_reply(int fd, uint8_t *buf, size_t cap, uint16_t want_id) {
  struct header *h = (struct header *)buf;
  read_all(fd, buf, sizeof *h);
  if (h->msg_size < sizeof *h || h->msg_size > cap) {
    fprintf(stderr, "reply of %u bytes does not fit\n", h->msg_size);
    exit(1);
  }
  read_all(fd, buf + sizeof *h, h->msg_size - sizeof *h);
  if ((h->flags & FLAG_ERROR) != 0 || h->msg_id != want_id) {
    fprintf(stderr, "error reply (errno %u) or wrong msg_id %u (wanted %u) for command %u\n", h->error_no,
            h->msg_id, want_id, h->cmd);
    exit(1);
  }
  return h->msg_size;
}

static int connect_server(const char *path) {
  int fd = socket(AF_UNIX, SOCK_STREAM, 0);
  if (fd < 0) die("socket");
  struct sockaddr_un addr = {.sun_family = AF_UNIX};
  if (strlen(path) >= sizeof addr.sun_path) {
    fprintf(stderr, "socket path too long: %s\n", path);
    exit(1);
  }
  strcpy(addr.sun_path, path);
  if (connect(fd, (struct sockaddr *)&addr, sizeof addr) < 0) die(path);

  static const char caps[] = "{\"capabilities\":{\"max_msg_fds\":8,\"max_data_xfer_size\":1048576}}";
  uint8_t msg[256];
  struct header *h = (struct header *)msg;
  size_t size = sizeof *h + 4 + sizeof caps;
  memset(msg, 0, sizeof msg);
  h->msg_id = 0;
  h->cmd = CMD_VERSION;
  h->msg_size = (uint32_t)size;
  uint16_t version[2] = {0, 1};
  memcpy(msg + sizeof *h, version, 4);
  memcpy(msg + sizeof *h + 4, caps, sizeof caps);
  write_all(fd, msg, size);
  uint8_t reply[4096];
  read_reply(fd, reply, sizeof reply, 0);
  return fd;
}

struct options {
  int cpu, rounds, count, region, size, posted;
  uint64_t offset;
};

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double run_batch(int fd, const struct options *o, uint16_t *msg_id) {
  uint8_t msg[sizeof(struct header) + sizeof(struct region_access) + 8];
  uint8_t reply[sizeof(struct header) + sizeof(struct region_access) + 64];
  struct header *h = (struct header *)msg;
  struct region_access *ra = (struct region_access *)(msg + sizeof *h);
  double start = now();
  for (int i = 0; i < o->count; i++) {
    memset(msg, 0, sizeof msg);
    h->msg_id = (*msg_id)++;
    ra->offset = o->offset;
    ra->region = (uint32_t)o->region;
    ra->count = (uint32_t)o->size;
    if (o->posted) {
      h->cmd = CMD_REGION_WRITE;
      h->flags = FLAG_NO_REPLY;
      h->msg_size = (uint32_t)(sizeof *h + sizeof *ra + (size_t)o->size);
      write_all(fd, msg, h->msg_size);
    } else {
      h->cmd = CMD_REGION_READ;
      h->msg_size = sizeof *h + sizeof *ra;
      write_all(fd, msg, h->msg_size);
      read_reply(fd, reply, sizeof reply, h->msg_id);
    }
  }
  if (o->posted) {
    /* One read after the batch: replies come in order, so every posted write is done. */
    memset(msg, 0, sizeof msg);
    h->msg_id = (*msg_id)++;
    h->cmd = CMD_REGION_READ;
    h->msg_size = sizeof *h + sizeof *ra;
    ra->offset = o->offset;
    ra->region = (uint32_t)o->region;
    ra->count = (uint32_t)o->size;
    write_all(fd, msg, h->msg_size);
    read_reply(fd, reply, sizeof reply, h->msg_id);
  }
  return (double)o->count / (now() - start);
}

int main(int argc, char **argv) {
  struct options o = {.cpu = -1, .rounds = 5, .count = 20000, .region = 7, .size = 4, .posted = 0, .offset = 0};
  int first = 1;
  for (; first < argc && strncmp(argv[first], "--", 2) == 0; first += 2) {
    if (first + 1 >= argc) {
      fprintf(stderr, "%s needs a value\n", argv[first]);
      return 2;
    }
    const char *k = argv[first], *v = argv[first + 1];
    if (!strcmp(k, "--cpu")) o.cpu = atoi(v);
    else if (!strcmp(k, "--rounds")) o.rounds = atoi(v);
    else if (!strcmp(k, "--count")) o.count = atoi(v);
    else if (!strcmp(k, "--region")) o.region = atoi(v);
    else if (!strcmp(k, "--offset")) o.offset = strtoull(v, NULL, 0);
    else if (!strcmp(k, "--size")) o.size = atoi(v);
    else if (!strcmp(k, "--op")) o.posted = !strcmp(v, "posted-write");
    else {
      fprintf(stderr, "unknown option %s\n", k);
      return 2;
    }
  }
  int servers = argc - first;
  if (servers < 1 || o.size < 1 || o.size > 8 || o.count < 1 || o.rounds < 1) {
    fprintf(stderr, "usage: region-client [--cpu N] [--rounds R] [--count N] [--op read|posted-write] "
                    "[--region I] [--offset O] [--size 1..8] SOCKET...\n");
    return 2;
  }
  if (o.cpu >= 0) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(o.cpu, &set);
    if (sched_setaffinity(0, sizeof set, &set) < 0) die("sched_setaffinity");
  }
  int *fds = calloc((size_t)servers, sizeof *fds);
  struct options *per = calloc((size_t)servers, sizeof *per);
  uint16_t *ids = calloc((size_t)servers, sizeof *ids);
  double *rates = calloc((size_t)(servers * o.rounds), sizeof *rates);
  for (int s = 0; s < servers; s++) {
    per[s] = o;
    char *spec = argv[first + s];
    char *hash = strchr(spec, '#');
    if (hash != NULL) {
      *hash = '\0';
      per[s].region = atoi(hash + 1);
      char *off = strchr(hash + 1, '#');
      if (off != NULL) per[s].offset = strtoull(off + 1, NULL, 0);
    }
    fds[s] = connect_server(spec);
    ids[s] = 1;
    struct options warm = per[s];
    warm.count = o.count / 10 + 1;
    run_batch(fds[s], &warm, &ids[s]);
  }
  for (int r = 0; r < o.rounds; r++)
    for (int s = 0; s < servers; s++) rates[s * o.rounds + r] = run_batch(fds[s], &per[s], &ids[s]);
  for (int s = 0; s < servers; s++) {
    printf("{\"socket\":\"%s\",\"ops_per_sec\":[", argv[first + s]);
    for (int r = 0; r < o.rounds; r++) printf("%s%.0f", r ? "," : "", rates[s * o.rounds + r]);
    printf("]}\n");
    close(fds[s]);
  }
  return 0;
}
