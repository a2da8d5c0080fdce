#include <stdio.h>
static int square(int x) { return x * x; }
int main(void) {
    int s = 0;
    for (int i = 0; i < 10; i++)
        s += square(i);
    printf("%d\n", s);
    return 0;
}
