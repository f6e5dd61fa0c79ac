/* wanlink.c - a long, fat link between two network namespaces: rate, delay, random loss and a router's queue. */

/*
 * ft-wanlink [-r MBIT] [-d RTT_MS] [-l LOSS_PERCENT] [-q QUEUE_BYTES] [-m MTU] NS_A NS_B DEV
 *
 * Opens a TUN device named DEV in each of the network namespaces NS_A and
 * NS_B (made by 'ip netns add'), sets its MTU, and carries every packet
 * from one to the other as a wide-area link would, each direction on its
 * own thread:
 *   - a packet is lost at random with probability LOSS_PERCENT / 100
 *     (default 0), in either direction, before it queues;
 *   - it queues behind the packets not yet sent and leaves when the link
 *     has serialised them and it at MBIT megabits per second (default 400;
 *     IP bytes are counted, no link-layer overhead);
 *   - it arrives RTT_MS / 2 milliseconds after it left (default RTT 100);
 *   - a packet that finds QUEUE_BYTES or more waiting to be serialised is
 *     dropped, as a full router queue drops it (default: three
 *     bandwidth-delay products, 3 x MBIT x RTT; see parse()).
 * Nothing is routed anywhere else: packets never leave the two devices.
 *
 * It prints "ready" on standard output once both devices exist (the caller
 * gives them addresses and brings them up), runs until SIGTERM or SIGINT,
 * then prints each direction's counters and its CPU time on standard error.
 * The devices vanish with the process. This is a bench tool: netem's
 * 'rate R delay D loss L limit N' for kernels built without sch_netem.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define NS_PER_S 1000000000LL
#define READ_BURST 64 /* packets read per wake-up before delivering again */

struct slot_head {
    int64_t due_ns; /* when it arrives at the far end */
    uint32_t len;
};

/* One direction of the link: a ring of fixed-size slots, filled at the
 * tail as packets are read and emptied at the head as they fall due. Both
 * ends belong to the one thread, so the ring needs no lock. */
struct direction {
    const char *name;
    int src, dst;
    double ns_per_byte;
    int64_t delay_ns, queue_ns;
    uint32_t loss_below; /* a packet whose random draw is below this is lost */
    uint64_t rng;
    unsigned char *ring;
    size_t slot_size, nslots, head, tail;
    int64_t next_free_ns; /* when the link has serialised all queued so far */
    atomic_ullong passed, lost, dropped, ring_full, write_errors;
};

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * NS_PER_S + ts.tv_nsec;
}

/* xorshift64*: a loss pattern needs no cryptographic strength. */
static uint32_t next_random(uint64_t *s)
{
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return (uint32_t)((*s * 0x2545F4914F6CDD1DULL) >> 32);
}

static struct slot_head *slot_at(struct direction *d, size_t i)
{
    return (struct slot_head *)(d->ring + i * d->slot_size);
}

/* Writes every packet that has arrived by now; returns when the next one is due (0: none queued). */
static int64_t deliver_due(struct direction *d)
{
    int64_t now = now_ns();
    while (d->head != d->tail) {
        struct slot_head *h = slot_at(d, d->head);
        if (h->due_ns > now)
            return h->due_ns;
        if (write(d->dst, h + 1, h->len) == (ssize_t)h->len)
            atomic_fetch_add_explicit(&d->passed, 1, memory_order_relaxed);
        else /* the far device is down or its backlog full: lost on the wire */
            atomic_fetch_add_explicit(&d->write_errors, 1, memory_order_relaxed);
        d->head = (d->head + 1) % d->nslots;
    }
    return 0;
}

/* Reads what the near device has (a burst at most) into the ring, applying loss and the queue limit. */
static void take_arrivals(struct direction *d)
{
    for (int i = 0; i < READ_BURST; i++) {
        size_t next = (d->tail + 1) % d->nslots;
        struct slot_head *h = slot_at(d, d->tail);
        ssize_t n = read(d->src, h + 1, d->slot_size - sizeof *h);
        if (n <= 0)
            return;
        int64_t now = now_ns();
        int64_t start = d->next_free_ns > now ? d->next_free_ns : now;
        if (next_random(&d->rng) < d->loss_below) {
            atomic_fetch_add_explicit(&d->lost, 1, memory_order_relaxed);
        } else if (start - now >= d->queue_ns) {
            atomic_fetch_add_explicit(&d->dropped, 1, memory_order_relaxed);
        } else if (next == d->head) {
            atomic_fetch_add_explicit(&d->ring_full, 1, memory_order_relaxed);
        } else {
            d->next_free_ns = start + (int64_t)((double)n * d->ns_per_byte);
            h->due_ns = d->next_free_ns + d->delay_ns;
            h->len = (uint32_t)n;
            d->tail = next;
        }
    }
}

