/*
 * UDP echo backend for the data-plane benchmark. Echoes every datagram to its sender,
 * unchanged, in batches (recvmmsg/sendmmsg) so the backend is never the bottleneck.
 *
 *   udp-echo PORT [MAX_SECONDS]
 *
 * Binds 127.0.0.1:PORT (0 = ephemeral), prints "port N" once ready, and exits on
 * SIGTERM/SIGINT or after MAX_SECONDS (default 3600) so a forgotten one cannot linger.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BATCH 64
#define MAX_DGRAM 2048

static volatile sig_atomic_t stop_requested = 0;

static void on_signal(int sig) {
  (void)sig;
  stop_requested = 1;
}

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: udp-echo PORT [MAX_SECONDS]\n");
    return 2;
  }
  int port = atoi(argv[1]);
  double max_seconds = argc > 2 ? atof(argv[2]) : 3600.0;
  if (port < 0 || port > 65535 || max_seconds <= 0) {
    fprintf(stderr, "udp-echo: bad arguments\n");
    return 2;
  }
  signal(SIGTERM, on_signal);
  signal(SIGINT, on_signal);

  int fd = socket(AF_INET, SOCK_DGRAM, 0);
  if (fd < 0) { perror("socket"); return 1; }
  int buf = 4 * 1024 * 1024;
  setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &buf, sizeof buf);
  setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &buf, sizeof buf);
  struct sockaddr_in addr;
  memset(&addr, 0, sizeof addr);
  addr.sin_family = AF_INET;
  addr.sin_port = htons((unsigned short)port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(fd, (struct sockaddr *)&addr, sizeof addr) < 0) { perror("bind"); return 1; }
  socklen_t len = sizeof addr;
  getsockname(fd, (struct sockaddr *)&addr, &len);
  printf("port %d\n", ntohs(addr.sin_port));
  fflush(stdout);

  static char data[BATCH][MAX_DGRAM];
  struct mmsghdr msgs[BATCH];
  struct iovec iov[BATCH];
  struct sockaddr_in peers[BATCH];
  double deadline = now_s() + max_seconds;
  unsigned long long echoed = 0;

  while (!stop_requested && now_s() < deadline) {
    struct pollfd pfd = { .fd = fd, .events = POLLIN };
    int ready = poll(&pfd, 1, 200);
    if (ready <= 0) continue;
    for (int i = 0; i < BATCH; i++) {
      iov[i].iov_base = data[i];
      iov[i].iov_len = MAX_DGRAM;
      memset(&msgs[i].msg_hdr, 0, sizeof msgs[i].msg_hdr);
      msgs[i].msg_hdr.msg_iov = &iov[i];
      msgs[i].msg_hdr.msg_iovlen = 1;
      msgs[i].msg_hdr.msg_name = &peers[i];
      msgs[i].msg_hdr.msg_namelen = sizeof peers[i];
    }
    int n = recvmmsg(fd, msgs, BATCH, MSG_DONTWAIT, NULL);
    if (n <= 0) continue;
    for (int i = 0; i < n; i++) iov[i].iov_len = msgs[i].msg_len;
    int sent = 0;
    /* Bounded: a send that makes no progress ends the attempt; the datagram is dropped. */
    for (int tries = 0; sent < n && tries < 8; tries++) {
      int k = sendmmsg(fd, msgs + sent, (unsigned)(n - sent), 0);
      if (k <= 0) {
        if (k < 0 && errno != EAGAIN && errno != EINTR && errno != ECONNREFUSED) break;
        continue;
      }
      sent += k;
    }
    echoed += (unsigned long long)sent;
  }
  fprintf(stderr, "udp-echo: echoed %llu datagrams\n", echoed);
  close(fd);
  return 0;
}
