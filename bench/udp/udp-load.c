/*
 * UDP load generator for the data-plane benchmark: keeps a fixed number of datagrams in
 * flight towards a target (a proxy or the echo backend itself) and counts the replies.
 *
 *   udp-load HOST PORT SECONDS INFLIGHT FLOWS SIZE
 *
 * FLOWS connected sockets (one client address:port each, so a proxy sees FLOWS flows)
 * share INFLIGHT datagrams of SIZE bytes. Each reply is answered with a new datagram, so
 * the window stays full. A flow that hears nothing for STALL_MS while it has datagrams
 * out assumes they were lost and refills its window (counted as "refills"). Prints one
 * JSON line: {"replies":..,"seconds":..,"per_second":..,"sent":..,"bad":..,...}.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_FLOWS 64
#define BATCH 64
#define MAX_DGRAM 2048
#define STALL_MS 20.0

struct flow {
  int fd;
  int window;
  int outstanding;
  double last_activity;
};

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static char payload[MAX_DGRAM];
static unsigned long long sent_total = 0, errors = 0;

/* Sends up to `count` datagrams on the flow; returns how many left. */
static int send_some(struct flow *f, int count, int size) {
  struct mmsghdr msgs[BATCH];
  struct iovec iov[BATCH];
  if (count > BATCH) count = BATCH;
  if (count <= 0) return 0;
  for (int i = 0; i < count; i++) {
    iov[i].iov_base = payload;
    iov[i].iov_len = (size_t)size;
    memset(&msgs[i].msg_hdr, 0, sizeof msgs[i].msg_hdr);
    msgs[i].msg_hdr.msg_iov = &iov[i];
    msgs[i].msg_hdr.msg_iovlen = 1;
  }
  int k = sendmmsg(f->fd, msgs, (unsigned)count, MSG_DONTWAIT);
  if (k < 0) {
    errors++;
    return 0;
  }
  sent_total += (unsigned long long)k;
  return k;
}

static void refill(struct flow *f, int size) {
  int missing = f->window - f->outstanding;
  if (missing > 0) f->outstanding += send_some(f, missing, size);
}

int main(int argc, char **argv) {
  if (argc < 7) {
    fprintf(stderr, "usage: udp-load HOST PORT SECONDS INFLIGHT FLOWS SIZE\n");
    return 2;
  }
  const char *host = argv[1];
  int port = atoi(argv[2]);
  double seconds = atof(argv[3]);
  int inflight = atoi(argv[4]);
  int nflows = atoi(argv[5]);
  int size = atoi(argv[6]);
  if (port <= 0 || port > 65535 || seconds <= 0 || seconds > 3600 || inflight < 1 || nflows < 1 ||
      nflows > MAX_FLOWS || nflows > inflight || size < 1 || size > MAX_DGRAM) {
    fprintf(stderr, "udp-load: bad arguments\n");
    return 2;
  }
  for (int i = 0; i < size; i++) payload[i] = (char)('a' + i % 26);

  struct sockaddr_in target;
  memset(&target, 0, sizeof target);
  target.sin_family = AF_INET;
  target.sin_port = htons((unsigned short)port);
  if (inet_pton(AF_INET, host, &target.sin_addr) != 1) {
    fprintf(stderr, "udp-load: bad IPv4 address %s\n", host);
    return 2;
  }

  struct flow flows[MAX_FLOWS];
  struct pollfd pfds[MAX_FLOWS];
  double start = now_s();
  for (int i = 0; i < nflows; i++) {
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    if (fd < 0) { perror("socket"); return 1; }
    int buf = 1024 * 1024;
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &buf, sizeof buf);
    if (connect(fd, (struct sockaddr *)&target, sizeof target) < 0) { perror("connect"); return 1; }
    flows[i].fd = fd;
    flows[i].window = inflight / nflows + (i < inflight % nflows ? 1 : 0);
    flows[i].outstanding = 0;
    flows[i].last_activity = start;
    pfds[i].fd = fd;
    pfds[i].events = POLLIN;
  }

  unsigned long long replies = 0, bad = 0, refills = 0;
  static char data[BATCH][MAX_DGRAM];
  struct mmsghdr msgs[BATCH];
  struct iovec iov[BATCH];
  double deadline = start + seconds;

  for (int i = 0; i < nflows; i++) refill(&flows[i], size);
  double now = now_s();
  while (now < deadline) {
    int ready = poll(pfds, (nfds_t)nflows, 5);
    now = now_s();
    for (int i = 0; i < nflows && ready > 0; i++) {
      struct flow *f = &flows[i];
      if (!(pfds[i].revents & (POLLIN | POLLERR))) continue;
      for (int j = 0; j < BATCH; j++) {
        iov[j].iov_base = data[j];
        iov[j].iov_len = MAX_DGRAM;
        memset(&msgs[j].msg_hdr, 0, sizeof msgs[j].msg_hdr);
        msgs[j].msg_hdr.msg_iov = &iov[j];
        msgs[j].msg_hdr.msg_iovlen = 1;
      }
      int n = recvmmsg(f->fd, msgs, BATCH, MSG_DONTWAIT, NULL);
      if (n < 0) {
        if (errno != EAGAIN && errno != EWOULDBLOCK) errors++;
        continue;
      }
      for (int j = 0; j < n; j++) {
        if ((int)msgs[j].msg_len == size) replies++;
        else bad++;
      }
      f->outstanding -= n;
      if (f->outstanding < 0) f->outstanding = 0;
      f->last_activity = now;
      refill(f, size);
    }
    for (int i = 0; i < nflows; i++) {
      struct flow *f = &flows[i];
      if ((now - f->last_activity) * 1000.0 >= STALL_MS) {
        if (f->outstanding > 0) refills++;
        f->outstanding = 0;
        f->last_activity = now;
        refill(f, size);
      }
    }
  }
  double elapsed = now_s() - start;
  printf("{\"replies\":%llu,\"seconds\":%.3f,\"per_second\":%.1f,\"sent\":%llu,\"bad\":%llu,"
         "\"refills\":%llu,\"errors\":%llu,\"inflight\":%d,\"flows\":%d,\"size\":%d}\n",
         replies, elapsed, (double)replies / elapsed, sent_total, bad, refills, errors, inflight, nflows, size);
  for (int i = 0; i < nflows; i++) close(flows[i].fd);
  return 0;
}
