/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Row payloads shaped like kagent's: Google ADK events (model_dump_json), A2A tasks and
 * messages, push notification configs, LangGraph checkpoints (base64 msgpack), CrewAI memory and
 * flow state, agent configs and the MCP tool cache. Every payload is a function of the action's
 * seed, so content does not depend on insertion order.
 */
#include <stdio.h>
#include <string.h>

#include "datagen/internal.h"

#define N_OF(a) (sizeof(a) / sizeof((a)[0]))

const char *const dg_task_states[TS_COUNT] = {
        [TS_COMPLETED] = "completed",
        [TS_SUBMITTED] = "submitted",
        [TS_WORKING] = "working",
        [TS_INPUT_REQUIRED] = "input-required",
        [TS_AUTH_REQUIRED] = "auth-required",
        [TS_CANCELED] = "canceled",
        [TS_FAILED] = "failed",
        [TS_REJECTED] = "rejected",
        [TS_UNKNOWN] = "unknown",
        [TS_V1_COMPLETED] = "TASK_STATE_COMPLETED",
        [TS_V1_WORKING] = "TASK_STATE_WORKING",
        [TS_V1_FAILED] = "TASK_STATE_FAILED",
};

const struct dg_agent dg_agents[] = {
        { "kagent__NS__k8s_agent", "k8s_agent", SK_ADK },
        { "kagent__NS__helm_agent", "helm_agent", SK_ADK },
        { "kagent__NS__istio_agent", "istio_agent", SK_ADK },
        { "kagent__NS__observability_agent", "observability_agent", SK_ADK },
        { "kagent__NS__promql_agent", "promql_agent", SK_ADK },
        { "kagent__NS__kgateway_agent", "kgateway_agent", SK_ADK },
        { "kagent__NS__argo_rollouts_conversion_agent", "argo_rollouts_conversion_agent", SK_ADK },
        { "kagent__NS__cilium_debug_agent", "cilium_debug_agent", SK_ADK },
        { "platform_team__NS__incident_responder", "incident_responder", SK_ADK },
        { "kagent__NS__legacy_support_bot", "legacy_support_bot", SK_ADK }, /* deleted CR */
        { "kagent__NS__currency_converter", "currency_converter", SK_LG },
        { "kagent__NS__sre_graph", "sre_graph", SK_LG },
        { "kagent__NS__research_crew", "research_crew", SK_CREW },
        { "kagent__NS__poem_flow", "poem_flow", SK_CREW },
};
const size_t dg_n_agents = N_OF(dg_agents);

bool dg_agent_is_deleted(size_t i)
{
        return strcmp(dg_agents[i].name, "legacy_support_bot") == 0;
}

struct toolserver_def {
        const char *name;
        const char *group_kind;
        const char *description;
        const char *url;
        const char *const *tools;
        size_t n_tools;
};

static const char *const kagent_tools[] = {
        "k8s_get_resources",
        "k8s_describe_resource",
        "k8s_get_pod_logs",
        "k8s_get_events",
        "k8s_apply_manifest",
        "k8s_patch_resource",
        "k8s_get_resource_yaml",
        "helm_list_releases",
        "helm_get_release",
        "istio_proxy_status",
        "istio_analyze_cluster_configuration",
        "prometheus_query_tool",
        "cilium_status_and_version",
        "argo_rollouts_list",
};
static const char *const grafana_tools[] = {
        "search_dashboards",    "query_prometheus", "list_alert_rules",
        "get_dashboard_by_uid", "list_datasources",
};
static const char *const querydoc_tools[] = { "query_documentation" };
static const char *const old_tools[] = { "legacy_ticket_lookup", "legacy_runbook_search" };

static const struct toolserver_def toolservers[] = {
        { "kagent/kagent-tool-server", "RemoteMCPServer.kagent.dev",
          "Official kagent tool server: Kubernetes, Helm, Istio, Prometheus, Cilium, Argo",
          "http://kagent-tools.kagent:8084/mcp", kagent_tools, N_OF(kagent_tools) },
        { "kagent/grafana-mcp", "RemoteMCPServer.kagent.dev", "Grafana MCP server",
          "http://grafana-mcp.kagent:8000/mcp", grafana_tools, N_OF(grafana_tools) },
        { "kagent/querydoc", "MCPServer.kagent.dev", "Documentation search over product docs",
          "http://querydoc.kagent:8080/mcp", querydoc_tools, N_OF(querydoc_tools) },
        { "platform-team/old-tools", "MCPServer.kagent.dev", "Retired ticketing tools",
          "http://old-tools.platform-team:8080/sse", old_tools, N_OF(old_tools) },
};

