/* The floor of `consumer --exec true --jobs 2` (scripts/bench.sh): what starting the handler costs
 * on this machine, with nothing else done.
 *
 *   spawn_loop N [JOBS]
 *
 * posix_spawn /bin/true N times, JOBS (default 2) running at a time, each waited for; exits
 * non-zero if one fails. */
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>

extern char **environ;

int main(int argc, char **argv) {
  if (argc < 2) { fprintf(stderr, "usage: spawn_loop N [JOBS]\n"); return 2; }
  long n = atol(argv[1]), jobs = argc > 2 ? atol(argv[2]) : 2, started = 0, running = 0;
  char *args[] = {"true", NULL};
  int status;
  while (started < n || running > 0) {
    if (started < n && running < jobs) {
      pid_t pid;
      if (posix_spawn(&pid, "/bin/true", NULL, NULL, args, environ)) { perror("posix_spawn"); return 1; }
      started++, running++;
      continue;
    }
    if (wait(&status) < 0) { perror("wait"); return 1; }
    running--;
    if (!WIFEXITED(status) || WEXITSTATUS(status)) { fprintf(stderr, "a child failed\n"); return 1; }
  }
  return 0;
}
