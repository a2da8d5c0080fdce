/* sqlite_bench: drive the SQLite amalgamation (built from the sources that
 * the libsqlite3-sys crate bundles) through a fixed, deterministic workload
 * on an in-memory database: bulk insert of a generated table, indexes,
 * grouped aggregates, joins, window functions, a recursive CTE, updates and
 * deletes. Every result cell is folded into an FNV-1a checksum.
 *
 * SQLite is compiled with SQLITE_OS_OTHER=1: this file supplies the
 * operating-system layer (a VFS that cannot open files, which an in-memory
 * database with SQLITE_TEMP_STORE=3 never needs, plus deterministic
 * randomness and a fixed clock, so results never depend on the run).
 *
 * argv[1]: number of rows (default 20000).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sqlite3.h"

/* ------------------------------------------------------------ OS layer */

static uint64_t vfs_rand_state = 0x9E3779B97F4A7C15ull;

static int vfs_open(sqlite3_vfs *vfs, sqlite3_filename name, sqlite3_file *file, int flags, int *out)
{
    (void)vfs; (void)name; (void)flags; (void)out;
    file->pMethods = NULL;
    return SQLITE_CANTOPEN;
}

static int vfs_delete(sqlite3_vfs *vfs, const char *name, int sync)
{
    (void)vfs; (void)name; (void)sync;
    return SQLITE_IOERR_DELETE;
}

static int vfs_access(sqlite3_vfs *vfs, const char *name, int flags, int *out)
{
    (void)vfs; (void)name; (void)flags;
    *out = 0;
    return SQLITE_OK;
}

static int vfs_fullpathname(sqlite3_vfs *vfs, const char *name, int n, char *out)
{
    (void)vfs;
    sqlite3_snprintf(n, out, "%s", name);
    return SQLITE_OK;
}

static int vfs_randomness(sqlite3_vfs *vfs, int n, char *out)
{
    (void)vfs;
    for (int i = 0; i < n; i++) {
        vfs_rand_state ^= vfs_rand_state << 13;
        vfs_rand_state ^= vfs_rand_state >> 7;
        vfs_rand_state ^= vfs_rand_state << 17;
        out[i] = (char)(vfs_rand_state >> 24);
    }
    return n;
}

static int vfs_sleep(sqlite3_vfs *vfs, int us)
{
    (void)vfs;
    return us;
}

/* A fixed "now" (2024-01-01 00:00:00 UTC) keeps date('now') deterministic. */
static int vfs_current_time_int64(sqlite3_vfs *vfs, sqlite3_int64 *out)
{
    (void)vfs;
    *out = (sqlite3_int64)(2460310.5 * 86400000.0);
    return SQLITE_OK;
}

static int vfs_current_time(sqlite3_vfs *vfs, double *out)
{
    (void)vfs;
    *out = 2460310.5;
    return SQLITE_OK;
}

static int vfs_get_last_error(sqlite3_vfs *vfs, int n, char *out)
{
    (void)vfs;
    if (n > 0)
        out[0] = '\0';
    return 0;
}

static sqlite3_vfs bench_vfs = {
    .iVersion = 2,
    .szOsFile = sizeof(sqlite3_file),
    .mxPathname = 512,
    .zName = "bench-memory-only",
    .xOpen = vfs_open,
    .xDelete = vfs_delete,
    .xAccess = vfs_access,
    .xFullPathname = vfs_fullpathname,
    .xRandomness = vfs_randomness,
    .xSleep = vfs_sleep,
    .xCurrentTime = vfs_current_time,
    .xGetLastError = vfs_get_last_error,
    .xCurrentTimeInt64 = vfs_current_time_int64,
};

int sqlite3_os_init(void)
{
    return sqlite3_vfs_register(&bench_vfs, 1);
}

int sqlite3_os_end(void)
{
    return SQLITE_OK;
}

/* ------------------------------------------------------------ checksum */

static uint64_t fnv = 0xcbf29ce484222325ull;
static uint64_t cells;

static void fold(const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++) {
        fnv ^= b[i];
        fnv *= 0x100000001b3ull;
    }
}

static void die(sqlite3 *db, const char *what)
{
    fprintf(stderr, "sqlite_bench: %s: %s\n", what, db ? sqlite3_errmsg(db) : "?");
    exit(1);
}

static void exec(sqlite3 *db, const char *sql)
{
    char *err = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &err) != SQLITE_OK) {
        fprintf(stderr, "sqlite_bench: %s\n  in: %s\n", err ? err : "?", sql);
        exit(1);
    }
}

/* Run a query, fold every cell (as text) into the checksum, return rows. */
static long query(sqlite3 *db, const char *label, const char *sql)
{
    sqlite3_stmt *st;
    long rows = 0;
    uint64_t before = fnv;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
        die(db, sql);
    int ncol = sqlite3_column_count(st);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        for (int i = 0; i < ncol; i++) {
            const unsigned char *t = sqlite3_column_text(st, i);
            int n = sqlite3_column_bytes(st, i);
            if (t)
                fold(t, (size_t)n);
            fold("|", 1);
            cells++;
        }
        rows++;
    }
    if (rc != SQLITE_DONE)
        die(db, sql);
    sqlite3_finalize(st);
    printf("%-14s rows=%-6ld hash=%016llx\n", label, rows, (unsigned long long)(fnv ^ before));
    return rows;
}

/* ------------------------------------------------------------ data */

static uint32_t rng = 0x2545F491u;
static uint32_t next_rand(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 17;
    rng ^= rng << 5;
    return rng;
}

static const char *const syll[] = {
    "ka", "lo", "mi", "ne", "ru", "sa", "to", "vi", "ze", "qu", "ba", "do",
    "fe", "gi", "ho", "ju",
};

