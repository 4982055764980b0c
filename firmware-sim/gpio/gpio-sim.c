/*
 * gpio-sim: a FUSE filesystem imitating the Linux sysfs GPIO interface (/sys/class/gpio), so unmodified
 * drivers (onoff and its epoll interrupts) run against simulated pins. Written for xmpp-iot's tests.
 *
 *   gpio-sim --chip=571:54:pinctrl-rp1 [--chip=BASE:NGPIO:LABEL ...] MOUNTPOINT -f -s
 *
 * Serves   gpio/export, gpio/unexport                    (write a sysfs number; EINVAL outside every chip)
 *          gpio/gpioN/{direction,value,edge,active_low}   (once exported; kernel semantics, values logical)
 *          gpio/gpiochipB/{base,label,ngpio}              (one per --chip)
 * and the  sim/gpioN side files: read the physical level of a line (what an output drives), write "0"/"1" to
 *          set the physical level of an input (EPERM while the line is an exported output).
 *
 * Interrupts as sysfs does them: poll on an open value file reports POLLPRI|POLLERR when an edge matching
 * `edge` happened since that file handle's last read; a level change wakes pollers with fuse_notify_poll.
 * Open files use direct_io, so every read reaches this process. Run single-threaded (-s).
 */
#define FUSE_USE_VERSION 31
#include <errno.h>
#include <fuse.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <signal.h>

#define MAX_LINES 2048
#define MAX_CHIPS 8
#define MAX_HANDLES 512

enum edge { EDGE_NONE, EDGE_RISING, EDGE_FALLING, EDGE_BOTH };
static const char *edge_names[] = {"none", "rising", "falling", "both"};

struct line { int exported, output, edge, active_low, level; unsigned edges; };
struct chip { int base, ngpio; char label[64]; };
struct handle { int used, line; unsigned seen; struct fuse_pollhandle *ph; };

static struct line lines[MAX_LINES];
static struct chip chips[MAX_CHIPS];
static int nchips;
static struct handle handles[MAX_HANDLES];

static int valid_line(int n) {
  for (int i = 0; i < nchips; i++)
    if (n >= chips[i].base && n < chips[i].base + chips[i].ngpio) return 1;
  return 0;
}

static struct chip *chip_at(int base) {
  for (int i = 0; i < nchips; i++)
    if (chips[i].base == base) return &chips[i];
  return NULL;
}

/* Parses a decimal number filling the whole string; -1 otherwise. */
static int number(const char *s) {
  if (!*s) return -1;
  char *end;
  long v = strtol(s, &end, 10);
  return (*end || v < 0 || v >= MAX_LINES) ? -1 : (int)v;
}

/* What a path names. */
enum kind { K_NONE, K_ROOT, K_GPIODIR, K_SIMDIR, K_EXPORT, K_UNEXPORT, K_LINEDIR, K_DIRECTION, K_VALUE, K_EDGE,
            K_ACTIVE_LOW, K_CHIPDIR, K_BASE, K_LABEL, K_NGPIO, K_SIM };
struct target { enum kind kind; int n; };

