/* Totals for the CHECK macro. */
#include "check.h"

int check_passed, check_failed;

int check_finish(const char *suite) {
    printf("%s: %d passed, %d failed\n", suite, check_passed, check_failed);
    return (check_failed == 0 && check_passed > 0) ? 0 : 1;
}
