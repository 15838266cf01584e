/* The physical floor of a warm `vault exec PROFILE -- CMD` (DESIGN.md §9, issue 17): the least
 * any credential tool can do on that path, so the bench can say how far vault is from it.
 *
 *   floor exec ITEM SOCKET CMD [ARGS...]   read ITEM (the sealed session file vault reads on
 *                                          the warm path) whole, one round trip of ~1 KiB to
 *                                          SOCKET, resolve CMD on PATH with stat(2) (no failing
 *                                          execve), then execve it with four AWS_* variables
 *                                          taken from the reply added to the environment
 *   floor print ITEM SOCKET                the same, then the reply on stdout instead of an
 *                                          exec: the floor of `vault export --format
 *                                          credential-process`
 *   floor serve SOCKET                     the trivial echo server: one newline-terminated line
 *                                          per connection, echoed back; prints "ready" once
 *                                          listening (the agent's part, minus the decryption)
 *
 * Built by bench/run.sh at bench time with the system cc, dynamically linked and (when static
 * glibc is installed) -static. No error is recoverable: any failure exits 1 with a message. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#define MSG 1024 /* the request line: about what vault's Open request for a session carries */

extern char **environ;

static void die(const char *what) {
  fprintf(stderr, "floor: %s: %s\n", what, strerror(errno));
  exit(1);
}

static struct sockaddr_un address(const char *path) {
  struct sockaddr_un a;
  memset(&a, 0, sizeof a);
  a.sun_family = AF_UNIX;
  if (strlen(path) >= sizeof a.sun_path) {
    errno = ENAMETOOLONG;
    die(path);
  }
  strcpy(a.sun_path, path);
  return a;
}

/* Reads from fd until a newline (kept) or EOF; returns the length. */
static size_t read_line(int fd, char *buf, size_t cap) {
  size_t n = 0;
  while (n < cap) {
    ssize_t r = read(fd, buf + n, cap - n);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) die("read");
    if (r == 0) break;
    n += (size_t)r;
    if (memchr(buf + n - (size_t)r, '\n', (size_t)r)) break;
  }
  return n;
}

static void write_all(int fd, const char *buf, size_t n) {
  while (n > 0) {
    ssize_t w = write(fd, buf, n);
    if (w < 0 && errno == EINTR) continue;
    if (w < 0) die("write");
    buf += w;
    n -= (size_t)w;
  }
}

static int serve(const char *path) {
  struct sockaddr_un a = address(path);
  int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (s < 0) die("socket");
  unlink(path);
  if (bind(s, (struct sockaddr *)&a, sizeof a) < 0) die("bind");
  if (listen(s, 64) < 0) die("listen");
  printf("ready\n");
  fflush(stdout);
  static char buf[65536];
  for (;;) {
    int c = accept4(s, NULL, NULL, SOCK_CLOEXEC);
    if (c < 0) {
      if (errno == EINTR) continue;
      die("accept");
    }
    size_t n = read_line(c, buf, sizeof buf);
    write_all(c, buf, n);
    close(c);
  }
  return 0;
}

/* The client's part: returns the reply (newline-terminated, MSG bytes) in reply. */
static void round_trip(const char *item, const char *path, char *reply) {
  /* The sealed item, read whole, as vault reads it. */
  static char data[1 << 20];
  int fd = open(item, O_RDONLY | O_CLOEXEC);
  if (fd < 0) die(item);
  size_t len = 0;
  for (;;) {
    ssize_t r = read(fd, data + len, sizeof data - len);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) die(item);
    if (r == 0) break;
    len += (size_t)r;
    if (len == sizeof data) break;
  }
  close(fd);
  /* One request line of MSG bytes made from it (printable, like vault's base64 JSON). */
  char msg[MSG];
  for (size_t i = 0; i < MSG - 1; i++) msg[i] = (char)('A' + (len ? (unsigned char)data[i % len] : 0) % 26);
  msg[MSG - 1] = '\n';
  struct sockaddr_un a = address(path);
  int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (s < 0) die("socket");
  if (connect(s, (struct sockaddr *)&a, sizeof a) < 0) die("connect");
  write_all(s, msg, MSG);
  if (read_line(s, reply, MSG) != MSG) {
    errno = EPROTO;
    die("short reply");
  }
  close(s);
}

/* CMD on PATH, found with stat(2) as a shell's hash would; NULL when it is not there. */
static const char *resolve(const char *cmd, char *buf, size_t cap) {
  if (strchr(cmd, '/')) return cmd;
  const char *p = getenv("PATH");
  if (!p) p = "/usr/bin:/bin";
  while (*p) {
    const char *end = strchrnul(p, ':');
    struct stat st;
    int n = snprintf(buf, cap, "%.*s/%s", (int)(end - p), p, cmd);
    if (n > 0 && (size_t)n < cap && stat(buf, &st) == 0 && S_ISREG(st.st_mode) &&
        (st.st_mode & 0111))
      return buf;
    p = *end ? end + 1 : end;
  }
  return NULL;
}

int main(int argc, char **argv) {
  if (argc == 3 && strcmp(argv[1], "serve") == 0) return serve(argv[2]);
  int exec_mode = argc >= 5 && strcmp(argv[1], "exec") == 0;
  if (!exec_mode && !(argc == 4 && strcmp(argv[1], "print") == 0)) {
    fprintf(stderr, "usage: floor exec ITEM SOCKET CMD [ARGS...] | floor print ITEM SOCKET | "
                    "floor serve SOCKET\n");
    return 2;
  }
  char reply[MSG + 1];
  round_trip(argv[2], argv[3], reply);
  reply[MSG] = 0;
  if (!exec_mode) {
    write_all(1, reply, MSG);
    return 0;
  }
  /* The child's environment: the caller's plus four credential variables from the reply. */
  static char vars[4][256];
  const char *names[4] = {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
                          "AWS_CREDENTIAL_EXPIRATION"};
  const int lens[4] = {20, 40, 200, 20};
  size_t n = 0;
  while (environ[n]) n++;
  char **envp = malloc((n + 5) * sizeof *envp);
  if (!envp) die("malloc");
  size_t k = 0, off = 0;
  for (size_t i = 0; i < n; i++)
    if (strncmp(environ[i], "AWS_", 4) != 0) envp[k++] = environ[i];
  for (int i = 0; i < 4; i++) {
    snprintf(vars[i], sizeof vars[i], "%s=%.*s", names[i], lens[i], reply + off);
    off += (size_t)lens[i];
    envp[k++] = vars[i];
  }
  envp[k] = NULL;
  char path[4096];
  const char *prog = resolve(argv[4], path, sizeof path);
  if (!prog) {
    errno = ENOENT;
    die(argv[4]);
  }
  execve(prog, argv + 4, envp);
  die(prog);
}