static struct target lookup(const char *path) {
  struct target t = {K_NONE, -1};
  char name[64], file[64];
  if (!strcmp(path, "/")) t.kind = K_ROOT;
  else if (!strcmp(path, "/gpio")) t.kind = K_GPIODIR;
  else if (!strcmp(path, "/sim")) t.kind = K_SIMDIR;
  else if (!strcmp(path, "/gpio/export")) t.kind = K_EXPORT;
  else if (!strcmp(path, "/gpio/unexport")) t.kind = K_UNEXPORT;
  else if (sscanf(path, "/sim/gpio%63s", name) == 1) {
    t.n = number(name);
    if (t.n >= 0 && valid_line(t.n)) t.kind = K_SIM;
  } else if (sscanf(path, "/gpio/gpiochip%63[^/]", name) == 1) {
    int base = number(name);
    if (base < 0 || !chip_at(base)) return t;
    t.n = base;
    const char *rest = path + strlen("/gpio/gpiochip") + strlen(name);
    if (!*rest) t.kind = K_CHIPDIR;
    else if (!strcmp(rest, "/base")) t.kind = K_BASE;
    else if (!strcmp(rest, "/label")) t.kind = K_LABEL;
    else if (!strcmp(rest, "/ngpio")) t.kind = K_NGPIO;
  } else if (sscanf(path, "/gpio/gpio%63[^/]", name) == 1) {
    int n = number(name);
    if (n < 0 || !lines[n].exported) return t;
    t.n = n;
    const char *rest = path + strlen("/gpio/gpio") + strlen(name);
    file[0] = 0;
    if (!*rest) t.kind = K_LINEDIR;
    else if (sscanf(rest, "/%63s", file) == 1) {
      if (!strcmp(file, "direction")) t.kind = K_DIRECTION;
      else if (!strcmp(file, "value")) t.kind = K_VALUE;
      else if (!strcmp(file, "edge")) t.kind = K_EDGE;
      else if (!strcmp(file, "active_low")) t.kind = K_ACTIVE_LOW;
    }
  }
  return t;
}

static int is_dir(enum kind k) {
  return k == K_ROOT || k == K_GPIODIR || k == K_SIMDIR || k == K_LINEDIR || k == K_CHIPDIR;
}

static void *sim_init(struct fuse_conn_info *conn, struct fuse_config *cfg) {
  (void)conn;
  /* Nothing cached: exports appear and vanish, values change behind the kernel's back. */
  cfg->entry_timeout = 0;
  cfg->attr_timeout = 0;
  cfg->negative_timeout = 0;
  cfg->direct_io = 1;
  return NULL;
}

static int sim_getattr(const char *path, struct stat *st, struct fuse_file_info *fi) {
  (void)fi;
  struct target t = lookup(path);
  if (t.kind == K_NONE) return -ENOENT;
  memset(st, 0, sizeof *st);
  if (is_dir(t.kind)) {
    st->st_mode = S_IFDIR | 0755;
    st->st_nlink = 2;
  } else {
    st->st_mode = S_IFREG | (t.kind == K_EXPORT || t.kind == K_UNEXPORT ? 0200 : 0644);
    st->st_nlink = 1;
    st->st_size = 4096; /* as sysfs reports */
  }
  return 0;
}

static int sim_readdir(const char *path, void *buf, fuse_fill_dir_t fill, off_t off, struct fuse_file_info *fi,
                       enum fuse_readdir_flags flags) {
  (void)off, (void)fi, (void)flags;
  struct target t = lookup(path);
  char name[64];
  if (!is_dir(t.kind)) return t.kind == K_NONE ? -ENOENT : -ENOTDIR;
  fill(buf, ".", NULL, 0, 0);
  fill(buf, "..", NULL, 0, 0);
  if (t.kind == K_ROOT) {
    fill(buf, "gpio", NULL, 0, 0);
    fill(buf, "sim", NULL, 0, 0);
  } else if (t.kind == K_GPIODIR) {
    fill(buf, "export", NULL, 0, 0);
    fill(buf, "unexport", NULL, 0, 0);
    for (int i = 0; i < nchips; i++) {
      snprintf(name, sizeof name, "gpiochip%d", chips[i].base);
      fill(buf, name, NULL, 0, 0);
    }
    for (int n = 0; n < MAX_LINES; n++)
      if (lines[n].exported) {
        snprintf(name, sizeof name, "gpio%d", n);
        fill(buf, name, NULL, 0, 0);
      }
  } else if (t.kind == K_SIMDIR) {
    for (int n = 0; n < MAX_LINES; n++)
      if (valid_line(n)) {
        snprintf(name, sizeof name, "gpio%d", n);
        fill(buf, name, NULL, 0, 0);
      }
  } else if (t.kind == K_LINEDIR) {
    fill(buf, "direction", NULL, 0, 0);
    fill(buf, "value", NULL, 0, 0);
    fill(buf, "edge", NULL, 0, 0);
    fill(buf, "active_low", NULL, 0, 0);
  } else {
    fill(buf, "base", NULL, 0, 0);
    fill(buf, "label", NULL, 0, 0);
    fill(buf, "ngpio", NULL, 0, 0);
  }
  return 0;
}

