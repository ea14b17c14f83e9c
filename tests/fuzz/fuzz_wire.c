/* SPDX-License-Identifier: (GPL-2.0 OR MIT) */
/*
 * libFuzzer target for the wire frame parser (include/cbtrep/wire.h): cbt_wire_decode()
 * must never read outside its buffer, never crash, and accept only frames whose fields
 * all pass their validators.
 *
 * Byte 0 steers the run: bit 0 recomputes both CRCs first (otherwise almost every input
 * dies at the header CRC and the body validators are never reached), bit 3 also writes a
 * valid magic and version, bits 1-2 pick the replica size bound and the expected version.
 * The rest is the frame.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cbtrep/wire.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const uint64_t bounds[4] = {0, 1ull << 20, 1ull << 40, ~0ull - 511};
    struct cbt_wire_hdr h;
    const uint8_t *body = NULL, *payload = NULL;
    uint8_t *buf;
    size_t n;
    int err;

    if (size < 1)
        return 0;
    n = size - 1;
    /* An exact-size heap copy so ASan sees any read past the end. */
    buf = (uint8_t *)malloc(n ? n : 1);
    if (!buf)
        return 0;
    memcpy(buf, data + 1, n);

    if ((data[0] & 1) && n >= sizeof(h)) {
        struct cbt_wire_hdr fix;

        memcpy(&fix, buf, sizeof(fix));
        if (data[0] & 8) {
            fix.magic = CBT_MAGIC_WIRE;
            fix.version = CBT_WIRE_VERSION_MIN;
            fix.type = (uint16_t)(fix.type % (CBT_WT_MAX + 2));
            fix.body_len = cbt_wire_body_size(fix.type);
        }
        if (fix.body_len <= n - sizeof(fix))
            fix.body_crc = cbt_crc32c(0, buf + sizeof(fix), fix.body_len);
        fix.hdr_crc = cbt_hdr_crc(&fix, sizeof(fix));
        memcpy(buf, &fix, sizeof(fix));
    }

    err = cbt_wire_decode(buf, n, (data[0] & 4) ? CBT_WIRE_VERSION_MIN : 0,
                          bounds[(data[0] >> 1) & 3], &h, &body, &payload);
    if (err == CBT_WIRE_OK) {
        /* What decode accepted is self-consistent and inside the buffer. */
        if (h.body_len != cbt_wire_body_size(h.type) ||
            sizeof(h) + (uint64_t)h.body_len + h.payload_len > n || body != buf + sizeof(h) ||
            payload != body + h.body_len)
            abort();
        if (h.type == CBT_WT_EXTENT) {
            struct cbt_wire_extent e;

            memcpy(&e, body, sizeof(e));
            if (e.offset + e.length < e.offset || e.encoded_len != h.payload_len)
                abort();
        }
    } else if (err < 0 || err >= CBT_WIRE_E_MAX) {
        abort();
    }
    (void)cbt_wire_err_str(err);
    free(buf);
    return 0;
}
