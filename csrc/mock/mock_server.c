/*
 * The server thread: one epoll loop over non-blocking loopback sockets.
 *
 * A connection handles one request at a time: the response is built at once, then
 * either written or parked on a timer (latency, jitter, slow:MS). Pipelined requests
 * wait in the input buffer until the previous answer has left, which keeps them in
 * order without a queue. Timers live in a binary heap keyed by deadline; each
 * connection has at most one, and knows its heap slot so closing it is O(log n).
 */
#include "mock_http.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>

/* C_DRAIN: our side is finished (FIN sent) and the peer's remaining bytes are read and
 * dropped until it closes, so closing with unread input cannot turn into an RST that
 * destroys the answer (a 413 sent while the client is still uploading, say). */
/* C_DRIP: a slowloris answer leaves one byte per timer tick. */
enum { C_READ, C_PENDING, C_STALL, C_DRAIN, C_DRIP };

/* Streamed hostile answers: what the feeder appends each time the socket drains. */
enum { FEED_NONE, FEED_BODY, FEED_CHUNKS, FEED_HEADERS };
#define FEED_TOTAL ((uint64_t)64 * 1024 * 1024)
#define FEED_STEP (64 * 1024)

#define DRAIN_TIMEOUT_S 2.0

typedef struct conn {
  int fd;
  int state;
  mbuf in, out;
  size_t out_off;
  int heap_idx; /* -1 when no timer */
  double deadline;
  mresp pending;
  int pending_keep;
  int inflight;     /* counted in the in_flight gauge */
  int rd_eof;       /* peer finished sending: close once the answer is out */
  int close_after;  /* close once out is flushed */
  int sent_continue;
  int watching_out; /* EPOLLOUT registered */
  size_t drained;   /* bytes dropped in C_DRAIN */
  int feed;         /* FEED_*: more bytes to produce once out has left */
  uint64_t feed_left;
  uint64_t feed_n;  /* header lines produced, to number them */
  long drip_ms;
  struct conn *prev, *next;
} conn;

struct mserver {
  mconfig cfg;
  int lfd, epfd, evfd, spare_fd;
  int port;
  pthread_t th;
  mstats *stats;
  prompt_table *prompts;
  mcaches *caches;
  mbatches *batches;
  rng rng;
  bucket rpm, tpm;
  conn **heap;
  size_t heap_n, heap_cap;
  conn *conns;
  mbuf chunked; /* decoded chunked body of the request being handled */
  char rbuf[64 * 1024];
};

/* epoll tags for the two non-connection descriptors */
static char tag_listen, tag_wake;

double mono_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* ---- timer heap ---- */

static void heap_swap(mserver *s, size_t a, size_t b) {
  conn *t = s->heap[a];
  s->heap[a] = s->heap[b];
  s->heap[b] = t;
  s->heap[a]->heap_idx = (int)a;
  s->heap[b]->heap_idx = (int)b;
}

static void heap_up(mserver *s, size_t i) {
  while (i > 0) {
    size_t p = (i - 1) / 2;
    if (s->heap[p]->deadline <= s->heap[i]->deadline) break;
    heap_swap(s, p, i);
    i = p;
  }
}

static void heap_down(mserver *s, size_t i) {
  for (;;) {
    size_t l = 2 * i + 1, r = l + 1, m = i;
    if (l < s->heap_n && s->heap[l]->deadline < s->heap[m]->deadline) m = l;
    if (r < s->heap_n && s->heap[r]->deadline < s->heap[m]->deadline) m = r;
    if (m == i) return;
    heap_swap(s, i, m);
    i = m;
  }
}

static void heap_push(mserver *s, conn *c) {
  if (s->heap_n == s->heap_cap) {
    s->heap_cap = s->heap_cap ? s->heap_cap * 2 : 64;
    conn **h = realloc(s->heap, s->heap_cap * sizeof *h);
    if (!h) abort();
    s->heap = h;
  }
  s->heap[s->heap_n] = c;
  c->heap_idx = (int)s->heap_n++;
  heap_up(s, (size_t)c->heap_idx);
}