static int sim_open(const char *path, struct fuse_file_info *fi) {
  struct target t = lookup(path);
  if (t.kind == K_NONE) return -ENOENT;
  if (is_dir(t.kind)) return -EISDIR;
  fi->direct_io = 1;
  fi->fh = 0;
  if (t.kind == K_VALUE) {
    for (int i = 0; i < MAX_HANDLES; i++)
      if (!handles[i].used) {
        handles[i] = (struct handle){1, t.n, lines[t.n].edges, NULL};
        fi->fh = (uint64_t)i + 1;
        return 0;
      }
    return -EMFILE;
  }
  return 0;
}

static int sim_release(const char *path, struct fuse_file_info *fi) {
  (void)path;
  if (fi->fh) {
    struct handle *h = &handles[fi->fh - 1];
    if (h->ph) fuse_pollhandle_destroy(h->ph);
    memset(h, 0, sizeof *h);
  }
  return 0;
}

static int sim_read(const char *path, char *buf, size_t size, off_t off, struct fuse_file_info *fi) {
  struct target t = lookup(path);
  char text[96];
  struct line *l = t.n >= 0 && t.n < MAX_LINES ? &lines[t.n] : NULL;
  switch (t.kind) {
  case K_VALUE:
    snprintf(text, sizeof text, "%d\n", l->level ^ l->active_low);
    if (fi->fh) handles[fi->fh - 1].seen = l->edges; /* a read acknowledges the interrupt */
    break;
  case K_DIRECTION: snprintf(text, sizeof text, "%s\n", l->output ? "out" : "in"); break;
  case K_EDGE: snprintf(text, sizeof text, "%s\n", edge_names[l->edge]); break;
  case K_ACTIVE_LOW: snprintf(text, sizeof text, "%d\n", l->active_low); break;
  case K_SIM: snprintf(text, sizeof text, "%d\n", l->level); break;
  case K_BASE: snprintf(text, sizeof text, "%d\n", t.n); break;
  case K_NGPIO: snprintf(text, sizeof text, "%d\n", chip_at(t.n)->ngpio); break;
  case K_LABEL: snprintf(text, sizeof text, "%s\n", chip_at(t.n)->label); break;
  case K_EXPORT:
  case K_UNEXPORT: return -EIO;
  default: return -ENOENT;
  }
  size_t len = strlen(text);
  if ((size_t)off >= len) return 0;
  if (size > len - (size_t)off) size = len - (size_t)off;
  memcpy(buf, text + off, size);
  return (int)size;
}

static void wake_pollers(int n) {
  for (int i = 0; i < MAX_HANDLES; i++)
    if (handles[i].used && handles[i].line == n && handles[i].ph) fuse_notify_poll(handles[i].ph);
}

/* The physical level of line n changes (the simulator drives an input). */
static void drive(int n, int level) {
  struct line *l = &lines[n];
  if (l->level == level) return;
  l->level = level;
  if (!l->exported) return;
  int logical = level ^ l->active_low;
  if (l->edge == EDGE_BOTH || (l->edge == EDGE_RISING && logical) || (l->edge == EDGE_FALLING && !logical)) {
    l->edges++;
    wake_pollers(n);
  }
}

