/* The C peer: the drain of scripts/bench/floor.c (silent), written with hiredis, the client a C
 * user would pick (scripts/bench.sh).
 *
 *   hiredis_peer PORT KEY GROUP CONSUMER N
 *
 * XREADGROUP GROUP GROUP CONSUMER COUNT 500 STREAMS KEY > (no BLOCK), and the XACK of batch k
 * queued with the read of batch k+1 (hiredis sends both in one write), until a read returns
 * nothing or N messages are acked (N 0: no limit). Prints "acked N" to stderr. */
#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static redisContext *c;

static void die(const char *what) {
  fprintf(stderr, "%s: %s\n", what, c && c->err ? c->errstr : "unexpected reply");
  exit(1);
}
static redisReply *get(void) {
  redisReply *r;
  if (redisGetReply(c, (void **)&r) != REDIS_OK) die("redisGetReply");
  if (r->type == REDIS_REPLY_ERROR) fprintf(stderr, "server error: %s\n", r->str), exit(1);
  return r;
}

int main(int argc, char **argv) {
  if (argc < 6) { fprintf(stderr, "usage: hiredis_peer PORT KEY GROUP CONSUMER N\n"); return 2; }
  const char *key = argv[2], *group = argv[3], *name = argv[4];
  long limit = atol(argv[5]), acked = 0;
  c = redisConnect("127.0.0.1", atoi(argv[1]));
  if (!c || c->err) die("redisConnect");
  const char *rd[] = {"XREADGROUP", "GROUP", group, name, "COUNT", "500", "STREAMS", key, ">"};
  const char *ack[3 + 500] = {"XACK", key, group};
  size_t ack_len[3 + 500] = {4, strlen(key), strlen(group)};
  int pending_ack = 0; /* an XACK reply comes before the next read's */
  redisAppendCommandArgv(c, 9, rd, NULL);
  for (;;) {
    if (pending_ack) freeReplyObject(get());
    redisReply *r = get();
    /* nil when nothing is new; else [[key, [[id, [field, value, ...]], ...]]] */
    redisReply *entries = r->type == REDIS_REPLY_ARRAY && r->elements == 1 ? r->element[0]->element[1] : NULL;
    size_t n = entries ? entries->elements : 0;
    if (n == 0) { freeReplyObject(r); break; }
    for (size_t i = 0; i < n; i++) {
      redisReply *id = entries->element[i]->element[0];
      ack[3 + i] = id->str, ack_len[3 + i] = id->len;
    }
    redisAppendCommandArgv(c, (int)(3 + n), ack, ack_len);
    freeReplyObject(r);
    acked += (long)n;
    if (limit && acked >= limit) { freeReplyObject(get()); break; }
    redisAppendCommandArgv(c, 9, rd, NULL);
    pending_ack = 1;
  }
  fprintf(stderr, "acked %ld\n", acked);
  redisFree(c);
  return 0;
}
