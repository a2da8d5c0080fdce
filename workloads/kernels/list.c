/* list: CoreMark-style linked-list processing. A pool of nodes is linked
 * into a list that is repeatedly searched, reversed, merge-sorted on two
 * different keys and mutated; a CRC of what is seen is the checksum.
 * argv[1]: iterations. */
#include "common.h"

typedef struct node {
    struct node *next;
    int16_t data;
    int16_t idx;
} node_t;

#define NODES 2000

static node_t pool[NODES];

static uint16_t crc16_step(uint16_t crc, uint16_t v)
{
    for (int i = 0; i < 16; i++) {
        uint16_t bit = (uint16_t)((crc ^ (v >> i)) & 1);
        crc >>= 1;
        if (bit)
            crc ^= 0xA001;
    }
    return crc;
}

static node_t *reverse(node_t *l)
{
    node_t *r = NULL;
    while (l) {
        node_t *n = l->next;
        l->next = r;
        r = l;
        l = n;
    }
    return r;
}

static node_t *find(node_t *l, int16_t data)
{
    while (l && (l->data & 0xff) != data)
        l = l->next;
    return l;
}

static int cmp_data(const node_t *a, const node_t *b, int16_t salt)
{
    int16_t x = (int16_t)((a->data ^ salt) & 0x7fff);
    int16_t y = (int16_t)((b->data ^ salt) & 0x7fff);
    return x - y;
}

static int cmp_idx(const node_t *a, const node_t *b, int16_t salt)
{
    (void)salt;
    return a->idx - b->idx;
}

/* Bottom-up merge sort of a singly linked list (as in CoreMark). */
static node_t *mergesort(node_t *list, int (*cmp)(const node_t *, const node_t *, int16_t), int16_t salt)
{
    int insize = 1;
    for (;;) {
        node_t *p = list, *tail = NULL;
        int nmerges = 0;
        list = NULL;
        while (p) {
            node_t *q = p;
            int psize = 0, qsize;
            nmerges++;
            for (int i = 0; i < insize && q; i++) {
                psize++;
                q = q->next;
            }
            qsize = insize;
            while (psize > 0 || (qsize > 0 && q)) {
                node_t *e;
                if (psize == 0) {
                    e = q; q = q->next; qsize--;
                } else if (qsize == 0 || !q) {
                    e = p; p = p->next; psize--;
                } else if (cmp(p, q, salt) <= 0) {
                    e = p; p = p->next; psize--;
                } else {
                    e = q; q = q->next; qsize--;
                }
                if (tail)
                    tail->next = e;
                else
                    list = e;
                tail = e;
            }
            p = q;
        }
        tail->next = NULL;
        if (nmerges <= 1)
            return list;
        insize *= 2;
    }
}

int main(int argc, char **argv)
{
    int iters = arg_int(argc, argv, 1, 1200);
    uint32_t s = 0x1234567u;
    node_t *list = NULL;
    uint16_t crc = 0;
    cks_t c;

    for (int i = 0; i < NODES; i++) {
        pool[i].data = (int16_t)(rng_next(&s) & 0x7fff);
        pool[i].idx = (int16_t)i;
        pool[i].next = list;
        list = &pool[i];
    }

    cks_init(&c);
    for (int it = 0; it < iters; it++) {
        int found = 0, missed = 0;
        for (int k = 0; k < 16; k++) {
            int16_t want = (int16_t)((it * 31 + k * 7) & 0xff);
            node_t *hit = find(list, want);
            if (hit) {
                found++;
                crc = crc16_step(crc, (uint16_t)hit->idx);
                hit->data = (int16_t)((hit->data * 5 + it) & 0x7fff); /* mutate */
            } else {
                missed++;
            }
            list = reverse(list);
        }
        list = mergesort(list, cmp_data, (int16_t)(it & 0x7fff));
        crc = crc16_step(crc, (uint16_t)list->data);
        crc = crc16_step(crc, (uint16_t)list->next->idx);
        list = mergesort(list, cmp_idx, 0);
        crc = crc16_step(crc, (uint16_t)(found * 256 + missed));
        cks_int(&c, crc);
    }

    node_t *p = list;
    for (int i = 0; p; i++, p = p->next)
        cks_int(&c, (int64_t)p->data * 65536 + p->idx);
    printf("list: final crc16 = %04x\n", crc);
    return cks_report("list", &c);
}