static void heap_remove(mserver *s, conn *c) {
  if (c->heap_idx < 0) return;
  size_t i = (size_t)c->heap_idx;
  s->heap_n--;
  if (i != s->heap_n) {
    s->heap[i] = s->heap[s->heap_n];
    s->heap[i]->heap_idx = (int)i;
    heap_down(s, i);
    heap_up(s, i);
  }
  c->heap_idx = -1;
}

/* ---- connections ---- */

static void resp_init(mresp *r) {
  memset(r, 0, sizeof *r);
  mb_init(&r->extra_headers);
  mb_init(&r->body);
}

static void resp_free(mresp *r) {
  mb_free(&r->extra_headers);
  mb_free(&r->body);
}

static void conn_close(mserver *s, conn *c, int rst) {
  heap_remove(s, c);
  if (rst) {
    struct linger lg = {1, 0};
    setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
  }
  /* explicit removal: a fork in another thread may briefly hold a copy of fd, and epoll
   * would keep reporting events for a connection we already freed */
  epoll_ctl(s->epfd, EPOLL_CTL_DEL, c->fd, NULL);
  close(c->fd);
  if (c->inflight) stats_inflight(s->stats, -1);
  stats_conn(s->stats, -1);
  resp_free(&c->pending);
  mb_free(&c->in);
  mb_free(&c->out);
  if (c->prev) c->prev->next = c->next;
  else s->conns = c->next;
  if (c->next) c->next->prev = c->prev;
  free(c);
}

static void watch(mserver *s, conn *c, int out) {
  if (c->watching_out == out) return;
  struct epoll_event ev = {.events = EPOLLIN | (out ? EPOLLOUT : 0), .data.ptr = c};
  epoll_ctl(s->epfd, EPOLL_CTL_MOD, c->fd, &ev);
  c->watching_out = out;
}

static void in_drop(conn *c) {
  c->in.len = 0;
  if (c->in.cap > 64 * 1024) mb_free(&c->in);
}

/* Refills out for a streamed hostile answer; the client's limits end it long before
 * FEED_TOTAL, which only bounds a client that has none. */
static void feed_more(conn *c) {
  c->out.len = c->out_off = 0;
  size_t n = c->feed_left < FEED_STEP ? (size_t)c->feed_left : FEED_STEP;
  if (c->feed == FEED_HEADERS) {
    while (c->out.len < n)
      mb_printf(&c->out, "X-Pad-%llu: %s\r\n", (unsigned long long)c->feed_n++,
                "a-header-that-is-followed-by-another-one-and-another-one-and-never-by-an-empty-line");
    n = c->out.len;
  } else {
    if (c->feed == FEED_CHUNKS) mb_printf(&c->out, "%zx\r\n", n);
    mb_reserve(&c->out, n + 2);
    memset(c->out.p + c->out.len, ' ', n);
    c->out.len += n;
    if (c->feed == FEED_CHUNKS) mb_put(&c->out, "\r\n", 2);
  }
  c->feed_left -= n < c->feed_left ? n : c->feed_left;
  if (!c->feed_left) {
    if (c->feed == FEED_CHUNKS) mb_puts(&c->out, "0\r\n\r\n");
    c->feed = FEED_NONE;
  }
}