static void make_name(char *out, int len)
{
    out[0] = '\0';
    for (int i = 0; i < len; i++)
        strcat(out, syll[next_rand() % 16]);
}

int main(int argc, char **argv)
{
    int nrows = argc > 1 ? atoi(argv[1]) : 20000;
    if (nrows <= 0)
        nrows = 20000;
    sqlite3 *db;
    sqlite3_stmt *ins;

    if (sqlite3_initialize() != SQLITE_OK)
        die(NULL, "initialize");
    if (sqlite3_open_v2(":memory:", &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_MEMORY, NULL) != SQLITE_OK)
        die(db, "open");
    printf("sqlite %s, %d rows\n", sqlite3_libversion(), nrows);

    exec(db, "PRAGMA cache_size=-16000");
    exec(db, "CREATE TABLE item(id INTEGER PRIMARY KEY, grp INTEGER NOT NULL, name TEXT NOT NULL,"
             " price REAL NOT NULL, qty INTEGER NOT NULL, tag TEXT)");
    exec(db, "CREATE TABLE grp(id INTEGER PRIMARY KEY, label TEXT NOT NULL, weight REAL)");

    exec(db, "BEGIN");
    if (sqlite3_prepare_v2(db, "INSERT INTO item(id, grp, name, price, qty, tag) VALUES(?,?,?,?,?,?)",
                           -1, &ins, NULL) != SQLITE_OK)
        die(db, "prepare insert");
    for (int i = 1; i <= nrows; i++) {
        char name[64];
        make_name(name, 2 + (int)(next_rand() % 4));
        sqlite3_bind_int(ins, 1, i);
        sqlite3_bind_int(ins, 2, (int)(next_rand() % 97));
        sqlite3_bind_text(ins, 3, name, -1, SQLITE_TRANSIENT);
        sqlite3_bind_double(ins, 4, (double)(next_rand() % 100000) / 100.0);
        sqlite3_bind_int(ins, 5, (int)(next_rand() % 50));
        if (next_rand() % 5 == 0)
            sqlite3_bind_null(ins, 6);
        else
            sqlite3_bind_text(ins, 6, syll[next_rand() % 16], -1, SQLITE_STATIC);
        if (sqlite3_step(ins) != SQLITE_DONE)
            die(db, "insert");
        sqlite3_reset(ins);
    }
    sqlite3_finalize(ins);
    exec(db, "WITH RECURSIVE g(n) AS (SELECT 0 UNION ALL SELECT n+1 FROM g WHERE n < 96)"
             " INSERT INTO grp SELECT n, 'group-' || printf('%03d', n), (n * 37 % 11) / 3.0 FROM g");
    exec(db, "COMMIT");

    exec(db, "CREATE INDEX item_grp ON item(grp, price)");
    exec(db, "CREATE INDEX item_name ON item(name)");
    exec(db, "ANALYZE");

    query(db, "count", "SELECT count(*), sum(qty), round(sum(price), 2) FROM item");
    query(db, "group-agg",
          "SELECT grp, count(*), round(avg(price), 4), min(name), max(name), sum(qty * price) > 1e5"
          " FROM item GROUP BY grp ORDER BY grp");
    query(db, "join",
          "SELECT g.label, count(i.id), round(sum(i.price * g.weight), 3)"
          " FROM grp g JOIN item i ON i.grp = g.id WHERE i.qty BETWEEN 10 AND 30"
          " GROUP BY g.id ORDER BY 3 DESC, 1 LIMIT 40");
    query(db, "like-order",
          "SELECT id, name, price FROM item WHERE name LIKE 'ka%' OR name GLOB '*zequ*'"
          " ORDER BY price DESC, id LIMIT 200");
    query(db, "window",
          "SELECT id, grp, round(sum(price) OVER (PARTITION BY grp ORDER BY id"
          " ROWS BETWEEN 3 PRECEDING AND CURRENT ROW), 2),"
          " rank() OVER (PARTITION BY grp ORDER BY price DESC)"
          " FROM item WHERE id % 10 = 0 ORDER BY id");
    query(db, "self-join",
          "SELECT a.grp, count(*) FROM item a JOIN item b ON b.grp = a.grp AND b.price < a.price"
          " AND b.price > a.price - 5.0 WHERE a.id % 50 = 0 GROUP BY a.grp ORDER BY a.grp");
    query(db, "distinct-str",
          "SELECT tag, count(DISTINCT name), group_concat(DISTINCT substr(name, 1, 2))"
          " FROM item GROUP BY tag ORDER BY tag");
    query(db, "cte",
          "WITH RECURSIVE fib(k, a, b) AS (SELECT 1, 0, 1 UNION ALL"
          " SELECT k + 1, b, (a + b) % 1000000007 FROM fib WHERE k < 5000)"
          " SELECT sum(a) % 1000000007, max(k) FROM fib");
    exec(db, "UPDATE item SET price = round(price * 1.07, 2), tag = upper(coalesce(tag, 'none'))"
             " WHERE id % 7 = 0");
    exec(db, "DELETE FROM item WHERE qty = 0 OR (grp = 13 AND price > 500)");
    query(db, "after-update",
          "SELECT grp, count(*), round(total(price), 2), count(tag), sum(length(name))"
          " FROM item GROUP BY grp HAVING count(*) > 10 ORDER BY grp");
    query(db, "json-date",
          "SELECT json_object('n', count(*), 'top', max(price)), date('now', '+' || count(*) || ' days')"
          " FROM item WHERE tag = 'KA'");
    query(db, "integrity", "PRAGMA integrity_check");

    sqlite3_close(db);
    printf("sqlite_bench: cells=%llu\n", (unsigned long long)cells);
    printf("checksum: %016llx\n", (unsigned long long)fnv);
    return 0;
}
