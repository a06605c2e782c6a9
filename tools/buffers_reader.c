/* The C side of tools/bench_buffers.py: libbpf's own readers of a perf event
 * array (perf_buffer__new) and of a BPF ring buffer (ring_buffer__new), on a
 * map pinned on a bpffs.  Built during the benchmark run, never committed:
 *
 *     gcc -O2 -o buffers_reader buffers_reader.c -lbpf
 *
 * Usage: buffers_reader perf|ringbuf PIN COUNT live|drain [PAGES [WAKEUP]]
 *
 * A perf buffer is made by perf_buffer__new (wakeup_events = 1) or, with
 * WAKEUP > 1, by perf_buffer__new_raw with wakeup_events = WAKEUP and the
 * attr perf_buffer__new would use otherwise.
 * Prints "ready" once the buffer is set up (for perf: its events are in the
 * map).  live: reads with *_poll() until COUNT samples were received or
 * reported lost (or 1 s passes without any after the first), then prints
 * "<received> <lost> <t_first> <t_last> <checksum>" with CLOCK_MONOTONIC
 * times in seconds.  drain: waits for a line on stdin, then times one
 * *_consume() of everything already in the buffer and prints the same.
 * Each sample callback adds the sample's first u32 to a checksum, so the
 * data is read, not only counted.
 */
#include <linux/perf_event.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define IDLE_LIMIT_MS 1000
#define POLL_MS 100

struct counts {
	unsigned long long received, lost, checksum;
	double t_first, t_last;
};

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void seen(struct counts *c, const void *data, size_t size)
{
	uint32_t first = 0;

	if (!c->received)
		c->t_first = now();
	if (size >= sizeof(first))
		memcpy(&first, data, sizeof(first));
	c->checksum += first;
	c->received++;
}

static void perf_sample(void *ctx, int cpu, void *data, __u32 size)
{
	(void)cpu;
	seen(ctx, data, size);
}

static void perf_lost(void *ctx, int cpu, __u64 cnt)
{
	(void)cpu;
	((struct counts *)ctx)->lost += cnt;
}

static enum bpf_perf_event_ret perf_raw(void *ctx, int cpu, struct perf_event_header *event)
{
	struct counts *c = ctx;

	(void)cpu;
	if (event->type == PERF_RECORD_SAMPLE) {
		struct { struct perf_event_header header; __u32 size; char data[]; } *s = (void *)event;

		seen(c, s->data, s->size);
	} else if (event->type == PERF_RECORD_LOST) {
		struct { struct perf_event_header header; __u64 id, lost; } *l = (void *)event;

		c->lost += l->lost;
	}
	return LIBBPF_PERF_EVENT_CONT;
}

static struct perf_buffer *new_perf_buffer(int fd, size_t pages, unsigned wakeup, struct counts *c)
{
	struct perf_event_attr attr = {
		.type = PERF_TYPE_SOFTWARE,
		.config = PERF_COUNT_SW_BPF_OUTPUT,
		.sample_type = PERF_SAMPLE_RAW,
		.sample_period = 1,
		.size = sizeof(attr),
	};

	if (wakeup <= 1)
		return perf_buffer__new(fd, pages, perf_sample, perf_lost, c, NULL);
	attr.wakeup_events = wakeup;
	return perf_buffer__new_raw(fd, pages, &attr, perf_raw, c, NULL);
}

static int ring_sample(void *ctx, void *data, size_t size)
{
	seen(ctx, data, size);
	return 0;
}

static void wait_for_go(void)
{
	char line[16];

	if (!fgets(line, sizeof(line), stdin))
		exit(2);
}

int main(int argc, char **argv)
{
	struct perf_buffer *pb = NULL;
	struct ring_buffer *rb = NULL;
	struct counts c = {0};
	unsigned long long count;
	int fd, perf, drain, idle_ms = 0, err;
	size_t pages;
	unsigned wakeup;

	if (argc < 5) {
		fprintf(stderr, "usage: %s perf|ringbuf PIN COUNT live|drain [PAGES [WAKEUP]]\n", argv[0]);
		return 2;
	}
	perf = !strcmp(argv[1], "perf");
	count = strtoull(argv[3], NULL, 10);
	drain = !strcmp(argv[4], "drain");
	pages = argc > 5 ? strtoul(argv[5], NULL, 10) : 8;
	wakeup = argc > 6 ? strtoul(argv[6], NULL, 10) : 1;
	fd = bpf_obj_get(argv[2]);
	if (fd < 0) {
		fprintf(stderr, "bpf_obj_get(%s): %s\n", argv[2], strerror(errno));
		return 1;
	}
	if (perf)
		pb = new_perf_buffer(fd, pages, wakeup, &c);
	else
		rb = ring_buffer__new(fd, ring_sample, &c, NULL);
	if (perf ? !pb : !rb) {
		fprintf(stderr, "%s: %s\n", perf ? "perf_buffer__new" : "ring_buffer__new", strerror(errno));
		return 1;
	}
	printf("ready\n");
	fflush(stdout);
	if (drain) {
		wait_for_go();
		c.t_first = now();
		err = perf ? perf_buffer__consume(pb) : ring_buffer__consume(rb);
		c.t_last = now();
		if (err < 0)
			fprintf(stderr, "consume: %d\n", err);
	} else {
		while (c.received + c.lost < count && idle_ms < IDLE_LIMIT_MS) {
			unsigned long long before = c.received + c.lost;

			err = perf ? perf_buffer__poll(pb, POLL_MS) : ring_buffer__poll(rb, POLL_MS);
			if (err < 0 && err != -EINTR) {
				fprintf(stderr, "poll: %d\n", err);
				break;
			}
			if (c.received + c.lost != before)
				c.t_last = now();
			idle_ms = c.received + c.lost == before && before ? idle_ms + POLL_MS : 0;
		}
	}
	printf("%llu %llu %.9f %.9f %llu\n", c.received, c.lost, c.t_first, c.t_last, c.checksum);
	perf_buffer__free(pb);
	ring_buffer__free(rb);
	return 0;
}
