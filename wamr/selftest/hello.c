/* Self-test module for target/wamr/iwasm: prints its arguments and exits
   with code 3 (by returning from main, i.e. through WASI proc_exit). */
#include <stdio.h>

int
main(int argc, char **argv)
{
    printf("hello from wasm: argc=%d", argc);
    for (int i = 0; i < argc; i++)
        printf(" [%s]", argv[i]);
    printf("\n");
    return 3;
}