/* Writes what is pending. Returns -1 when the connection was closed. */
static int conn_flush(mserver *s, conn *c) {
  if (c->state == C_DRIP) return 0; /* the drip timer sends, one byte at a time */
  while (c->out_off < c->out.len || c->feed) {
    if (c->out_off == c->out.len) feed_more(c);
    ssize_t n = send(c->fd, c->out.p + c->out_off, c->out.len - c->out_off, MSG_NOSIGNAL);
    if (n > 0) {
      c->out_off += (size_t)n;
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      watch(s, c, 1);
      return 0;
    }
    conn_close(s, c, 0);
    return -1;
  }
  c->out.len = c->out_off = 0;
  if (c->out.cap > 256 * 1024) mb_free(&c->out);
  watch(s, c, 0);
  if (c->state == C_DRAIN) return 0;
  if (c->close_after && !c->rd_eof) {
    shutdown(c->fd, SHUT_WR);
    c->state = C_DRAIN;
    in_drop(c);
    heap_remove(s, c);
    c->deadline = mono_now() + DRAIN_TIMEOUT_S;
    heap_push(s, c);
    return 0;
  }
  if (c->close_after || (c->rd_eof && c->state == C_READ)) {
    conn_close(s, c, 0);
    return -1;
  }
  return 0;
}

/* Queues a response; returns -1 when the connection was closed. */
static int conn_emit(mserver *s, conn *c, mresp *r, int keep) {
  if (c->inflight) {
    stats_inflight(s->stats, -1);
    c->inflight = 0;
  }
  if (r->action == ACT_RESET) {
    resp_free(r);
    conn_close(s, c, 1);
    return -1;
  }
  if (r->counted) stats_answered(s->stats, r->status);
  if (r->close_after) keep = 0;
  if (r->action == ACT_HUGE || r->action == ACT_HUGECHUNKED || r->action == ACT_ENDLESS) {
    mb_puts(&c->out, "HTTP/1.1 200 OK\r\nContent-Type: application/json; charset=UTF-8\r\nConnection: close\r\n");
    if (r->action == ACT_HUGE)
      mb_printf(&c->out, "Content-Length: %llu\r\n\r\n", (unsigned long long)FEED_TOTAL);
    else if (r->action == ACT_HUGECHUNKED)
      mb_puts(&c->out, "Transfer-Encoding: chunked\r\n\r\n");
    c->feed = r->action == ACT_HUGE ? FEED_BODY : r->action == ACT_HUGECHUNKED ? FEED_CHUNKS : FEED_HEADERS;
    c->feed_left = FEED_TOTAL;
    c->close_after = 1;
    resp_free(r);
    return conn_flush(s, c);
  }
  resp_status_headers(&c->out, r, keep);
  if (r->action == ACT_DRIP) {
    mb_put(&c->out, r->body.p, r->body.len);
    c->close_after = 1;
    c->state = C_DRIP;
    c->drip_ms = r->drip_ms;
    resp_free(r);
    heap_remove(s, c);
    c->deadline = mono_now() + (double)c->drip_ms / 1000.0;
    heap_push(s, c);
    return 0;
  }
  if (r->action == ACT_TRUNCATE) {
    mb_put(&c->out, r->body.p, r->body.len / 2);
    c->close_after = 1;
  } else {
    mb_put(&c->out, r->body.p, r->body.len);
  }
  if (!keep) c->close_after = 1;
  resp_free(r);
  return conn_flush(s, c);
}

/* A half-received request may wait this long for its next byte: a client that stops
 * mid-request must not hold a connection forever. Idle keep-alive connections (nothing
 * buffered) have no timer, as client pools expect. */
#define IDLE_TIMEOUT_S 30.0

static void arm_idle(mserver *s, conn *c) {
  heap_remove(s, c);
  if (c->in.len == 0) return;
  c->deadline = mono_now() + IDLE_TIMEOUT_S;
  heap_push(s, c);
}

static void simple_error(mresp *r, int status, const char *gstatus, const char *msg) {
  gemini_error(r, status, gstatus, msg, NULL);
  r->close_after = 1;
}

