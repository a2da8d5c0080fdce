/* state_machine: CoreMark-style number scanner. A buffer of
 * comma-separated tokens (integers, floats, exponent forms, garbage) is
 * classified by a character-driven state machine; transition and final
 * state counts are folded into a CRC, and the buffer is corrupted and
 * repaired between passes. argv[1]: passes. */
#include "common.h"

enum state { S_START, S_INVALID, S_S1, S_S2, S_INT, S_FLOAT, S_EXPONENT, S_SCIENTIFIC, NUM_STATES };

#define BUFLEN 8192

static char buf[BUFLEN + 1];

static int is_digit(char c) { return c >= '0' && c <= '9'; }

static enum state next_token(const char **pp, uint32_t *transitions)
{
    const char *p = *pp;
    enum state st = S_START;
    for (; *p && st != S_INVALID; p++) {
        char c = *p;
        if (c == ',') {
            p++;
            break;
        }
        switch (st) {
        case S_START:
            if (is_digit(c))
                st = S_INT;
            else if (c == '+' || c == '-')
                st = S_S1;
            else if (c == '.')
                st = S_FLOAT;
            else {
                st = S_INVALID;
                transitions[S_INVALID]++;
            }
            transitions[S_START]++;
            break;
        case S_S1:
            if (is_digit(c)) {
                st = S_INT;
                transitions[S_S1]++;
            } else if (c == '.') {
                st = S_FLOAT;
                transitions[S_S1]++;
            } else {
                st = S_INVALID;
                transitions[S_S1]++;
            }
            break;
        case S_INT:
            if (c == '.') {
                st = S_FLOAT;
                transitions[S_INT]++;
            } else if (!is_digit(c)) {
                st = S_INVALID;
                transitions[S_INT]++;
            }
            break;
        case S_FLOAT:
            if (c == 'E' || c == 'e') {
                st = S_S2;
                transitions[S_FLOAT]++;
            } else if (!is_digit(c)) {
                st = S_INVALID;
                transitions[S_FLOAT]++;
            }
            break;
        case S_S2:
            if (c == '+' || c == '-') {
                st = S_EXPONENT;
                transitions[S_S2]++;
            } else {
                st = S_INVALID;
                transitions[S_S2]++;
            }
            break;
        case S_EXPONENT:
            if (is_digit(c)) {
                st = S_SCIENTIFIC;
                transitions[S_EXPONENT]++;
            } else {
                st = S_INVALID;
                transitions[S_EXPONENT]++;
            }
            break;
        case S_SCIENTIFIC:
            if (!is_digit(c)) {
                st = S_INVALID;
                transitions[S_INVALID]++;
            }
            break;
        default:
            break;
        }
    }
    /* skip the rest of an invalid token */
    if (st == S_INVALID) {
        while (*p && *p != ',')
            p++;
        if (*p == ',')
            p++;
    }
    *pp = p;
    return st;
}

static void fill(uint32_t seed)
{
    static const char *const tokens[] = {
        "5012", "1234", "-874", "+122", "35.54400", ".1234500", "-110.700",
        "+0.64400", "5.500e+3", "-.123e-2", "-87e+832", "+0.6e-12",
        "T0.3e-1F", "-T.T++Tq", "1T3.4e4z", "34.0e-T^",
    };
    uint32_t s = seed;
    size_t len = 0;
    while (len < BUFLEN - 16) {
        const char *t = tokens[rng_next(&s) % 16];
        size_t tl = strlen(t);
        memcpy(buf + len, t, tl);
        len += tl;
        buf[len++] = ',';
    }
    buf[len] = '\0';
}

int main(int argc, char **argv)
{
    int passes = arg_int(argc, argv, 1, 5000);
    uint32_t transitions[NUM_STATES], finals[NUM_STATES];
    uint16_t crc = 0;
    uint32_t s = 0xFEEDu;
    cks_t c;

    fill(0xABCDu);
    memset(transitions, 0, sizeof transitions);
    memset(finals, 0, sizeof finals);
    cks_init(&c);
    for (int pass = 0; pass < passes; pass++) {
        const char *p = buf;
        while (*p)
            finals[next_token(&p, transitions)]++;
        /* corrupt a few characters, rescan next pass, then repair */
        size_t pos[8];
        char old[8];
        for (int k = 0; k < 8; k++) {
            pos[k] = rng_next(&s) % (BUFLEN - 32);
            old[k] = buf[pos[k]];
            if (buf[pos[k]] != ',')
                buf[pos[k]] ^= (char)(pass & 0x1f ? 0x01 : 0x20);
        }
        p = buf;
        while (*p)
            finals[next_token(&p, transitions)]++;
        for (int k = 7; k >= 0; k--)
            buf[pos[k]] = old[k];
        for (int k = 0; k < NUM_STATES; k++) {
            crc = crc16(crc, finals[k]);
            crc = crc16(crc, transitions[k]);
        }
        cks_int(&c, crc);
    }
    for (int k = 0; k < NUM_STATES; k++) {
        cks_int(&c, finals[k]);
        cks_int(&c, transitions[k]);
    }
    printf("state_machine: final crc16 = %04x\n", crc);
    return cks_report("state_machine", &c);
}
