/* The ABI must compile as plain C11 too (kmod and wfilter are C); this file is built into
 * the test binary so a C-only breakage fails the build. */
#include <cbtrep/cbtrep.h>

uint32_t cbt_c_compile_probe(void);

uint32_t cbt_c_compile_probe(void)
{
    struct cbt_record r;

    cbt_rec_init(&r, CBT_REC_WRITE, 1, 0, 8, 0, 0);
    cbt_rec_seal(&r, 0);
    return (uint32_t)cbt_rec_check_hdr(&r, 0);
}
