/* The floor: the least a client can do to drain a consumer group the way monsoon's consumer does,
 * so that the consumer's cost can be read against it (scripts/bench.sh).
 *
 *   floor PORT KEY GROUP CONSUMER N [print]
 *
 * On a raw TCP socket to 127.0.0.1:PORT: XREADGROUP GROUP GROUP CONSUMER COUNT 500 STREAMS KEY >
 * (no BLOCK), the reply parsed in place (no allocation per message), and the XACK of batch k sent
 * in the same write as the read of batch k+1, until a read returns nothing or N messages are
 * acked (N 0: no limit). With `print`, each message's line goes to stdout exactly as the consumer prints it:
 *   alice chennai 1534291200000-0 2018-08-15T00:00:00Z sensor=1 temperature=27.4 humidity=71
 * Nothing is escaped (the consumer escapes control characters, backslashes and, in the first two
 * words, spaces): the benchmark's names and values have none. Prints "acked N" to stderr. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

static char in[16 << 20], ids[1 << 20], out[1 << 16], *ip, *iend, *op = out;
static int fd;

static void die(const char *what) { perror(what); exit(1); }
static void put(const char *s, size_t n) {
  if (op + n > out + sizeof out) {
    if (write(1, out, op - out) != op - out) die("write stdout");
    op = out;
  }
  memcpy(op, s, n), op += n;
}
/* Makes sure N more bytes of the reply are in `in` (a reply never moves while it is read). */
static void need(size_t n) {
  while ((size_t)(iend - ip) < n) {
    ssize_t got = read(fd, iend, in + sizeof in - iend);
    if (got <= 0) die(got ? "read" : "read: connection closed");
    iend += got;
  }
}
/* Reads a `*N` or `$N` header, or an integer `:N`; -1 for a nil. A `-ERR` reply ends the run. */
static long header(void) {
  long n = 0, neg = 0;
  need(4);
  char t = *ip++;
  if (t == '-') { fprintf(stderr, "server error: %.*s\n", (int)strcspn(ip, "\r"), ip); exit(1); }
  if (*ip == '-') neg = 1, ip++;
  for (;;) {
    need(1);
    if (*ip == '\r') break;
    n = n * 10 + (*ip++ - '0');
  }
  need(2), ip += 2;
  return neg ? -n : n;
}
/* A bulk string in place: sets *S, returns its length. */
static long bulk(char **s) {
  long n = header();
  need(n + 2), *s = ip, ip += n + 2;
  return n;
}
/* Appends the UTC time of MS as 2018-08-15T00:00:00Z (.mmm only when there are milliseconds). */
static void put_time(long long ms) {
  long long z = ms / 86400000 + 719468, era = z / 146097, doe = z - era * 146097;
  long long yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365, doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  long long mp = (5 * doy + 2) / 153, d = doy - (153 * mp + 2) / 5 + 1, m = mp < 10 ? mp + 3 : mp - 9;
  long long y = yoe + era * 400 + (m <= 2), s = ms % 86400000 / 1000, f = ms % 1000;
  char t[24] = {'0' + y / 1000, '0' + y / 100 % 10, '0' + y / 10 % 10, '0' + y % 10, '-', '0' + m / 10, '0' + m % 10,
                '-', '0' + d / 10, '0' + d % 10, 'T', '0' + s / 36000, '0' + s / 3600 % 10, ':', '0' + s / 600 % 6,
                '0' + s / 60 % 10, ':', '0' + s % 60 / 10, '0' + s % 10, '.', '0' + f / 100, '0' + f / 10 % 10, '0' + f % 10};
  if (f) t[23] = 'Z', put(t, 24); else t[19] = 'Z', put(t, 20);
}

int main(int argc, char **argv) {
  if (argc < 6) { fprintf(stderr, "usage: floor PORT KEY GROUP CONSUMER N [print]\n"); return 2; }
  const char *key = argv[2], *group = argv[3], *name = argv[4];
  long limit = atol(argv[5]), acked = 0, klen = strlen(key), nlen = strlen(name);
  int print = argc > 6 && !strcmp(argv[6], "print"), one = 1;
  struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons(atoi(argv[1]))};
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if ((fd = socket(AF_INET, SOCK_STREAM, 0)) < 0 || connect(fd, (struct sockaddr *)&addr, sizeof addr)) die("connect");
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  char rd[512], ack[512];
  int rdn = snprintf(rd, sizeof rd, "*9\r\n$10\r\nXREADGROUP\r\n$5\r\nGROUP\r\n$%zu\r\n%s\r\n$%zu\r\n%s\r\n$5\r\nCOUNT\r\n"
                     "$3\r\n500\r\n$7\r\nSTREAMS\r\n$%ld\r\n%s\r\n$1\r\n>\r\n", strlen(group), group, nlen, name, klen, key);
  struct iovec iov[3] = {{ack, 0}, {ids, 0}, {rd, rdn}};
  int pending_ack = 0; /* an XACK reply comes before the next read's */
  ip = iend = in;
  for (;;) {
    if (writev(fd, iov, 3) != (ssize_t)(iov[0].iov_len + iov[1].iov_len + iov[2].iov_len)) die("writev");
    if (iov[2].iov_len == 0) { header(); break; } /* the last XACK went alone: N reached */
    /* The reply starts here; keep what is left of the last one (nothing, in this lockstep). */
    memmove(in, ip, iend - ip), iend = in + (iend - ip), ip = in;
    if (pending_ack) header();
    long n = 0;
    if (header() == 1) { /* [[key, [[id, [f, v, ...]], ...]]] */
      char *s;
      header(), bulk(&s), n = header();
    }
    if (n <= 0) break;
    char *w = ids;
    for (long i = 0; i < n; i++) {
      char *id, *f, *v;
      header();
      long idn = bulk(&id), fields = header();
      *w++ = '$';
      if (idn >= 10) *w++ = '0' + idn / 10; /* an ID is at most 41 bytes */
      *w++ = '0' + idn % 10, *w++ = '\r', *w++ = '\n', memcpy(w, id, idn), w += idn, *w++ = '\r', *w++ = '\n';
      if (print) {
        put(name, nlen), put(" ", 1), put(key, klen), put(" ", 1), put(id, idn), put(" ", 1);
        put_time(strtoll(id, 0, 10));
      }
      for (long j = 0; j < fields; j += 2) {
        long fn = bulk(&f), vn = bulk(&v);
        if (print) put(" ", 1), put(f, fn), put("=", 1), put(v, vn);
      }
      if (print) put(fields < 0 ? " (deleted)\n" : "\n", fields < 0 ? 11 : 1);
    }
    acked += n;
    iov[0].iov_len = snprintf(ack, sizeof ack, "*%ld\r\n$4\r\nXACK\r\n$%ld\r\n%s\r\n$%zu\r\n%s\r\n", n + 3, klen, key,
                              strlen(group), group);
    iov[1].iov_len = w - ids;
    iov[2].iov_len = limit && acked >= limit ? 0 : (size_t)rdn;
    pending_ack = 1;
  }
  if (op > out && write(1, out, op - out) != op - out) die("write stdout");
  fprintf(stderr, "acked %ld\n", acked);
  return 0;
}