size_t dg_toolserver_count(void)
{
        return N_OF(toolservers);
}

size_t dg_tool_count(size_t server)
{
        return toolservers[server].n_tools;
}

bool dg_toolserver_is_deleted(size_t i)
{
        return i == N_OF(toolservers) - 1;
}

static const char *const titles[] = {
        "Why is checkout crashlooping?",
        "List pods in kube-system",
        "Scale payments to 5 replicas",
        "Helm upgrade failed for redis",
        "Istio mTLS between cart and orders",
        "High p99 latency on frontend",
        "Debug ImagePullBackOff",
        "Create a PromQL alert for 5xx rate",
        "Explain this NetworkPolicy",
        "Node pressure on worker-3",
        "Rollout stuck at 40%",
        "Convert Deployment to Rollout",
        "Cilium drops between namespaces",
        "What changed in the last release?",
        "Certificate expiring in prod",
        "kgateway route returns 404",
        "Grafana dashboard for kafka lag",
        "OOMKilled in batch jobs",
        "RBAC forbidden for CI service account",
        "Summarise cluster health",
        "Convert 100 EUR to USD",
        "Write a poem about etcd",
        "Research zero-downtime Postgres upgrades",
        "PVC stuck in Pending",
};

static const char *const feedback_good[] = {
        "Exactly what I needed, thanks", "Great explanation",
        "Fixed it, thank you!",          "Clear and correct",
        "The kubectl commands worked",
};

static const char *const feedback_bad[] = {
        "It ignored my namespace and looked at default",
        "The metric name does not exist in our Prometheus",
        "Stopped halfway through the rollout steps",
        "Should have checked the pod logs before answering",
        "Wrong Helm chart version",
};

static const char *const issue_types[] = { "instructions", "factual", "incomplete", "tool" };

void content_init(struct content *c, const struct plan *p)
{
        c->p = p;
        sb_init(&c->out);
        sb_init(&c->meta);
        sb_init(&c->aux);
        sb_init(&c->tmp);
        sb_init(&c->raw);
        c->ts[0] = '\0';
}

void content_cleanup(struct content *c)
{
        sb_cleanup(&c->out);
        sb_cleanup(&c->meta);
        sb_cleanup(&c->aux);
        sb_cleanup(&c->tmp);
        sb_cleanup(&c->raw);
}

int content_rc(const struct content *c)
{
        if (c->out.rc < 0)
                return c->out.rc;
        if (c->meta.rc < 0)
                return c->meta.rc;
        if (c->aux.rc < 0)
                return c->aux.rc;
        if (c->tmp.rc < 0)
                return c->tmp.rc;
        return c->raw.rc;
}

static const struct sess *sess_of(const struct content *c, const struct act *a)
{
        return &c->p->sess[a->sess];
}

static const char *rfc3339(struct content *c, int64_t t)
{
        return datagen_format_time_ns(t, DATAGEN_LAYOUT_TURSO, c->ts, sizeof(c->ts));
}

static size_t room(size_t target, size_t used, size_t tail)
{
        /* Text length that brings a payload of 'used' bytes (+ 'tail' still to come) to
         * 'target'; never below a short sentence. */
        if (target > used + tail + 40)
                return target - used - tail;
        return 40;
}

bool content_session_name(struct content *c, const struct act *a)
{
        const struct sess *s = sess_of(c, a);
        struct rng r;

        if (s->flags & (SF_NONAME | SF_A2A))
                return false;
        rng_seed(&r, a->seed);
        sb_reset(&c->out);
        sb_puts(&c->out, titles[rng_below(&r, N_OF(titles))]);
        if (rng_chance(&r, 0.3))
                sb_printf(&c->out, " (%s)", rng_chance(&r, 0.5) ? "prod" : "staging");
        return true;
}

/* ---- events ---- */

static void task_id_of(const struct sess *s, unsigned turn, char out[37])
{
        seed_uuid4(mix64(s->seed, 0x7a500000u + turn), out);
}

