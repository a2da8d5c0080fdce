/* Self-test module for target/wamr/iwasm: many small functions called
   through a table, so Fast JIT compiles (lazily) a few hundred functions and
   the result still has to be right. Prints the checksum and exits 0. */
#include <stdint.h>
#include <stdio.h>

#define F(n) __attribute__((noinline)) static uint32_t f##n(uint32_t x) { return x * (2u * n + 1u) + n; }
#define F10(n) F(n##0) F(n##1) F(n##2) F(n##3) F(n##4) F(n##5) F(n##6) F(n##7) F(n##8) F(n##9)
#define F100(n) F10(n##0) F10(n##1) F10(n##2) F10(n##3) F10(n##4) F10(n##5) F10(n##6) F10(n##7) F10(n##8) F10(n##9)
F100(1) F100(2) F100(3)

#define R(n) f##n,
#define R10(n) R(n##0) R(n##1) R(n##2) R(n##3) R(n##4) R(n##5) R(n##6) R(n##7) R(n##8) R(n##9)
#define R100(n) R10(n##0) R10(n##1) R10(n##2) R10(n##3) R10(n##4) R10(n##5) R10(n##6) R10(n##7) R10(n##8) R10(n##9)
static uint32_t (*const table[])(uint32_t) = { R100(1) R100(2) R100(3) };

int
main(void)
{
    uint32_t x = 1;
    for (int round = 0; round < 100; round++)
        for (unsigned i = 0; i < sizeof(table) / sizeof(table[0]); i++)
            x = table[i](x) ^ (x >> 7);
    printf("many: %u functions, checksum %u\n",
           (unsigned)(sizeof(table) / sizeof(table[0])), (unsigned)x);
    return 0;
}
