/* Replay: the engine in simulated time (wall == mono == max ts seen). */
#include "policy/replay.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"

void rt_decision_list_free(struct rt_decision_list *l) {
    free(l->v);
    *l = (struct rt_decision_list){0};
}

struct collect {
    struct rt_decision_list *out;
    int err;
};

static int list_push(struct rt_decision_list *l, const struct rt_decision_rec *rec) {
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 64;
        struct rt_decision_rec *v = realloc(l->v, cap * sizeof(*v));
        if (!v)
            return -ENOMEM;
        l->v = v;
        l->cap = cap;
    }
    l->v[l->n++] = *rec;
    return 0;
}

static void collect_decision(const struct rt_decision *d, void *ud) {
    struct collect *c = ud;
    struct rt_decision_rec r = {
        .cond = d->cond,
        .reason_code = d->reason_code,
        .ts_us = d->ts_us,
        .window_start_us = d->window_start_us,
        .window_us = d->window_us,
        .unknown_us = d->unknown_us,
        .evidence_ts_us = d->evidence_ts_us,
        .evidence_known = d->evidence_known,
        .evidence_value = d->evidence_value,
        .has_threshold = d->has_threshold,
        .threshold = d->threshold,
    };
    rt_strlcpy(r.bot, d->bot, sizeof(r.bot));
    int err = list_push(c->out, &r);
    if (err < 0)
        c->err = err;
}

static int cmp_decision(const void *a, const void *b) {
    const struct rt_decision_rec *x = a, *y = b;
    if (x->ts_us != y->ts_us)
        return x->ts_us < y->ts_us ? -1 : 1;
    int c = strcmp(x->bot, y->bot);
    if (c)
        return c;
    return (int)x->cond - (int)y->cond;
}

struct rt_replay {
    struct rt_engine *engine;
    struct rt_decision_list decisions;
    struct collect collect;
    int64_t now;
    bool any;
};

struct rt_replay *rt_replay_new(const struct rt_policy *policy) {
    struct rt_replay *r = calloc(1, sizeof(*r));
    if (!r)
        return NULL;
    r->engine = rt_engine_new(policy);
    if (!r->engine) {
        free(r);
        return NULL;
    }
    r->collect.out = &r->decisions;
    r->now = INT64_MIN;
    return r;
}

void rt_replay_free(struct rt_replay *r) {
    if (!r)
        return;
    rt_engine_free(r->engine);
    rt_decision_list_free(&r->decisions);
    free(r);
}

int rt_replay_feed(struct rt_replay *r, const struct rt_evidence *ev) {
    if (r->collect.err)
        return r->collect.err;
    if (ev->ts_us > r->now)
        r->now = ev->ts_us;
    r->any = true;
    struct rt_now t = {r->now, r->now};
    int ret;
    if (ev->kind == RT_EVIDENCE_READINESS) {
        ret = rt_engine_set_readiness(r->engine, ev->bot, ev->readiness, ev->ts_us, t, collect_decision,
                                      &r->collect);
    } else {
        struct rt_obs obs;
        rt_evidence_to_obs(ev, &obs);
        ret = rt_engine_observe(r->engine, &obs, t, collect_decision, &r->collect);
    }
    return ret < 0 ? ret : r->collect.err;
}

int rt_replay_finish(struct rt_replay *r, struct rt_decision_list *out) {
    if (r->any) {
        struct rt_now t = {r->now, r->now};
        int ret = rt_engine_advance(r->engine, t, collect_decision, &r->collect);
        if (ret < 0)
            return ret;
    }
    if (r->collect.err)
        return r->collect.err;
    struct rt_decision_list *d = &r->decisions;
    if (d->n > 1)
        qsort(d->v, d->n, sizeof(*d->v), cmp_decision);
    for (size_t i = 0; i < d->n; i++)
        if (list_push(out, &d->v[i]) < 0)
            return -ENOMEM;
    return 0;
}

int rt_replay(const struct rt_policy *policy, const struct rt_evidence *items, size_t n,
              struct rt_decision_list *out) {
    struct rt_replay *r = rt_replay_new(policy);
    if (!r)
        return -ENOMEM;
    int ret = 0;
    for (size_t i = 0; i < n && ret == 0; i++)
        ret = rt_replay_feed(r, &items[i]);
    if (ret == 0)
        ret = rt_replay_finish(r, out);
    rt_replay_free(r);
    return ret;
}