/* Parses and answers buffered requests. Returns -1 when the connection was closed. */
static int conn_process(mserver *s, conn *c) {
  while (c->state == C_READ && c->out.len == 0 && !c->close_after) {
    mreq q;
    size_t used = 0;
    int expect = 0;
    int rc = http_parse(c->in.p ? c->in.p : "", c->in.len, &q, &used, &expect, &s->chunked);
    if (rc == HP_NEED_MORE) {
      arm_idle(s, c);
      if (expect && !c->sent_continue) {
        c->sent_continue = 1;
        mb_puts(&c->out, "HTTP/1.1 100 Continue\r\n\r\n");
        return conn_flush(s, c);
      }
      if (c->rd_eof) {
        conn_close(s, c, 0);
        return -1;
      }
      return 0;
    }
    mresp r;
    resp_init(&r);
    if (rc != HP_OK) {
      if (rc == HP_TOO_BIG_HEADER)
        simple_error(&r, 431, "INVALID_ARGUMENT", "Request header fields too large.");
      else if (rc == HP_TOO_BIG_BODY)
        simple_error(&r, 413, "INVALID_ARGUMENT", "Request payload size exceeds the limit: 8388608 bytes.");
      else if (rc == HP_UNSUPPORTED)
        simple_error(&r, 501, "UNIMPLEMENTED", "Transfer-Encoding not supported.");
      else
        simple_error(&r, 400, "INVALID_ARGUMENT", "Malformed HTTP request.");
      c->in.len = 0;
      return conn_emit(s, c, &r, 0);
    }
    c->sent_continue = 0;
    heap_remove(s, c); /* the idle timer, if any */
    mctx ctx = {&s->cfg, s->stats, s->prompts, &s->rng, &s->rpm, &s->tpm, mono_now(), s->caches, s->batches};
    route_request(&ctx, &q, &r);
    int keep = q.keepalive ? (q.http10 ? 2 : 1) : 0;
    mb_consume(&c->in, used);
    if (s->chunked.cap > 1024 * 1024) mb_free(&s->chunked);
    if (c->in.len == 0 && c->in.cap > 256 * 1024) mb_free(&c->in);
    long delay = 0;
    if (r.counted) {
      stats_inflight(s->stats, 1);
      c->inflight = 1;
      delay = s->cfg.latency_ms + r.delay_ms;
      if (s->cfg.jitter_ms > 0) delay += (long)(rng_unit(&s->rng) * (double)(s->cfg.jitter_ms + 1));
    }
    if (r.action == ACT_STALL) {
      resp_free(&r);
      c->state = C_STALL;
      return 0;
    }
    if (delay > 0) {
      c->state = C_PENDING;
      c->pending = r;
      c->pending_keep = keep;
      c->deadline = ctx.now + (double)delay / 1000.0;
      heap_push(s, c);
      return 0;
    }
    if (conn_emit(s, c, &r, keep) < 0) return -1;
  }
  return 0;
}