static void *run_direction(void *arg)
{
    struct direction *d = arg;
    for (;;) {
        int64_t due = deliver_due(d);
        struct pollfd p = {.fd = d->src, .events = POLLIN};
        struct timespec wait, *timeout = NULL;
        if (due != 0) {
            int64_t left = due - now_ns();
            if (left < 0)
                left = 0;
            wait.tv_sec = left / NS_PER_S;
            wait.tv_nsec = left % NS_PER_S;
            timeout = &wait;
        }
        if (ppoll(&p, 1, timeout, NULL) > 0 && (p.revents & POLLIN))
            take_arrivals(d);
    }
    return NULL;
}

/* Opens DEV in namespace NS (non-blocking, no packet-info header) and sets its MTU; -1 on failure. */
static int tun_in(const char *ns, const char *dev, int mtu)
{
    char path[256];
    struct ifreq ifr;
    int nsfd = -1, fd = -1, sock = -1, ok = 0;
    snprintf(path, sizeof path, "/var/run/netns/%s", ns);
    nsfd = open(path, O_RDONLY | O_CLOEXEC);
    if (nsfd < 0 || setns(nsfd, CLONE_NEWNET) != 0) {
        fprintf(stderr, "ft-wanlink: namespace %s: %s\n", ns, strerror(errno));
        goto out;
    }
    memset(&ifr, 0, sizeof ifr);
    snprintf(ifr.ifr_name, sizeof ifr.ifr_name, "%s", dev);
    ifr.ifr_flags = IFF_TUN | IFF_NO_PI;
    fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0 || ioctl(fd, TUNSETIFF, &ifr) != 0) {
        fprintf(stderr, "ft-wanlink: TUN %s in %s: %s\n", dev, ns, strerror(errno));
        goto out;
    }
    /* The socket belongs to the namespace entered above, as the device does. */
    sock = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    ifr.ifr_mtu = mtu;
    if (sock < 0 || ioctl(sock, SIOCSIFMTU, &ifr) != 0) {
        fprintf(stderr, "ft-wanlink: MTU %d on %s in %s: %s\n", mtu, dev, ns, strerror(errno));
        goto out;
    }
    ok = 1;
out:
    if (sock >= 0)
        close(sock);
    if (nsfd >= 0)
        close(nsfd);
    if (!ok && fd >= 0) {
        close(fd);
        fd = -1;
    }
    return fd;
}

struct options {
    double mbit, rtt_ms, loss_pct, queue_bytes;
    int mtu;
    const char *ns_a, *ns_b, *dev;
};

static int parse(int argc, char **argv, struct options *o)
{
    int c;
    char *end;
    *o = (struct options){.mbit = 400, .rtt_ms = 100, .loss_pct = 0, .queue_bytes = -1, .mtu = 1500};
    while ((c = getopt(argc, argv, "r:d:l:q:m:")) != -1) {
        double v;
        if (c == '?')
            return -1;
        errno = 0;
        v = strtod(optarg, &end);
        if (errno != 0 || *end != '\0' || v < 0)
            return -1;
        switch (c) {
        case 'r': o->mbit = v; break;
        case 'd': o->rtt_ms = v; break;
        case 'l': o->loss_pct = v; break;
        case 'q': o->queue_bytes = v; break;
        default: o->mtu = (int)v; break;
        }
    }
    if (argc - optind != 3 || o->mbit <= 0 || o->loss_pct > 100 || o->mtu < 576 || o->mtu > 65535)
        return -1;
    /* Three bandwidth-delay products: with one, four BBR flows starting at
     * once overflowed it (9% of their packets dropped) and carried 0.81 of a
     * 400 Mbit/s, 100 ms link; with three, 0.91 and no drop. */
    if (o->queue_bytes < 0)
        o->queue_bytes = 3 * o->mbit * 1e6 / 8 * o->rtt_ms / 1e3;
    if (o->queue_bytes < 4.0 * o->mtu)
        o->queue_bytes = 4.0 * o->mtu;
    o->ns_a = argv[optind];
    o->ns_b = argv[optind + 1];
    o->dev = argv[optind + 2];
    return 0;
}

