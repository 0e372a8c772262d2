#include "cmdlog/checkpoint.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "cmdlog/codec.h"
#include "common/rtime.h"
#include "common/util.h"

#define EM_DASH "\xE2\x80\x94"

_printf_(3, 4) static void seterr(char *err, size_t errlen, const char *fmt, ...) {
    if (!err || errlen == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

int rt_log_checkpoint_sign(const char *origin, uint64_t size, const uint8_t root[32], int64_t ts_us,
                           const struct rt_log_key *key, struct rt_strbuf *out) {
    char root64[RT_LOG_B64_LEN(32) + 1], ts[RT_TIME_BUFSZ];
    if (!rt_log_origin_valid(origin))
        return -EINVAL;
    rt_log_b64(root, 32, root64);
    rt_time_format(ts_us, ts);
    rt_sb_reset(out);
    rt_sb_printf(out, "%s\n%" PRIu64 "\n%s\nts %s\n", origin, size, root64, ts);
    if (out->oom)
        return -ENOMEM;
    uint8_t blob[RT_LOG_KEY_ID_LEN + RT_LOG_SIG_LEN];
    memcpy(blob, rt_log_key_id_of(key), RT_LOG_KEY_ID_LEN);
    int r = rt_log_key_sign(key, out->s, out->len, blob + RT_LOG_KEY_ID_LEN);
    if (r < 0)
        return r;
    char sig64[RT_LOG_B64_LEN(sizeof blob) + 1];
    rt_log_b64(blob, sizeof blob, sig64);
    rt_sb_printf(out, "\n" EM_DASH " %s %s\n", rt_log_key_name(key), sig64);
    return out->oom ? -ENOMEM : 0;
}

/* Next line of [*p, end) without its LF; false if there is no complete line. */
static bool next_line(const char **p, const char *end, const char **line, size_t *n) {
    const char *nl = memchr(*p, '\n', (size_t)(end - *p));
    if (!nl)
        return false;
    *line = *p;
    *n = (size_t)(nl - *p);
    *p = nl + 1;
    return true;
}

static bool parse_u64(const char *s, size_t n, uint64_t *out) {
    if (n == 0 || n > 19 || (n > 1 && s[0] == '0'))
        return false;
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        v = v * 10 + (uint64_t)(s[i] - '0');
    }
    *out = v;
    return true;
}

static int parse_body(const char *text, size_t body_len, struct rt_log_checkpoint *cp, char *err, size_t errlen) {
    const char *p = text, *end = text + body_len, *line;
    size_t n;
    if (!next_line(&p, end, &line, &n) || n == 0 || n > RT_LOG_ORIGIN_MAX)
        return seterr(err, errlen, "checkpoint: bad origin line"), -EBADMSG;
    memcpy(cp->origin, line, n);
    cp->origin[n] = '\0';
    if (!rt_log_origin_valid(cp->origin))
        return seterr(err, errlen, "checkpoint: bad origin line"), -EBADMSG;
    if (!next_line(&p, end, &line, &n) || !parse_u64(line, n, &cp->size) || cp->size > INT64_MAX)
        return seterr(err, errlen, "checkpoint: bad tree size line"), -EBADMSG;
    size_t got = 0;
    if (!next_line(&p, end, &line, &n) || rt_log_unb64(line, n, cp->root, 32, &got) < 0 || got != 32)
        return seterr(err, errlen, "checkpoint: bad root hash line"), -EBADMSG;
    char ts[RT_TIME_BUFSZ + 1], canon[RT_TIME_BUFSZ];
    if (!next_line(&p, end, &line, &n) || n < 4 || n - 3 >= sizeof ts || memcmp(line, "ts ", 3) != 0)
        return seterr(err, errlen, "checkpoint: missing \"ts\" line"), -EBADMSG;
    memcpy(ts, line + 3, n - 3);
    ts[n - 3] = '\0';
    if (rt_time_parse(ts, &cp->ts_us) < 0 || (rt_time_format(cp->ts_us, canon), strcmp(canon, ts) != 0))
        return seterr(err, errlen, "checkpoint: bad \"ts\" line"), -EBADMSG;
    if (p != end)
        return seterr(err, errlen, "checkpoint: unexpected extension line"), -EBADMSG;
    return 0;
}

static int parse_sig_line(const char *line, size_t n, struct rt_log_note_sig *s) {
    const size_t dash = strlen(EM_DASH " ");
    if (n < dash || memcmp(line, EM_DASH " ", dash) != 0)
        return -EBADMSG;
    line += dash;
    n -= dash;
    const char *sp = memchr(line, ' ', n);
    if (!sp || sp == line || (size_t)(sp - line) > RT_LOG_NOTE_NAME_MAX)
        return -EBADMSG;
    size_t name_len = (size_t)(sp - line);
    for (size_t i = 0; i < name_len; i++)
        if ((unsigned char)line[i] <= 0x20 || line[i] == '+' || line[i] == 0x7F)
            return -EBADMSG;
    memcpy(s->name, line, name_len);
    s->name[name_len] = '\0';
    uint8_t blob[512];
    size_t got = 0;
    if (rt_log_unb64(sp + 1, n - name_len - 1, blob, sizeof blob, &got) < 0 || got < RT_LOG_KEY_ID_LEN)
        return -EBADMSG;
    s->ed25519 = got == RT_LOG_KEY_ID_LEN + RT_LOG_SIG_LEN;
    memcpy(s->id, blob, RT_LOG_KEY_ID_LEN);
    if (s->ed25519)
        memcpy(s->sig, blob + RT_LOG_KEY_ID_LEN, RT_LOG_SIG_LEN);
    return 0;
}

int rt_log_checkpoint_parse(const char *text, size_t len, struct rt_log_checkpoint *cp, char *err, size_t errlen) {
    memset(cp, 0, sizeof *cp);
    if (len > RT_LOG_CHECKPOINT_MAX)
        return seterr(err, errlen, "checkpoint: longer than %d bytes", RT_LOG_CHECKPOINT_MAX), -EBADMSG;
    if (memchr(text, '\0', len))
        return seterr(err, errlen, "checkpoint: contains NUL"), -EBADMSG;
    const char *blank = memmem(text, len, "\n\n", 2);
    if (!blank)
        return seterr(err, errlen, "checkpoint: no blank line before the signatures"), -EBADMSG;
    cp->body_len = (size_t)(blank - text) + 1;
    int r = parse_body(text, cp->body_len, cp, err, errlen);
    if (r < 0)
        return r;
    const char *p = blank + 2, *end = text + len, *line;
    size_t n;
    while (p < end) {
        if (!next_line(&p, end, &line, &n))
            return seterr(err, errlen, "checkpoint: signature line without newline"), -EBADMSG;
        if (cp->n_sigs == RT_LOG_NOTE_MAX_SIGS)
            return seterr(err, errlen, "checkpoint: more than %d signatures", RT_LOG_NOTE_MAX_SIGS), -EBADMSG;
        if (parse_sig_line(line, n, &cp->sigs[cp->n_sigs]) < 0)
            return seterr(err, errlen, "checkpoint: malformed signature line %zu", cp->n_sigs + 1), -EBADMSG;
        cp->n_sigs++;
    }
    if (cp->n_sigs == 0)
        return seterr(err, errlen, "checkpoint: no signature"), -EBADMSG;
    return 0;
}

int rt_log_checkpoint_verify(const struct rt_log_checkpoint *cp, const char *text,
                             const struct rt_log_pubkey *const *keys, size_t n_keys, char *err, size_t errlen) {
    size_t good = 0;
    for (size_t i = 0; i < cp->n_sigs; i++) {
        const struct rt_log_note_sig *s = &cp->sigs[i];
        if (!s->ed25519)
            continue;
        for (size_t k = 0; k < n_keys; k++) {
            const char *name = rt_log_pubkey_name(keys[k]);
            if (!*name || strcmp(name, s->name) != 0 || memcmp(rt_log_pubkey_id(keys[k]), s->id, RT_LOG_KEY_ID_LEN))
                continue;
            if (!rt_log_pubkey_verify(keys[k], NULL, text, cp->body_len, s->sig)) {
                seterr(err, errlen, "checkpoint: signature by key \"%s\" does not verify", s->name);
                return -EKEYREJECTED;
            }
            good++;
            break;
        }
    }
    if (good == 0) {
        seterr(err, errlen, "checkpoint: not signed by any known key");
        return -EKEYREJECTED;
    }
    return 0;
}
