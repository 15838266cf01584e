/* Times several commands interleaved in one run, with each one's page faults (DESIGN.md §9).
 *
 *   interleave RUNS WARMUP CMD1 [ARGS...] :: CMD2 [ARGS...] [:: ...]
 *
 * Runs round after round: every round starts each command once, in an order that rotates from
 * round to round, so a slow minute of a noisy machine hits every command alike (hyperfine runs
 * all of one command's runs, then the next's). Each command is started with posix_spawnp (stdin
 * and stdout /dev/null, stderr kept) and reaped with wait4, whose rusage gives the page faults
 * of the whole process, across its execve (vault's own and its child's, as for `true` alone).
 * The first WARMUP rounds are not counted. Prints one line per command, in the order given:
 *   mean_ms sd_ms median_ms minor_faults_mean major_faults_mean
 * Any command exiting non-zero fails the run (exit 1), so a broken setup is never timed. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <math.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

static int cmp(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

int main(int argc, char **argv) {
  if (argc < 4) {
    fprintf(stderr, "usage: interleave RUNS WARMUP CMD [ARGS...] [:: CMD [ARGS...]]...\n");
    return 2;
  }
  int runs = atoi(argv[1]), warmup = atoi(argv[2]);
  char **cmds[64];
  int n = 0;
  cmds[n++] = argv + 3;
  for (int i = 3; i < argc; i++)
    if (strcmp(argv[i], "::") == 0) {
      argv[i] = NULL;
      if (n == 64 || i + 1 >= argc) {
        fprintf(stderr, "interleave: at most 64 commands, none empty\n");
        return 2;
      }
      cmds[n++] = argv + i + 1;
    }
  double *ms = calloc((size_t)n * (size_t)runs, sizeof *ms);
  double *minflt = calloc((size_t)n, sizeof *minflt), *majflt = calloc((size_t)n, sizeof *majflt);
  if (!ms || !minflt || !majflt || runs < 1) return 2;
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
  for (int r = 0; r < warmup + runs; r++)
    for (int j = 0; j < n; j++) {
      int c = (j + r) % n;
      struct timespec t0, t1;
      struct rusage ru;
      pid_t pid;
      int status;
      clock_gettime(CLOCK_MONOTONIC, &t0);
      if (posix_spawnp(&pid, cmds[c][0], &fa, NULL, cmds[c], environ) != 0) {
        perror(cmds[c][0]);
        return 1;
      }
      if (wait4(pid, &status, 0, &ru) != pid) {
        perror("wait4");
        return 1;
      }
      clock_gettime(CLOCK_MONOTONIC, &t1);
      if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        fprintf(stderr, "interleave: `%s` failed (status %d)\n", cmds[c][0], status);
        return 1;
      }
      if (r < warmup) continue;
      ms[c * runs + (r - warmup)] = (t1.tv_sec - t0.tv_sec) * 1e3 + (t1.tv_nsec - t0.tv_nsec) / 1e6;
      minflt[c] += (double)ru.ru_minflt;
      majflt[c] += (double)ru.ru_majflt;
    }
  for (int c = 0; c < n; c++) {
    double *x = ms + c * runs, sum = 0, sq = 0;
    for (int i = 0; i < runs; i++) sum += x[i];
    double mean = sum / runs;
    for (int i = 0; i < runs; i++) sq += (x[i] - mean) * (x[i] - mean);
    qsort(x, (size_t)runs, sizeof *x, cmp);
    double median = runs % 2 ? x[runs / 2] : (x[runs / 2 - 1] + x[runs / 2]) / 2;
    printf("%.4f %.4f %.4f %.1f %.1f\n", mean, runs > 1 ? sqrt(sq / (runs - 1)) : 0, median,
           minflt[c] / runs, majflt[c] / runs);
  }
  return 0;
}