static int conn_read(mserver *s, conn *c) {
  for (;;) {
    ssize_t n = recv(c->fd, s->rbuf, sizeof s->rbuf, 0);
    if (n > 0) {
      if (c->state == C_STALL) continue; /* a stalled peer's bytes go nowhere */
      if (c->state == C_DRAIN) {
        /* keep draining while the peer makes progress, up to a bound */
        c->drained += (size_t)n;
        if (c->drained > 2 * (size_t)MOCK_MAX_UPLOAD) {
          conn_close(s, c, 0);
          return -1;
        }
        heap_remove(s, c);
        c->deadline = mono_now() + DRAIN_TIMEOUT_S;
        heap_push(s, c);
        continue;
      }
      mb_put(&c->in, s->rbuf, (size_t)n);
      /* bound what a peer can make us hold: one maximal request and change */
      if (c->in.len > MOCK_MAX_HEADER + MOCK_MAX_UPLOAD + 65536) {
        conn_close(s, c, 0);
        return -1;
      }
      /* parse before reading on: a request can be refused (413) from its headers
       * instead of its whole body piling up first; epoll reports the rest again */
      if (c->state == C_READ) break;
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
    /* EOF or error */
    if (n < 0 || c->state == C_STALL || c->state == C_DRAIN || c->state == C_DRIP || (c->state == C_READ && c->out.len == 0 && c->in.len == 0)) {
      conn_close(s, c, 0);
      return -1;
    }
    c->rd_eof = 1;
    /* stop reporting a readable socket that has nothing more to say */
    struct epoll_event ev = {.events = c->watching_out ? EPOLLOUT : 0, .data.ptr = c};
    epoll_ctl(s->epfd, EPOLL_CTL_MOD, c->fd, &ev);
    break;
  }
  return conn_process(s, c);
}

static void accept_all(mserver *s) {
  for (;;) {
    int fd = accept4(s->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR) continue;
      if ((errno == EMFILE || errno == ENFILE) && s->spare_fd >= 0) {
        /* out of descriptors: free the spare to accept and drop one, so the level-triggered
         * listener does not spin */
        close(s->spare_fd);
        fd = accept(s->lfd, NULL, NULL);
        if (fd >= 0) close(fd);
        s->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
        continue;
      }
      return;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    conn *c = calloc(1, sizeof *c);
    if (!c) abort();
    c->fd = fd;
    c->heap_idx = -1;
    resp_init(&c->pending);
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
    if (epoll_ctl(s->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
      close(fd);
      free(c);
      continue;
    }
    c->next = s->conns;
    if (s->conns) s->conns->prev = c;
    s->conns = c;
    stats_conn(s->stats, 1);
  }
}

static void fire_timers(mserver *s, double now) {
  while (s->heap_n && s->heap[0]->deadline <= now) {
    conn *c = s->heap[0];
    heap_remove(s, c);
    if (c->state == C_DRAIN) {
      conn_close(s, c, 0);
      continue;
    }
    if (c->state == C_DRIP) {
      ssize_t w = c->out_off < c->out.len ? send(c->fd, c->out.p + c->out_off, 1, MSG_NOSIGNAL) : 0;
      if (w > 0) c->out_off++;
      if (w < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
        conn_close(s, c, 0);
        continue;
      }
      if (c->out_off >= c->out.len) {
        conn_close(s, c, 0);
        continue;
      }
      c->deadline = now + (double)c->drip_ms / 1000.0;
      heap_push(s, c);
      continue;
    }
    if (c->state == C_READ) { /* idle timer of a half-received request */
      mresp r;
      resp_init(&r);
      simple_error(&r, 408, "DEADLINE_EXCEEDED", "Timed out waiting for the rest of the request.");
      c->in.len = 0;
      conn_emit(s, c, &r, 0);
      continue;
    }
    c->state = C_READ;
    mresp r = c->pending;
    resp_init(&c->pending);
    if (conn_emit(s, c, &r, c->pending_keep) < 0) continue;
    conn_process(s, c);
  }
}

static void *server_main(void *arg) {
  mserver *s = arg;
  struct epoll_event evs[512];
  int running = 1;
  while (running) {
    /* Latency is the mock's main knob, and benchmarks compare makespans with it to a few
     * percent: wake at the deadline to the microsecond, not rounded up to a millisecond
     * (epoll_pwait2; epoll_wait's whole milliseconds where the kernel lacks it). */
    struct timespec ts, *tsp = NULL;
    int timeout = -1;
    if (s->heap_n) {
      double sec = s->heap[0]->deadline - mono_now();
      if (sec < 0) sec = 0;
      ts.tv_sec = (time_t)sec;
      ts.tv_nsec = (long)((sec - (double)ts.tv_sec) * 1e9);
      tsp = &ts;
      timeout = (int)(sec * 1000.0) + 1;
    }
    int n = epoll_pwait2(s->epfd, evs, 512, tsp, NULL);
    if (n < 0 && errno == ENOSYS) n = epoll_wait(s->epfd, evs, 512, timeout);
    if (n < 0 && errno != EINTR) break;
    for (int i = 0; i < n; i++) {
      void *p = evs[i].data.ptr;
      if (p == &tag_wake) {
        running = 0;
      } else if (p == &tag_listen) {
        accept_all(s);
      } else {
        conn *c = p;
        uint32_t e = evs[i].events;
        if (e & (EPOLLIN | EPOLLERR | EPOLLHUP)) {
          if (conn_read(s, c) < 0) continue;
        }
        if (e & EPOLLOUT) {
          if (conn_flush(s, c) < 0) continue;
          conn_process(s, c);
        }
      }
    }
    fire_timers(s, mono_now());
  }
  while (s->conns) conn_close(s, s->conns, 0);
  return NULL;
}

mserver *server_start(const mconfig *cfg, char *err, size_t errlen) {
  mserver *s = calloc(1, sizeof *s);
  if (!s) abort();
  s->cfg = *cfg;
  s->lfd = s->epfd = s->evfd = s->spare_fd = -1;
  s->rng.s = cfg->seed ^ 0x5DEECE66DULL;
  double now = mono_now();
  double burst_req = cfg->burst > 0 ? cfg->burst : (cfg->rpm / 60.0 < 1 ? 1 : cfg->rpm / 60.0);
  bucket_init(&s->rpm, cfg->rpm, burst_req, now);
  bucket_init(&s->tpm, cfg->tpm, cfg->tpm / 60.0, now);
  if (cfg->window_s > 0) {
    bucket_init_window(&s->rpm, cfg->rpm, cfg->window_s);
    bucket_init_window(&s->tpm, cfg->tpm, cfg->window_s);
  }

  s->lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (s->lfd < 0) goto fail;
  int one = 1;
  setsockopt(s->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  struct sockaddr_in a;
  memset(&a, 0, sizeof a);
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons((uint16_t)cfg->port);
  if (bind(s->lfd, (struct sockaddr *)&a, sizeof a) < 0) goto fail;
  if (listen(s->lfd, 4096) < 0) goto fail;
  socklen_t al = sizeof a;
  if (getsockname(s->lfd, (struct sockaddr *)&a, &al) < 0) goto fail;
  s->port = ntohs(a.sin_port);
  s->epfd = epoll_create1(EPOLL_CLOEXEC);
  s->evfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  s->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (s->epfd < 0 || s->evfd < 0) goto fail;
  struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &tag_listen};
  if (epoll_ctl(s->epfd, EPOLL_CTL_ADD, s->lfd, &ev) < 0) goto fail;
  ev.data.ptr = &tag_wake;
  if (epoll_ctl(s->epfd, EPOLL_CTL_ADD, s->evfd, &ev) < 0) goto fail;
  s->stats = stats_new();
  s->prompts = ptab_new();
  s->caches = caches_new();
  s->batches = batches_new();

  /* the thread must never take the process's signals (SIGINT belongs to the Lua side) */
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  int rc = pthread_create(&s->th, NULL, server_main, s);
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  if (rc != 0) {
    errno = rc;
    goto fail;
  }
  return s;
fail:
  snprintf(err, errlen, "%s", strerror(errno));
  if (s->lfd >= 0) close(s->lfd);
  if (s->epfd >= 0) close(s->epfd);
  if (s->evfd >= 0) close(s->evfd);
  if (s->spare_fd >= 0) close(s->spare_fd);
  stats_free(s->stats);
  ptab_free(s->prompts);
  caches_free(s->caches);
  batches_free(s->batches);
  bucket_free(&s->rpm);
  bucket_free(&s->tpm);
  free(s);
  return NULL;
}

int server_port(const mserver *s) { return s->port; }

mstats *server_stats(mserver *s) { return s->stats; }

void server_stop(mserver *s) {
  uint64_t one = 1;
  ssize_t w = write(s->evfd, &one, sizeof one);
  (void)w;
  pthread_join(s->th, NULL);
  close(s->lfd);
  close(s->epfd);
  close(s->evfd);
  if (s->spare_fd >= 0) close(s->spare_fd);
  stats_free(s->stats);
  ptab_free(s->prompts);
  caches_free(s->caches);
  batches_free(s->batches);
  free(s->heap);
  mb_free(&s->chunked);
  bucket_free(&s->rpm);
  bucket_free(&s->tpm);
  free(s);
}
