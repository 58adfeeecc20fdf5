/* SPDX-License-Identifier: Apache-2.0 */
/* Printing prune results and database reports as text tables or JSON on stdout. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "base/str.h"
#include "cli.h"
#include "prune/prune.h"

static void print_json(json_t *j)
{
        char *s = j ? json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER) : NULL;

        if (s)
                printf("%s\n", s);
        free(s);
        json_decref(j);
}

static json_t *prune_json(const struct prune_result *r)
{
        json_t *root = json_object();
        json_t *deleted = json_array();

        for (int rule = 0; rule < STORE_RULE_COUNT; rule++) {
                for (int t = 0; t < STORE_T_COUNT; t++) {
                        const struct store_count *c = &r->rules[rule].tables[t];

                        if (c->rows == 0)
                                continue;
                        json_array_append_new(
                                deleted,
                                json_pack("{s:s, s:s, s:I, s:I}", "table",
                                          store_table_name((enum store_table)t), "rule",
                                          store_rule_name((enum store_rule)rule), "rows",
                                          (json_int_t)c->rows, "bytes", (json_int_t)c->bytes));
                }
        }
        json_object_set_new(root, "result", json_string(prune_outcome_name(r->outcome)));
        json_object_set_new(root, "message", json_string(r->message));
        json_object_set_new(root, "rows", json_integer(r->rows));
        json_object_set_new(root, "bytes", json_integer(r->bytes));
        json_object_set_new(root, "deleted", deleted);
        json_object_set_new(root, "batches", json_integer(r->batches));
        json_object_set_new(root, "maxBatchMillis", json_real((double)r->max_batch_us / 1000.0));
        json_object_set_new(root, "skippedUnits", json_integer(r->skipped_units));
        json_object_set_new(root, "busyRetries", json_integer(r->busy_retries));
        json_object_set_new(root, "planMillis", json_integer(r->plan_ms));
        json_object_set_new(root, "maxReadMillis", json_integer(r->max_read_ms));
        json_object_set_new(root, "pausedMillis", json_integer(r->paused_ms));
        json_object_set_new(root, "durationMillis", json_integer(r->duration_ms));
        return root;
}

void output_prune(const struct prune_result *r, enum output_format f, bool dry_run)
{
        char h[32];
        bool any = false;

        if (f == OUTPUT_JSON) {
                print_json(prune_json(r));
                return;
        }
        printf("result: %s (%s)\n", prune_outcome_name(r->outcome), r->message);
        printf("%-16s %-22s %12s %12s\n", "RULE", "TABLE", dry_run ? "WOULD DELETE" : "ROWS",
               "BYTES");
        for (int rule = 0; rule < STORE_RULE_COUNT; rule++) {
                for (int t = 0; t < STORE_T_COUNT; t++) {
                        const struct store_count *c = &r->rules[rule].tables[t];

                        if (c->rows == 0)
                                continue;
                        any = true;
                        printf("%-16s %-22s %12lld %12s\n", store_rule_name((enum store_rule)rule),
                               store_table_name((enum store_table)t), (long long)c->rows,
                               str_human_bytes((uint64_t)c->bytes, h, sizeof(h)));
                }
        }
        if (!any)
                printf("(nothing)\n");
        printf("total: %lld rows, %s; %lld batches, longest write transaction %.1f ms, "
               "planning %lld ms (longest read %lld ms), paused %lld ms, %lld busy retries, "
               "%lld re-check skips; took %.2f s\n",
               (long long)r->rows, str_human_bytes((uint64_t)r->bytes, h, sizeof(h)),
               (long long)r->batches, (double)r->max_batch_us / 1000.0, (long long)r->plan_ms,
               (long long)r->max_read_ms, (long long)r->paused_ms, (long long)r->busy_retries,
               (long long)r->skipped_units, (double)r->duration_ms / 1000.0);
}

/* PostgreSQL: no files or pages of ours; the database's size, and per table live and dead rows
 * (statistics estimates) with its total size (table, TOAST and indexes). */
static json_t *report_postgres_json(const struct store_info *info, const struct store_usage *u)
{
        json_t *root = json_object();
        json_t *tables = json_array();

        json_object_set_new(root, "type", json_string(store_type_name(info->type)));
        json_object_set_new(root, "schema", json_string(store_schema_name(info->schema)));
        if (info->schema_version[0])
                json_object_set_new(root, "schemaVersion", json_string(info->schema_version));
        json_object_set_new(root, "engine", json_string(info->engine_version));
        json_object_set_new(root, "writable", json_boolean(info->writable));
        if (!info->writable)
                json_object_set_new(root, "notWritableReason",
                                    json_string(info->not_writable_reason));
        json_object_set_new(root, "sizeBytes", json_integer(u->db_bytes));
        json_object_set_new(root, "pageSize", json_integer(u->page_size));
        json_object_set_new(root, "autoVacuum", json_string(u->auto_vacuum));
        for (size_t i = 0; i < u->n_tables; i++)
                json_array_append_new(tables,
                                      json_pack("{s:s, s:I, s:I, s:I}", "name", u->tables[i].name,
                                                "rows", (json_int_t)u->tables[i].rows, "deadRows",
                                                (json_int_t)u->tables[i].dead_rows, "bytes",
                                                (json_int_t)u->tables[i].bytes));
        json_object_set_new(root, "tables", tables);
        return root;
}