static int sim_write(const char *path, const char *data, size_t size, off_t off, struct fuse_file_info *fi) {
  (void)off, (void)fi;
  struct target t = lookup(path);
  char text[64];
  size_t len = size < sizeof text - 1 ? size : sizeof text - 1;
  memcpy(text, data, len);
  text[len] = 0;
  while (len && (text[len - 1] == '\n' || text[len - 1] == ' ')) text[--len] = 0;
  int n = number(text);
  struct line *l = t.n >= 0 && t.n < MAX_LINES ? &lines[t.n] : NULL;
  switch (t.kind) {
  case K_EXPORT:
    if (n < 0 || !valid_line(n)) return -EINVAL;
    if (lines[n].exported) return -EBUSY;
    lines[n].exported = 1;
    lines[n].output = 0;
    lines[n].edge = EDGE_NONE;
    lines[n].active_low = 0;
    break;
  case K_UNEXPORT:
    if (n < 0 || !lines[n].exported) return -EINVAL;
    lines[n].exported = 0;
    lines[n].output = 0;
    lines[n].edge = EDGE_NONE;
    break;
  case K_DIRECTION: /* kernel semantics: "out" and "low" drive 0, "high" drives 1, raw (ignoring active_low) */
    if (!strcmp(text, "in")) l->output = 0;
    else if (!strcmp(text, "out") || !strcmp(text, "low")) l->output = 1, l->level = 0;
    else if (!strcmp(text, "high")) l->output = 1, l->level = 1;
    else return -EINVAL;
    break;
  case K_VALUE:
    if (!l->output) return -EPERM;
    if (n < 0) return -EINVAL;
    l->level = (n != 0) ^ l->active_low;
    break;
  case K_EDGE: {
    int e = -1;
    for (int i = 0; i < 4; i++)
      if (!strcmp(text, edge_names[i])) e = i;
    if (e < 0) return -EINVAL;
    l->edge = e;
    break;
  }
  case K_ACTIVE_LOW:
    if (n < 0) return -EINVAL;
    l->active_low = n != 0;
    break;
  case K_SIM:
    if (n != 0 && n != 1) return -EINVAL;
    if (l->exported && l->output) return -EPERM;
    drive(t.n, n);
    break;
  case K_NONE: return -ENOENT;
  default: return -EACCES;
  }
  return (int)size;
}

static int sim_truncate(const char *path, off_t size, struct fuse_file_info *fi) {
  (void)size, (void)fi;
  return lookup(path).kind == K_NONE ? -ENOENT : 0; /* O_TRUNC on open: sysfs ignores it too */
}

static int sim_poll(const char *path, struct fuse_file_info *fi, struct fuse_pollhandle *ph, unsigned *revents) {
  (void)path;
  *revents = POLLIN | POLLRDNORM | POLLOUT | POLLWRNORM;
  if (!fi->fh) {
    if (ph) fuse_pollhandle_destroy(ph);
    return 0;
  }
  struct handle *h = &handles[fi->fh - 1];
  if (ph) {
    if (h->ph) fuse_pollhandle_destroy(h->ph);
    h->ph = ph;
  }
  if (h->seen != lines[h->line].edges) *revents |= POLLPRI | POLLERR;
  return 0;
}

static const struct fuse_operations ops = {
  .init = sim_init,
  .getattr = sim_getattr,
  .readdir = sim_readdir,
  .open = sim_open,
  .release = sim_release,
  .read = sim_read,
  .write = sim_write,
  .truncate = sim_truncate,
  .poll = sim_poll,
};

int main(int argc, char *argv[]) {
  char **rest = calloc((size_t)argc + 1, sizeof *rest);
  int nrest = 0;
  for (int i = 0; i < argc; i++) {
    struct chip c = {0};
    if (!strncmp(argv[i], "--chip=", 7)) {
      if (nchips == MAX_CHIPS || sscanf(argv[i] + 7, "%d:%d:%63s", &c.base, &c.ngpio, c.label) != 3 || c.base < 0 ||
          c.ngpio < 1 || c.base + c.ngpio > MAX_LINES) {
        fprintf(stderr, "gpio-sim: bad %s (expected --chip=BASE:NGPIO:LABEL)\n", argv[i]);
        return 2;
      }
      chips[nchips++] = c;
    } else {
      rest[nrest++] = argv[i];
    }
  }
  if (!nchips) chips[nchips++] = (struct chip){0, 54, "pinctrl-bcm2835"};
  /* The test process died without stopping us: exit (fuse_main then unmounts) rather than linger. */
  prctl(PR_SET_PDEATHSIG, SIGTERM);
  return fuse_main(nrest, rest, &ops, NULL);
}
