/* SPDX-License-Identifier: (GPL-2.0 OR MIT) */
/*
 * libFuzzer target for the format decoders the engine reads from files and the kernel:
 * stream header, whole batches with their records, metadata header and bitmap dumps
 * (include/cbtrep/record.h, meta.h, bitmap.h). Byte 0 picks the decoder and whether the
 * header CRCs are recomputed first, so the fuzzer reaches the checks behind them.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cbtrep/bitmap.h>
#include <cbtrep/meta.h>
#include <cbtrep/record.h>

static void fix_crc(uint8_t *buf, size_t n, size_t hdr_size)
{
    uint32_t crc;

    if (n < hdr_size)
        return;
    crc = cbt_hdr_crc(buf, hdr_size);
    memcpy(buf + hdr_size - 4, &crc, 4);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t *buf;
    size_t n;
    int fix, err = 0;

    if (size < 1)
        return 0;
    n = size - 1;
    buf = (uint8_t *)malloc(n ? n : 1);
    if (!buf)
        return 0;
    memcpy(buf, data + 1, n);
    fix = data[0] & 0x80;

    switch (data[0] & 3) {
    case 0: {
        struct cbt_stream_hdr h;

        if (fix)
            fix_crc(buf, n, sizeof(h));
        err = cbt_stream_hdr_decode(buf, n, &h);
        break;
    }
    case 1: {
        uint64_t len = 0;

        if (fix) {
            /* batch header, then each record header in turn */
            size_t off = sizeof(struct cbt_batch);

            fix_crc(buf, n, sizeof(struct cbt_batch));
            while (off + sizeof(struct cbt_record) <= n) {
                struct cbt_record r;

                memcpy(&r, buf + off, sizeof(r));
                if (r.data_len <= n - off - sizeof(r))
                    r.data_crc = r.data_len ? cbt_crc32c(0, buf + off + sizeof(r), r.data_len) : 0;
                r.hdr_crc = cbt_hdr_crc(&r, sizeof(r));
                memcpy(buf + off, &r, sizeof(r));
                off += sizeof(r) + r.data_len;
            }
        }
        err = cbt_batch_check(buf, n, (data[0] & 4) ? 1u << 21 : 0, &len);
        if (err == CBT_FMT_OK && len > n)
            abort();
        break;
    }
    case 2: {
        struct cbt_meta m;

        if (fix)
            fix_crc(buf, n, sizeof(m));
        err = cbt_meta_decode(buf, n, &m);
        break;
    }
    case 3: {
        struct cbt_bitmap_hdr h;
        const uint8_t *bits = NULL;

        if (fix)
            fix_crc(buf, n, sizeof(h));
        err = cbt_bitmap_decode(buf, n, &h, &bits);
        break;
    }
    }
    if (err < 0 || err >= CBT_FMT_ERR_MAX)
        abort();
    free(buf);
    return 0;
}