/* Sizes the ring for everything the direction can hold: a one-way delay's worth
 * of packets on the wire plus a full queue, at half-MTU packets on average. */
static int direction_init(struct direction *d, const struct options *o, const char *name, int src, int dst,
                          uint64_t seed)
{
    double bytes_per_s = o->mbit * 1e6 / 8;
    double held = bytes_per_s * o->rtt_ms / 2e3 + o->queue_bytes;
    d->name = name;
    d->src = src;
    d->dst = dst;
    d->ns_per_byte = 1e9 / bytes_per_s;
    d->delay_ns = (int64_t)(o->rtt_ms / 2 * 1e6);
    d->queue_ns = (int64_t)(o->queue_bytes * d->ns_per_byte);
    d->loss_below = (uint32_t)(o->loss_pct / 100 * 4294967295.0);
    d->rng = seed;
    d->slot_size = ((size_t)o->mtu + sizeof(struct slot_head) + 63) & ~(size_t)63;
    d->nslots = (size_t)(held / (o->mtu / 2.0)) + 1024;
    d->ring = malloc(d->slot_size * d->nslots);
    return d->ring ? 0 : -1;
}

static void report(struct direction *d)
{
    fprintf(stderr,
            "ft-wanlink %s: %llu packets passed, %llu lost at random, %llu dropped (queue full), "
            "%llu dropped (ring full), %llu lost on write\n",
            d->name, (unsigned long long)atomic_load(&d->passed), (unsigned long long)atomic_load(&d->lost),
            (unsigned long long)atomic_load(&d->dropped), (unsigned long long)atomic_load(&d->ring_full),
            (unsigned long long)atomic_load(&d->write_errors));
}

int main(int argc, char **argv)
{
    struct options o;
    static struct direction ab, ba;
    sigset_t stop;
    pthread_t t;
    struct rusage ru;
    int fa, fb, sig;
    if (parse(argc, argv, &o) != 0) {
        fprintf(stderr, "usage: ft-wanlink [-r MBIT] [-d RTT_MS] [-l LOSS_PERCENT] [-q QUEUE_BYTES] "
                        "[-m MTU] NS_A NS_B DEV\n");
        return 2;
    }
    fa = tun_in(o.ns_a, o.dev, o.mtu);
    fb = fa < 0 ? -1 : tun_in(o.ns_b, o.dev, o.mtu);
    if (fb < 0)
        return 1;
    if (direction_init(&ab, &o, "a->b", fa, fb, 0x9E3779B97F4A7C15ULL) != 0 ||
        direction_init(&ba, &o, "b->a", fb, fa, 0xD1B54A32D192ED03ULL) != 0) {
        fprintf(stderr, "ft-wanlink: no memory for the queues\n");
        return 1;
    }
    /* Sleeps end within a microsecond of the due time, not the default 50 us:
     * at 400 Mbit/s a full packet takes 30 us to serialise. */
    prctl(PR_SET_TIMERSLACK, 1000UL, 0, 0, 0);
    /* The threads inherit the blocked signals: only sigwait below sees them. */
    sigemptyset(&stop);
    sigaddset(&stop, SIGTERM);
    sigaddset(&stop, SIGINT);
    pthread_sigmask(SIG_BLOCK, &stop, NULL);
    if (pthread_create(&t, NULL, run_direction, &ab) != 0 || pthread_create(&t, NULL, run_direction, &ba) != 0) {
        fprintf(stderr, "ft-wanlink: cannot start the forwarding threads\n");
        return 1;
    }
    printf("ready\n");
    fflush(stdout);
    sigwait(&stop, &sig);
    report(&ab);
    report(&ba);
    getrusage(RUSAGE_SELF, &ru);
    fprintf(stderr, "ft-wanlink: CPU %.2f s user, %.2f s system\n",
            ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6, ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6);
    /* The threads never return; ending the process closes both devices. */
    return 0;
}