struct call {
        char id[40];
        const char *tool;
        const char *ns;
};

static void call_of(const struct sess *s, unsigned turn, unsigned round, struct call *call)
{
        static const char al[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
        static const char *const nss[] = { "default",    "kube-system",  "prod",
                                           "monitoring", "istio-system", "payments" };
        struct rng r;
        const struct toolserver_def *ts;
        int i;

        rng_seed(&r, mix64(s->seed, 0xca110000u + turn * 16 + round));
        memcpy(call->id, "call_", 5);
        for (i = 0; i < 24; i++)
                call->id[5 + i] = al[rng_below(&r, sizeof(al) - 1)];
        call->id[29] = '\0';
        ts = &toolservers[rng_chance(&r, 0.8) ? 0 : 1];
        call->tool = ts->tools[rng_below(&r, ts->n_tools)];
        call->ns = nss[rng_below(&r, N_OF(nss))];
}

static void call_args(struct sb *o, const struct call *call)
{
        sb_printf(o, "{\"resource_type\":\"pod\",\"namespace\":\"%s\",\"output\":\"wide\"}",
                  call->ns);
}

static const char *const null_part_fields =
        "\"video_metadata\":null,\"thought\":null,\"inline_data\":null,\"file_data\":null,"
        "\"thought_signature\":null,\"code_execution_result\":null,\"executable_code\":null,";

static void adk_part(struct content *c, struct rng *r, const struct act *a, const struct call *call)
{
        struct sb *o = &c->out;
        size_t tail = 700;

        sb_putc(o, '{');
        sb_puts(o, null_part_fields);
        switch (a->role) {
        case EV_CALL:
                sb_printf(o, "\"function_call\":{\"id\":\"%s\",\"args\":", call->id);
                call_args(o, call);
                sb_printf(o, ",\"name\":\"%s\"},\"function_response\":null,\"text\":null}",
                          call->tool);
                break;
        case EV_RESP: {
                static const enum text_style styles[] = { TEXT_TABLE, TEXT_LOG, TEXT_YAML };

                sb_printf(o,
                          "\"function_call\":null,\"function_response\":{\"will_continue\":null,"
                          "\"scheduling\":null,\"id\":\"%s\",\"name\":\"%s\",\"response\":{"
                          "\"content\":[{\"type\":\"text\",\"text\":\"",
                          call->id, call->tool);
                text_json(r, o, &c->tmp, room(a->size, o->b.len, tail),
                          styles[rng_below(r, N_OF(styles))]);
                sb_puts(o, "\"}],\"isError\":false}},\"text\":null}");
                break;
        }
        default:
                sb_puts(o, "\"function_call\":null,\"function_response\":null,\"text\":\"");
                text_json(r, o, &c->tmp, room(a->size, o->b.len, tail),
                          a->role == EV_USER ? TEXT_QUESTION : TEXT_PROSE);
                sb_puts(o, "\"}");
                break;
        }
}

static void event_adk(struct content *c, struct rng *r, const struct act *a, const char *id)
{
        const struct sess *s = sess_of(c, a);
        struct sb *o = &c->out;
        struct call call;
        char inv[37];
        bool user = a->role == EV_USER;
        bool final = a->role == EV_TEXT;
        const char *agent = dg_agents[s->agent].name;

        seed_uuid4(mix64(s->seed, 0x1a0000u + a->turn), inv);
        call_of(s, a->turn, a->step, &call);
        sb_printf(o, "{\"model_version\":%s,\"content\":{\"parts\":[",
                  user ? "null" : "\"gpt-4.1-mini-2025-04-14\"");
        adk_part(c, r, a, &call);
        sb_printf(o,
                  "],\"role\":\"%s\"},\"grounding_metadata\":null,\"partial\":%s,"
                  "\"turn_complete\":%s,\"finish_reason\":%s,\"error_code\":null,"
                  "\"error_message\":null,\"interrupted\":null,\"custom_metadata\":null,",
                  user ? "user" : "model", user ? "null" : "false", final ? "true" : "null",
                  user ? "null" : "\"STOP\"");
        if (user || a->role == EV_RESP) {
                sb_puts(o, "\"usage_metadata\":null,");
        } else {
                int64_t prompt = rng_range(r, 800, 60000);
                int64_t cand = rng_range(r, 10, 1500);

                sb_printf(o,
                          "\"usage_metadata\":{\"cache_tokens_details\":null,"
                          "\"cached_content_token_count\":%lld,\"candidates_token_count\":%lld,"
                          "\"prompt_token_count\":%lld,\"thoughts_token_count\":null,"
                          "\"total_token_count\":%lld,\"traffic_type\":null},",
                          (long long)prompt / 2, (long long)cand, (long long)prompt,
                          (long long)prompt + cand);
        }
        sb_printf(o,
                  "\"live_session_resumption_update\":null,\"invocation_id\":\"e-%s\","
                  "\"author\":\"%s\",\"actions\":{\"skip_summarization\":%s,\"state_delta\":{},"
                  "\"artifact_delta\":{},\"transfer_to_agent\":null,\"escalate\":null,"
                  "\"requested_auth_configs\":{},\"requested_tool_confirmations\":{}},"
                  "\"long_running_tool_ids\":%s,\"branch\":null,\"id\":\"%s\","
                  "\"timestamp\":%lld.%06lld}",
                  inv, user ? "user" : agent, a->role == EV_RESP ? "false" : "null",
                  a->role == EV_CALL ? "[]" : "null", id, (long long)(a->t / NS_PER_S),
                  (long long)(a->t % NS_PER_S / 1000));
}

/* v0.5 stored A2A protocol.Message JSON in event.data. */
static void event_a2a(struct content *c, struct rng *r, const struct act *a, const char *id)
{
        const struct sess *s = sess_of(c, a);
        struct sb *o = &c->out;
        struct call call;
        char tid[37];

        task_id_of(s, a->turn, tid);
        call_of(s, a->turn, a->step, &call);
        sb_printf(o, "{\"role\":\"%s\",\"parts\":[", a->role == EV_USER ? "user" : "agent");
        if (a->role == EV_CALL) {
                sb_printf(o, "{\"kind\":\"data\",\"data\":{\"id\":\"%s\",\"name\":\"%s\",\"args\":",
                          call.id, call.tool);
                call_args(o, &call);
                sb_printf(o,
                          "},\"metadata\":{\"kagent_type\":\"function_call\","
                          "\"adk_app_name\":\"%s\",\"adk_session_id\":\"%s\","
                          "\"adk_user_id\":\"%s\"}}",
                          dg_agents[s->agent].name, s->id, s->user);
        } else if (a->role == EV_RESP) {
                sb_printf(o,
                          "{\"kind\":\"data\",\"data\":{\"id\":\"%s\",\"name\":\"%s\","
                          "\"response\":{\"result\":\"",
                          call.id, call.tool);
                text_json(r, o, &c->tmp, room(a->size, o->b.len, 300), TEXT_TABLE);
                sb_puts(o, "\"}},\"metadata\":{\"kagent_type\":\"function_response\"}}");
        } else {
                sb_puts(o, "{\"kind\":\"text\",\"text\":\"");
                text_json(r, o, &c->tmp, room(a->size, o->b.len, 230),
                          a->role == EV_USER ? TEXT_QUESTION : TEXT_PROSE);
                sb_puts(o, "\"}");
        }
        sb_printf(o,
                  "],\"messageId\":\"%s\",\"contextId\":\"%s\",\"taskId\":\"%s\","
                  "\"kind\":\"message\",\"metadata\":{\"kagent_author\":\"%s\"}}",
                  id, s->id, tid, a->role == EV_USER ? "user" : dg_agents[s->agent].name);
}

void content_event(struct content *c, const struct act *a, char id[37])
{
        struct rng r;

        rng_seed(&r, a->seed);
        rng_uuid4(&r, id);
        sb_reset(&c->out);
        if (c->p->layout == DATAGEN_LAYOUT_V05)
                event_a2a(c, &r, a, id);
        else
                event_adk(c, &r, a, id);
}

/* ---- tasks and push notifications ---- */

static void a2a_text_message(struct content *c, struct rng *r, const char *role, const char *sid,
                             const char *tid, size_t n, enum text_style style)
{
        struct sb *o = &c->out;
        char mid[37];

        rng_uuid4(r, mid);
        sb_printf(o, "{\"role\":\"%s\",\"parts\":[{\"kind\":\"text\",\"text\":\"", role);
        text_json(r, o, &c->tmp, n, style);
        sb_printf(o,
                  "\"}],\"messageId\":\"%s\",\"contextId\":\"%s\",\"taskId\":\"%s\","
                  "\"kind\":\"message\"}",
                  mid, sid, tid);
}

static void task_history(struct content *c, struct rng *r, const struct act *a, const char *tid,
                         size_t budget)
{
        const struct sess *s = sess_of(c, a);
        struct sb *o = &c->out;
        unsigned rounds = (unsigned)rng_range(r, 0, 3);
        unsigned i;

        sb_puts(o, "\"history\":[");
        a2a_text_message(c, r, "user", s->id, tid, 60 + budget / 10, TEXT_QUESTION);
        for (i = 0; i < rounds; i++) {
                struct call call;
                char mid[37];

                call_of(s, a->turn, i, &call);
                rng_uuid4(r, mid);
                sb_printf(o,
                          ",{\"role\":\"agent\",\"parts\":[{\"kind\":\"data\",\"data\":{"
                          "\"id\":\"%s\",\"name\":\"%s\",\"args\":",
                          call.id, call.tool);
                call_args(o, &call);
                sb_printf(o,
                          "},\"metadata\":{\"kagent_type\":\"function_call\"}}],"
                          "\"messageId\":\"%s\",\"contextId\":\"%s\",\"taskId\":\"%s\","
                          "\"kind\":\"message\"}",
                          mid, s->id, tid);
                sb_puts(o, ",");
                a2a_text_message(c, r, "agent", s->id, tid, 40 + budget * 4 / 10 / (rounds + 1),
                                 TEXT_TABLE);
        }
        sb_puts(o, "],");
}

void content_task(struct content *c, const struct act *a, char task_id[37])
{
        const struct sess *s = sess_of(c, a);
        struct sb *o = &c->out;
        struct rng r;
        unsigned st = a->role;
        bool done = st == TS_COMPLETED || st == TS_V1_COMPLETED;

        rng_seed(&r, a->seed);
        sb_reset(o);
        seed_uuid4(a->seed, task_id);
        sb_printf(o, "{\"id\":\"%s\",\"contextId\":\"%s\",\"status\":{\"state\":\"%s\",", task_id,
                  s->id, dg_task_states[st]);
        if (st == TS_INPUT_REQUIRED || st == TS_AUTH_REQUIRED || st == TS_FAILED ||
            st == TS_V1_FAILED || st == TS_REJECTED) {
                sb_puts(o, "\"message\":");
                a2a_text_message(c, &r, "agent", s->id, task_id, 80, TEXT_PROSE);
                sb_puts(o, ",");
        }
        sb_printf(o, "\"timestamp\":\"%s\"},", rfc3339(c, a->upd));
        task_history(c, &r, a, task_id, a->size);
        sb_puts(o, "\"artifacts\":[");
        if (done) {
                char aid[37];

                rng_uuid4(&r, aid);
                sb_printf(o, "{\"artifactId\":\"%s\",\"parts\":[{\"kind\":\"text\",\"text\":\"",
                          aid);
                text_json(&r, o, &c->tmp, room(a->size, o->b.len, 200), TEXT_PROSE);
                sb_puts(o, "\"}]}");
        }
        sb_printf(o,
                  "],\"metadata\":{\"kagent_app_name\":\"%s\",\"kagent_session_id\":\"%s\","
                  "\"kagent_user_id\":\"%s\"},\"kind\":\"task\"}",
                  dg_agents[s->agent].name, s->id, s->user);
}

void content_push(struct content *c, const struct act *a, char push_id[37], char task_id[37])
{
        struct sb *o = &c->out;
        struct rng r;
        char tok[33];
        int i;

        rng_seed(&r, a->seed);
        sb_reset(o);
        rng_uuid4(&r, push_id);
        seed_uuid4((uint64_t)a->aux, task_id);
        for (i = 0; i < 32; i++)
                tok[i] = "0123456789abcdef"[rng_below(&r, 16)];
        tok[32] = '\0';
        sb_printf(o,
                  "{\"taskId\":\"%s\",\"pushNotificationConfig\":{\"id\":\"%s\","
                  "\"url\":\"https://hooks.%s/a2a/%.12s\",\"token\":\"%s\","
                  "\"authentication\":{\"schemes\":[\"Bearer\"],\"credentials\":null}}}",
                  task_id, push_id, rng_chance(&r, 0.5) ? "example.com" : "acme.io", tok + 20, tok);
}

const char *content_feedback(struct content *c, const struct act *a, int *is_positive,
                             int64_t *message_id)
{
        struct rng r;
        bool good;

        rng_seed(&r, a->seed);
        sb_reset(&c->out);
        good = a->role != 0;
        *is_positive = good;
        *message_id = rng_range(&r, 1, 250000);
        sb_puts(&c->out, good ? feedback_good[rng_below(&r, N_OF(feedback_good))]
                              : feedback_bad[rng_below(&r, N_OF(feedback_bad))]);
        return good ? NULL : issue_types[rng_below(&r, N_OF(issue_types))];
}

/* ---- LangGraph ---- */

static void cp_id_at(const struct sess *s, int64_t t, unsigned step1, char out[37])
{
        uuid6_format(t, step1 & 0x3fff, s->seed & UINT64_C(0xffffffffffff), out);
}

void content_cp_ns(const struct plan *p, const struct act *a, char *ns, size_t size)
{
        char u[37];

        if (!(a->flags & AF_SUBNS)) {
                (void)snprintf(ns, size, "%s", "");
                return;
        }
        seed_uuid4(mix64(p->sess[a->sess].seed, 0x5b000000u + a->turn), u);
        (void)snprintf(ns, size, "tools:%s", u);
}

void content_cpw_checkpoint_id(const struct plan *p, const struct act *a, char out[37])
{
        cp_id_at(&p->sess[a->sess], a->aux, a->aux2, out);
}

static void lg_version(struct sb *s, struct rng *r, unsigned v)
{
        char buf[64];
        int n;

        n = snprintf(buf, sizeof(buf), "%032u.%.16f", v, rng_unit(r));
        if (n > 0)
                mp_str(s, buf, (size_t)n < sizeof(buf) ? (size_t)n : sizeof(buf) - 1);
}

static void checkpoint_msgpack(struct content *c, struct rng *r, const struct act *a,
                               const char *cp_id)
{
        struct sb *m = &c->raw;
        unsigned n_msgs = a->turn * 2 + 1 < 24 ? a->turn * 2u + 1 : 24u;
        size_t per = a->size > 700 ? (a->size - 600) / n_msgs : 40;
        unsigned i;

        sb_reset(m);
        mp_map(m, 6);
        mp_cstr(m, "v");
        mp_int(m, 4);
        mp_cstr(m, "ts");
        mp_cstr(m, rfc3339(c, a->t));
        mp_cstr(m, "id");
        mp_cstr(m, cp_id);
        mp_cstr(m, "channel_values");
        mp_map(m, 1);
        mp_cstr(m, "messages");
        mp_arr(m, n_msgs);
        for (i = 0; i < n_msgs; i++) {
                char mid[37];

                rng_uuid4(r, mid);
                mp_map(m, 3);
                mp_cstr(m, "type");
                mp_cstr(m, i % 2 ? "ai" : "human");
                mp_cstr(m, "id");
                mp_cstr(m, mid);
                mp_cstr(m, "content");
                sb_reset(&c->tmp);
                text_fill(r, &c->tmp, per, i % 2 ? TEXT_PROSE : TEXT_QUESTION);
                mp_str(m, c->tmp.b.data ? c->tmp.b.data : "", c->tmp.b.len);
        }
        mp_cstr(m, "channel_versions");
        mp_map(m, 3);
        mp_cstr(m, "__start__");
        lg_version(m, r, a->step + 1u);
        mp_cstr(m, "messages");
        lg_version(m, r, a->step + 2u);
        mp_cstr(m, "branch:to:agent");
        lg_version(m, r, a->step + 2u);
        mp_cstr(m, "versions_seen");
        mp_map(m, 1);
        mp_cstr(m, "__input__");
        mp_map(m, 0);
        mp_cstr(m, "updated_channels");
        mp_arr(m, 1);
        mp_cstr(m, "messages");
}

void content_checkpoint(struct content *c, const struct act *a, char cp_id[37], char parent_id[37],
                        bool *has_parent, int *version)
{
        const struct sess *s = sess_of(c, a);
        struct rng r;
        char run[37];
        int step = (int)a->step - 1;

        rng_seed(&r, a->seed);
        cp_id_at(s, a->t, a->step, cp_id);
        *has_parent = a->aux != TIME_NONE;
        if (*has_parent)
                cp_id_at(s, a->aux, a->aux2, parent_id);
        *version = rng_chance(&r, 0.1) ? 1 : 4;
        checkpoint_msgpack(c, &r, a, cp_id);
        sb_reset(&c->out);
        sb_base64(&c->out, (const unsigned char *)(c->raw.b.data ? c->raw.b.data : ""),
                  c->raw.b.len);
        /* Metadata is JSON (json.dumps), base64 like the checkpoint. */
        rng_uuid4(&r, run);
        sb_reset(&c->raw);
        sb_printf(&c->raw, "{\"source\": \"%s\", \"step\": %d, \"parents\": {}, ",
                  step < 0 ? "input" : "loop", step);
        sb_printf(&c->raw,
                  "\"thread_id\": \"%s\", \"user_id\": \"%s\", \"run_id\": \"%s\", "
                  "\"graph_id\": \"%s\"}",
                  s->id, s->user, run, dg_agents[s->agent].name);
        sb_reset(&c->meta);
        sb_base64(&c->meta, (const unsigned char *)(c->raw.b.data ? c->raw.b.data : ""),
                  c->raw.b.len);
}

const char *content_cp_write(struct content *c, const struct act *a, unsigned i, int *idx_out,
                             const char **value_type, char task_id[37])
{
        static const char *const channels[] = { "messages", "branch:to:agent", "branch:to:tools",
                                                "__start__" };
        struct rng r;
        const char *ch;

        rng_seed(&r, mix64(a->seed, i));
        seed_uuid4(mix64(a->seed, 0x7a5c), task_id);
        sb_reset(&c->out);
        sb_reset(&c->raw);
        *idx_out = (int)i;
        *value_type = "msgpack";
        if (i + 1 == a->step && rng_chance(&r, 0.08)) {
                /* WRITES_IDX_MAP: ERROR = -1, INTERRUPT = -3 */
                bool err = rng_chance(&r, 0.5);

                *idx_out = err ? -1 : -3;
                ch = err ? "__error__" : "__interrupt__";
                mp_cstr(&c->raw, err ? "ToolException('kubectl timed out')" : "approve?");
        } else if (i > 0 && rng_chance(&r, 0.1)) {
                *value_type = "null"; /* dumps_typed(None) */
                return channels[1 + i % 2];
        } else {
                ch = channels[i % N_OF(channels)];
                mp_arr(&c->raw, 1);
                mp_map(&c->raw, 2);
                mp_cstr(&c->raw, "type");
                mp_cstr(&c->raw, "ai");
                mp_cstr(&c->raw, "content");
                sb_reset(&c->tmp);
                text_fill(&r, &c->tmp, a->size > 0 ? a->size : 100, TEXT_PROSE);
                mp_str(&c->raw, c->tmp.b.data ? c->tmp.b.data : "", c->tmp.b.len);
        }
        sb_base64(&c->out, (const unsigned char *)c->raw.b.data, c->raw.b.len);
        return ch;
}

/* ---- CrewAI ---- */

void content_crew_memory(struct content *c, const struct act *a)
{
        struct sb *o = &c->out;
        struct rng r;

        rng_seed(&r, a->seed);
        sb_reset(o);
        sb_puts(o, "{\"task_description\":\"");
        text_json(&r, o, &c->tmp, 120, TEXT_QUESTION);
        sb_printf(o,
                  "\",\"score\":%.2f,\"metadata\":{\"agent\":\"%s\",\"quality\":%d,"
                  "\"suggestions\":[\"",
                  rng_unit(&r), rng_chance(&r, 0.5) ? "Senior Researcher" : "Report Writer",
                  (int)rng_range(&r, 3, 10));
        text_json(&r, o, &c->tmp, room(a->size, o->b.len, 60), TEXT_PROSE);
        sb_printf(o, "\"]},\"datetime\":\"%lld.%03lld\"}", (long long)(a->t / NS_PER_S),
                  (long long)(a->t % NS_PER_S / NS_PER_MS));
}

const char *content_crew_flow(struct content *c, const struct act *a)
{
        static const char *const methods[] = { "generate_sentence_count", "generate_poem",
                                               "research_topic", "write_report", "save_output" };
        const struct sess *s = sess_of(c, a);
        struct sb *o = &c->out;
        struct rng r;
        char fid[37];

        rng_seed(&r, a->seed);
        sb_reset(o);
        seed_uuid4(mix64(s->seed, 0xf10), fid);
        sb_printf(o, "{\"id\":\"%s\",\"sentence_count\":%d,\"topic\":\"", fid,
                  (int)rng_range(&r, 1, 9));
        text_json(&r, o, &c->tmp, 60, TEXT_QUESTION);
        sb_puts(o, "\",\"output\":\"");
        text_json(&r, o, &c->tmp, room(a->size, o->b.len, 4), TEXT_PROSE);
        sb_puts(o, "\"}");
        return methods[a->step % N_OF(methods)];
}

/* ---- controller caches ---- */

bool content_agent(struct content *c, size_t i, const char **type)
{
        const struct dg_agent *ag = &dg_agents[i];
        struct sb *o = &c->out;
        struct rng r;
        size_t t;

        rng_seed(&r, mix64(0xa6e47, i));
        *type = ag->kind == SK_ADK ? "Declarative" : "BYO";
        sb_reset(o);
        if (ag->kind != SK_ADK && c->p->layout != DATAGEN_LAYOUT_V05)
                return false;
        sb_printf(o, "{\"kagent_url\":\"http://kagent-controller.kagent:8083\",\"instruction\":\"");
        text_json(&r, o, &c->tmp, (size_t)rng_range(&r, 600, 2500), TEXT_PROSE);
        sb_printf(o,
                  "\",\"model\":{\"type\":\"openai\",\"model\":\"%s\",\"base_url\":\"\","
                  "\"headers\":{}},\"description\":\"%s\",\"http_tools\":[{\"params\":{"
                  "\"url\":\"%s\",\"headers\":{},\"timeout\":30},\"tools\":[",
                  rng_chance(&r, 0.7) ? "gpt-4.1-mini" : "gpt-4o", ag->name, toolservers[0].url);
        for (t = 0; t < 5; t++)
                sb_printf(o, "%s\"%s\"", t ? "," : "",
                          toolservers[0].tools[(i + t) % toolservers[0].n_tools]);
        sb_puts(o, "]}],\"sse_tools\":[],\"remote_agents\":[],\"execute_code\":false,"
                   "\"stream\":true}");
        return true;
}

const char *content_toolserver(struct content *c, size_t i, const char **group_kind,
                               const char **description)
{
        const struct toolserver_def *ts = &toolservers[i];

        *group_kind = ts->group_kind;
        *description = ts->description;
        sb_reset(&c->out);
        sb_printf(&c->out, "{\"streamableHttp\":{\"url\":\"%s\",\"timeout\":\"30s\"}}", ts->url);
        return ts->name;
}

const char *content_tool(size_t server, size_t tool, const char **description)
{
        static const char *const descs[] = {
                "Get Kubernetes resources using kubectl",
                "Describe a Kubernetes resource in detail",
                "Fetch logs of a pod or container",
                "List events of a namespace or object",
                "Apply a YAML manifest to the cluster",
                "Patch a Kubernetes resource",
                "Run a PromQL query against Prometheus",
        };

        *description = descs[(server * 7 + tool) % N_OF(descs)];
        return toolservers[server].tools[tool];
}

void content_memory(struct content *c, const struct act *a, char id[37], const char **agent,
                    const char **user)
{
        const struct sess *s = sess_of(c, a);
        struct rng r;
        int i;

        rng_seed(&r, a->seed);
        rng_uuid4(&r, id);
        *agent = dg_agents[s->agent].name;
        *user = s->user;
        sb_reset(&c->out);
        text_fill(&r, &c->out, a->size, TEXT_PROSE);
        sb_reset(&c->meta);
        sb_printf(&c->meta, "{\"session_id\":\"%s\",\"source\":\"session_summary\"}", s->id);
        /* pgvector.Vector binds as its text form "[x,y,...]"; 768 dimensions. */
        sb_reset(&c->aux);
        sb_putc(&c->aux, '[');
        for (i = 0; i < 768; i++)
                sb_printf(&c->aux, "%s%.6f", i ? "," : "", rng_unit(&r) * 0.2 - 0.1);
        sb_putc(&c->aux, ']');
}
