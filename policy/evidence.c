/* Evidence-stream lines (docs/evidence.md). */
#include "policy/evidence.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "common/rtime.h"
#include "common/strbuf.h"
#include "common/util.h"

static int fail(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(char *err, size_t errlen, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return -EINVAL;
}


static int parse_string_field(json_t *o, const char *key, char *dst, size_t cap, bool required,
                              char *err, size_t errlen) {
    json_t *v = json_object_get(o, key);
    if (!v) {
        if (required)
            return fail(err, errlen, "%s: missing", key);
        dst[0] = '\0';
        return 0;
    }
    if (!json_is_string(v))
        return fail(err, errlen, "%s: expected a string", key);
    if (strlen(json_string_value(v)) != json_string_length(v))
        return fail(err, errlen, "%s: contains a NUL byte", key);
    if (!rt_strlcpy(dst, json_string_value(v), cap))
        return fail(err, errlen, "%s: longer than %zu bytes", key, cap - 1);
    return 0;
}

static int check_keys(json_t *o, const char *const *allowed, char *err, size_t errlen) {
    const char *k;
    json_t *v;
    json_object_foreach(o, k, v) {
        bool ok = false;
        for (const char *const *a = allowed; *a; a++)
            ok |= strcmp(k, *a) == 0;
        if (!ok)
            return fail(err, errlen, "%s: unknown key", k);
    }
    return 0;
}

static int parse_value(json_t *v, struct rt_evidence *ev, char *err, size_t errlen) {
    const char *cond = rt_cond_name(ev->cond);
    if (!v)
        return fail(err, errlen, "value: missing (use null for unknown)");
    if (json_is_null(v)) {
        ev->known = false;
        return 0;
    }
    ev->known = true;
    if (ev->cond == RT_COND_P0_ALERT) {
        if (!json_is_boolean(v))
            return fail(err, errlen, "value: expected true, false or null for %s", cond);
        ev->value = json_is_true(v) ? 1 : 0;
        return 0;
    }
    if (!json_is_number(v))
        return fail(err, errlen, "value: expected a number or null for %s", cond);
    ev->value = json_number_value(v);
    if (!isfinite(ev->value))
        return fail(err, errlen, "value: not a finite number");
    if (ev->cond == RT_COND_ERROR_RATE && ev->value < 0)
        return fail(err, errlen, "value: an error rate cannot be negative");
    if (ev->cond == RT_COND_CVSS && (ev->value < 0 || ev->value > 10))
        return fail(err, errlen, "value: a CVSS score is between 0 and 10");
    return 0;
}

static int parse_obs(json_t *o, struct rt_evidence *ev, char *err, size_t errlen) {
    static const char *const keys[] = {"ts", "bot", "condition", "value", "tolerance",
                                       "source", "detail", NULL};
    char cond[32];
    int r = check_keys(o, keys, err, errlen);
    if (r == 0)
        r = parse_string_field(o, "condition", cond, sizeof(cond), true, err, errlen);
    if (r < 0)
        return r;
    if (rt_cond_from_name(cond, &ev->cond) < 0)
        return fail(err, errlen, "condition: unknown condition \"%s\"", cond);
    ev->kind = RT_EVIDENCE_OBS;
    if ((r = parse_value(json_object_get(o, "value"), ev, err, errlen)) < 0)
        return r;
    json_t *tol = json_object_get(o, "tolerance");
    if (tol && !json_is_null(tol)) {
        if (ev->cond != RT_COND_RECON_DRIFT)
            return fail(err, errlen, "tolerance: only recon_drift evidence has a tolerance");
        if (!json_is_number(tol) || !(json_number_value(tol) >= 0))
            return fail(err, errlen, "tolerance: expected a number >= 0");
        ev->has_tolerance = true;
        ev->tolerance = json_number_value(tol);
    }
    if ((r = parse_string_field(o, "source", ev->source, sizeof(ev->source), false, err, errlen)) < 0)
        return r;
    return parse_string_field(o, "detail", ev->detail, sizeof(ev->detail), false, err, errlen);
}

static int parse_readiness(json_t *o, struct rt_evidence *ev, char *err, size_t errlen) {
    static const char *const keys[] = {"ts", "bot", "readiness", NULL};
    char name[32];
    int r = check_keys(o, keys, err, errlen);
    if (r == 0)
        r = parse_string_field(o, "readiness", name, sizeof(name), true, err, errlen);
    if (r < 0)
        return r;
    if (rt_readiness_from_name(name, &ev->readiness) < 0)
        return fail(err, errlen, "readiness: expected general_live, limited_live or other");
    ev->kind = RT_EVIDENCE_READINESS;
    return 0;
}

int rt_evidence_parse(const char *line, size_t len, struct rt_evidence *ev, char *err, size_t errlen) {
    memset(ev, 0, sizeof(*ev));
    if (len > RT_EVIDENCE_LINE_MAX)
        return fail(err, errlen, "line longer than %d bytes", RT_EVIDENCE_LINE_MAX);
    json_error_t jerr;
    _cleanup_(json_decrefp) json_t *o = json_loadb(line, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!o)
        return fail(err, errlen, "invalid JSON at column %d: %s", jerr.column, jerr.text);
    if (!json_is_object(o))
        return fail(err, errlen, "expected a JSON object");
    char ts[64];
    int r = parse_string_field(o, "ts", ts, sizeof(ts), true, err, errlen);
    if (r == 0)
        r = parse_string_field(o, "bot", ev->bot, sizeof(ev->bot), true, err, errlen);
    if (r < 0)
        return r;
    if (rt_time_parse(ts, &ev->ts_us) < 0)
        return fail(err, errlen, "ts: not an RFC 3339 time: \"%s\"", ts);
    if (!rt_bot_id_valid(ev->bot))
        return fail(err, errlen, "bot: invalid id \"%s\" (1-64 of A-Z a-z 0-9 . _ : -, first alphanumeric)", ev->bot);
    if (json_object_get(o, "readiness"))
        return parse_readiness(o, ev, err, errlen);
    return parse_obs(o, ev, err, errlen);
}

int rt_evidence_format(const struct rt_evidence *ev, char *buf, size_t cap) {
    _cleanup_(rt_sb_free) struct rt_strbuf b = {0};
    rt_sb_puts(&b, "{\"ts\":");
    rt_sb_json_time(&b, ev->ts_us);
    rt_sb_puts(&b, ",\"bot\":");
    rt_sb_json_str(&b, ev->bot);
    if (ev->kind == RT_EVIDENCE_READINESS) {
        rt_sb_puts(&b, ",\"readiness\":");
        rt_sb_json_str(&b, rt_readiness_name(ev->readiness));
    } else {
        rt_sb_puts(&b, ",\"condition\":");
        rt_sb_json_str(&b, rt_cond_name(ev->cond));
        rt_sb_puts(&b, ",\"value\":");
        if (!ev->known)
            rt_sb_puts(&b, "null");
        else if (ev->cond == RT_COND_P0_ALERT)
            rt_sb_puts(&b, ev->value != 0 ? "true" : "false");
        else
            rt_sb_json_num(&b, ev->value);
        if (ev->has_tolerance) {
            rt_sb_puts(&b, ",\"tolerance\":");
            rt_sb_json_num(&b, ev->tolerance);
        }
        if (ev->source[0]) {
            rt_sb_puts(&b, ",\"source\":");
            rt_sb_json_str(&b, ev->source);
        }
        if (ev->detail[0]) {
            rt_sb_puts(&b, ",\"detail\":");
            rt_sb_json_str(&b, ev->detail);
        }
    }
    rt_sb_puts(&b, "}");
    if (b.oom)
        return -ENOMEM;
    if (b.len + 1 > cap)
        return -ENOBUFS;
    memcpy(buf, b.s, b.len + 1);
    return (int)b.len;
}

void rt_evidence_to_obs(const struct rt_evidence *ev, struct rt_obs *obs) {
    *obs = (struct rt_obs){
        .bot = ev->bot,
        .cond = ev->cond,
        .ts_us = ev->ts_us,
        .known = ev->known,
        .value = ev->value,
        .has_tolerance = ev->has_tolerance,
        .tolerance = ev->tolerance,
    };
}
