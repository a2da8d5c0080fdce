/* teardown: runs code through teardown_lib's JIT and exits; the
 * library's destructor then frees the code memory. */
#include <stdio.h>
int rt_run(int value);
int main(void)
{
    printf("rt_run() = %d\n", rt_run(42));
    return 0;
}
