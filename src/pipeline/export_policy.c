/* Parsing and matching of the per-layer export policy (grammar in export_policy.h). */
#include "pipeline/export_policy.h"

#include <fnmatch.h>
#include <string.h>
#include <strings.h>

static const char *const KIND_NAMES[LB_EXPORT_KIND_COUNT] = {"keep", "FP8_E4M3", "FP8_E5M2", "NF4"};

const char *lb_export_kind_name(lb_export_kind k) { return k < LB_EXPORT_KIND_COUNT ? KIND_NAMES[k] : "?"; }

bool lb_export_kind_parse(const char *s, size_t len, lb_export_kind *out)
{
    static const struct {
        const char *name;
        lb_export_kind kind;
    } names[] = {{"keep", LB_EXPORT_KEEP}, {"E4M3", LB_EXPORT_E4M3}, {"FP8_E4M3", LB_EXPORT_E4M3},
                 {"E5M2", LB_EXPORT_E5M2}, {"FP8_E5M2", LB_EXPORT_E5M2}, {"NF4", LB_EXPORT_NF4}};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strlen(names[i].name) == len && strncasecmp(s, names[i].name, len) == 0) return *out = names[i].kind, true;
    return false;
}

static void trim(const char **b, const char **e)
{
    while (*b < *e && (**b == ' ' || **b == '\t' || **b == '\r')) (*b)++;
    while (*e > *b && ((*e)[-1] == ' ' || (*e)[-1] == '\t' || (*e)[-1] == '\r')) (*e)--;
}

/* One item [b, e) of the spec ("where" names the spec or file for messages). */
static lb_status parse_item(lb_export_policy *p, const char *b, const char *e, const char *where)
{
    trim(&b, &e);
    if (b == e) return LB_OK;
    const char *eq = memchr(b, '=', (size_t)(e - b));
    int len = (int)(e - b);
    if (!eq)
        return lb_fail(LB_ERR_ARG, "%s: policy item '%.*s' has no '=' (attn=T, mlp=T, keep=GLOB or GLOB=T)", where, len, b);
    const char *kb = b, *ke = eq, *vb = eq + 1, *ve = e;
    trim(&kb, &ke);
    trim(&vb, &ve);
    if (kb == ke || vb == ve) return lb_fail(LB_ERR_ARG, "%s: policy item '%.*s' has an empty side", where, len, b);
    lb_export_rule r = {.scope = LB_SCOPE_GLOB};
    const char *glob_b = kb, *glob_e = ke;
    size_t klen = (size_t)(ke - kb);
    if (klen == 4 && strncmp(kb, "keep", 4) == 0) {
        r.kind = LB_EXPORT_KEEP;
        glob_b = vb, glob_e = ve;
    } else {
        if (!lb_export_kind_parse(vb, (size_t)(ve - vb), &r.kind))
            return lb_fail(LB_ERR_ARG, "%s: policy item '%.*s': unknown type '%.*s' (E4M3, E5M2, NF4, keep)", where, len, b,
                           (int)(ve - vb), vb);
        if (klen == 4 && strncmp(kb, "attn", 4) == 0) r.scope = LB_SCOPE_ATTN;
        else if (klen == 3 && strncmp(kb, "mlp", 3) == 0) r.scope = LB_SCOPE_MLP;
    }
    if (r.scope == LB_SCOPE_GLOB && !(r.glob = lb_strndup(glob_b, (size_t)(glob_e - glob_b)))) return LB_ERR_NOMEM;
    lb_export_rule *rules = realloc(p->rules, (size_t)(p->n_rules + 1) * sizeof *rules);
    if (!rules) {
        free(r.glob);
        return lb_fail(LB_ERR_NOMEM, "out of memory parsing the policy");
    }
    p->rules = rules;
    p->rules[p->n_rules++] = r;
    return LB_OK;
}

lb_status lb_export_policy_parse(const char *spec, lb_export_policy *out)
{
    memset(out, 0, sizeof *out);
    if (!spec || !*spec) return LB_OK;
    char *text = NULL;
    const char *where = "--policy";
    bool file = spec[0] == '@';
    if (file) {
        size_t len;
        lb_status st = lb_read_file(spec + 1, &text, &len);
        if (st) return st;
        where = spec + 1;
        /* comments run to the end of their line */
        for (char *c = text; *c; c++)
            if (*c == '#')
                while (*c && *c != '\n') *c++ = ' ';
    }
    const char *s = file ? text : spec;
    lb_status st = LB_OK;
    for (const char *b = s; !st;) {
        const char *e = b + strcspn(b, ",\n");
        st = parse_item(out, b, e, where);
        if (!*e) break;
        b = e + 1;
    }
    free(text);
    if (st) lb_export_policy_free(out);
    return st;
}

void lb_export_policy_free(lb_export_policy *p)
{
    for (int i = 0; i < p->n_rules; i++) free(p->rules[i].glob);
    free(p->rules);
    memset(p, 0, sizeof *p);
}

static bool glob_hits(const char *glob, const char *name)
{
    if (fnmatch(glob, name, 0) == 0) return true;
    size_t n = strlen(name), k = strlen(".weight");
    if (n <= k || strcmp(name + n - k, ".weight") != 0) return false;
    char module[256];
    if (n - k >= sizeof module) return false;
    memcpy(module, name, n - k);
    module[n - k] = '\0';
    return fnmatch(glob, module, 0) == 0;
}

lb_export_kind lb_export_policy_kind(const lb_export_policy *p, lb_export_kind dflt, bool attn, bool mlp, const char *hf,
                                     const char *gguf)
{
    lb_export_kind k = dflt;
    for (int i = 0; i < p->n_rules; i++) {
        const lb_export_rule *r = &p->rules[i];
        bool hit = r->scope == LB_SCOPE_ATTN ? attn
                   : r->scope == LB_SCOPE_MLP ? mlp
                                              : glob_hits(r->glob, hf) || (gguf && glob_hits(r->glob, gguf));
        if (hit) k = r->kind;
    }
    return k;
}