static void report_postgres_text(const struct store_info *info, const struct store_usage *u)
{
        char h[32];

        printf("database: postgres (%s), schema %s%s%s\n", info->engine_version,
               store_schema_name(info->schema), info->schema_version[0] ? "/" : "",
               info->schema_version);
        if (!info->writable && strcmp(info->not_writable_reason, "opened read-only") != 0)
                printf("pruning: not possible now (%s)\n", info->not_writable_reason);
        printf("size: %s (pg_database_size), autovacuum %s\n",
               str_human_bytes((uint64_t)u->db_bytes, h, sizeof(h)), u->auto_vacuum);
        if (u->n_tables == 0)
                return;
        printf("%-28s %12s %12s %12s\n", "TABLE", "ROWS(est)", "DEAD(est)", "BYTES");
        for (size_t i = 0; i < u->n_tables; i++)
                printf("%-28s %12lld %12lld %12s\n", u->tables[i].name,
                       (long long)u->tables[i].rows, (long long)u->tables[i].dead_rows,
                       str_human_bytes((uint64_t)u->tables[i].bytes, h, sizeof(h)));
}

void output_report(const struct store_info *info, const struct store_usage *u, const char *path,
                   enum output_format f)
{
        char h[32];

        if (info->type == STORE_POSTGRES) {
                if (f == OUTPUT_JSON)
                        print_json(report_postgres_json(info, u));
                else
                        report_postgres_text(info, u);
                return;
        }
        if (f == OUTPUT_JSON) {
                json_t *root = json_object();
                json_t *files = json_object();
                json_t *tables = json_array();

                json_object_set_new(root, "type", json_string(store_type_name(info->type)));
                json_object_set_new(root, "schema", json_string(store_schema_name(info->schema)));
                json_object_set_new(root, "engine", json_string(info->engine_version));
                json_object_set_new(root, "writable", json_boolean(info->writable));
                if (!info->writable)
                        json_object_set_new(root, "notWritableReason",
                                            json_string(info->not_writable_reason));
                if (path)
                        json_object_set_new(root, "path", json_string(path));
                json_object_set_new(files, "main", json_integer(u->main_bytes));
                json_object_set_new(files, "wal", json_integer(u->wal_bytes));
                json_object_set_new(files, "shm", json_integer(u->shm_bytes));
                json_object_set_new(files, "journal", json_integer(u->journal_bytes));
                json_object_set_new(root, "files", files);
                json_object_set_new(root, "sizeBytes", json_integer(u->db_bytes));
                json_object_set_new(root, "freeBytes", json_integer(u->free_bytes));
                json_object_set_new(root, "pageSize", json_integer(u->page_size));
                json_object_set_new(root, "pageCount", json_integer(u->page_count));
                json_object_set_new(root, "freelistCount", json_integer(u->freelist_count));
                json_object_set_new(root, "journalMode", json_string(u->journal_mode));
                json_object_set_new(root, "autoVacuum", json_string(u->auto_vacuum));
                json_object_set_new(root, "tableBytesExact", json_boolean(u->tables_exact));
                for (size_t i = 0; i < u->n_tables; i++)
                        json_array_append_new(
                                tables, json_pack("{s:s, s:I, s:I}", "name", u->tables[i].name,
                                                  "rows", (json_int_t)u->tables[i].rows, "bytes",
                                                  (json_int_t)u->tables[i].bytes));
                json_object_set_new(root, "tables", tables);
                print_json(root);
                return;
        }
        printf("database: %s %s (%s), schema %s\n", store_type_name(info->type), path ? path : "",
               info->engine_version, store_schema_name(info->schema));
        if (info->schema == STORE_SCHEMA_TURSO_SQLITE && !info->writable)
                printf("pruning: not possible now (%s)\n", info->not_writable_reason);
        printf("files: main %s", str_human_bytes((uint64_t)u->main_bytes, h, sizeof(h)));
        printf(", wal %s", str_human_bytes((uint64_t)u->wal_bytes, h, sizeof(h)));
        printf(", shm %s", str_human_bytes((uint64_t)u->shm_bytes, h, sizeof(h)));
        printf(", journal %s", str_human_bytes((uint64_t)u->journal_bytes, h, sizeof(h)));
        printf(" (total %s)\n", str_human_bytes((uint64_t)u->db_bytes, h, sizeof(h)));
        printf("pages: size %lld, count %lld, free %lld (%s reusable), journal_mode %s, "
               "auto_vacuum %s\n",
               (long long)u->page_size, (long long)u->page_count, (long long)u->freelist_count,
               str_human_bytes((uint64_t)u->free_bytes, h, sizeof(h)), u->journal_mode,
               u->auto_vacuum);
        if (u->n_tables == 0)
                return;
        printf("%-24s %12s %12s\n", "TABLE", "ROWS", u->tables_exact ? "BYTES" : "BYTES(est)");
        for (size_t i = 0; i < u->n_tables; i++)
                printf("%-24s %12lld %12s\n", u->tables[i].name, (long long)u->tables[i].rows,
                       u->tables[i].bytes < 0
                               ? "-"
                               : str_human_bytes((uint64_t)u->tables[i].bytes, h, sizeof(h)));
}
