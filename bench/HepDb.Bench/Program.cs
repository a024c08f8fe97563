using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using HepDb.Accounts;
using HepDb.Audit;
using HepDb.Bench;
using HepDb.Data;
using HepDb.Databases;
using HepDb.Engines;
using HepDb.Engines.MariaDb;
using HepDb.Hosting;
using HepDb.Hosting.LocalEngines;
using HepDb.Quotas;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using MySqlConnector;
using Npgsql;

// The quota-watcher benchmark (issue 6): provision N databases per engine through HepDb's own DatabaseService on
// private MariaDB and PostgreSQL servers, then time one full watcher scan against the naive baseline of one size
// query per database, in the same run. See bench/README.md.
var settings = BenchSettings.Parse(args);
if (settings is null) return 2;

using var stop = new CancellationTokenSource();
// Ctrl-C and SIGTERM cancel the run instead of killing the process, so the servers are stopped in the finally below.
using var sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, c => { c.Cancel = true; stop.Cancel(); });
using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, c => { c.Cancel = true; stop.Cancel(); });
var ct = stop.Token;

var ownsRoot = settings.Root is null;
var root = settings.Root ?? Path.Combine(Path.GetTempPath(), $"hepdb-bench-{Guid.NewGuid():N}");
Directory.CreateDirectory(root);
var engines = new EnginesOptions { LocalDurable = false };
engines.MariaDb.Port = Ports.Free();
engines.Postgres.Port = Ports.Free();
engines.Postgres.Local = settings.Bench is "watcher" or "api" or "backup" or "history" or "watcher-fleet"; // create and frozen measure MariaDB only; api keeps metadata on it
await using var servers = new LocalEngineServers(root, engines, NullLogger.Instance);
try
{
    if (settings.Bench == "frozen")
    {
        Console.WriteLine($"HepDb frozen-engine benchmark: {settings.Count} tenants, {Environment.ProcessorCount} cores");
        await servers.StartAsync(ct);
        return await new FrozenBench(root, engines.MariaDb, settings).RunAsync(ct);
    }
    if (settings.Bench == "api")
    {
        Console.WriteLine($"HepDb API throughput benchmark (issue 12): list and create, SQLite and PostgreSQL metadata, {Environment.ProcessorCount} cores");
        await servers.StartAsync(ct);
        return await new ApiBench(root, engines, settings).RunAsync(ct);
    }
    if (settings.Bench == "backup")
    {
        Console.WriteLine($"HepDb backup and restore throughput benchmark (issue 13): a {settings.Mb} MB database per engine, " +
                          $"{Environment.ProcessorCount} cores, median of {settings.Rounds} alternating rounds");
        var serversUp = Stopwatch.StartNew();
        await servers.StartAsync(ct);
        Console.WriteLine($"Private MariaDB (port {engines.MariaDb.Port}) and PostgreSQL (port {engines.Postgres.Port}) started in {serversUp.Elapsed.TotalSeconds:0.0} s" +
                          " (LocalDurable=false, as for every benchmark)");
        var capture = new BackupLogCapture();
        await using var backupServices = BuildServices(root, engines, settings, capture);
        await MetadataStore.MigrateAsync(backupServices, ct);
        return await new BackupBench(backupServices, engines, settings, capture, root).RunAsync(ct);
    }
    if (settings.Bench == "history")
    {
        Console.WriteLine($"HepDb usage-history benchmark (issue 16): {settings.Count} databases, {Environment.ProcessorCount} cores");
        await servers.StartAsync(ct);
        return await new HistoryBench(clock => BuildServices(root, engines, settings, clock: clock), root, settings).RunAsync(ct);
    }
    if (settings.Bench == "placement")
    {
        Console.WriteLine($"HepDb placement benchmark (fleet): {settings.Count} MariaDB databases over 3 servers of different capacities, {Environment.ProcessorCount} cores");
        await servers.StartAsync(ct);
        await using var placementServices = BuildServices(root, engines, settings);
        return await new PlacementBench(placementServices, engines.MariaDb, settings).RunAsync(ct);
    }
    if (settings.Bench == "watcher-fleet")
    {
        Console.WriteLine($"HepDb fleet watcher benchmark: one pass over 2 MariaDB servers x {settings.Count} databases against each server alone, " +
                          $"{Environment.ProcessorCount} cores, median of {settings.Rounds} passes of each");
        var serversUp = Stopwatch.StartNew();
        await servers.StartAsync(ct);
        // Server B: a second private MariaDB of its own, in its own folder under the same root (run.sh's backstop knows it).
        var enginesB = new EnginesOptions { LocalDurable = false };
        enginesB.MariaDb.Port = Ports.Free();
        enginesB.Postgres.Local = false;
        await using var serverB = new LocalEngineServers(Path.Combine(root, "b"), enginesB, NullLogger.Instance);
        try
        {
            await serverB.StartAsync(ct);
            Console.WriteLine($"Private MariaDB A (port {engines.MariaDb.Port}), MariaDB B (port {enginesB.MariaDb.Port}) and PostgreSQL (port {engines.Postgres.Port}, " +
                              $"no databases) started in {serversUp.Elapsed.TotalSeconds:0.0} s");
            return await new FleetWatcherBench(dataDir => BuildServices(root, engines, settings, dataDir: dataDir), root, enginesB.MariaDb, settings).RunAsync(ct);
        }
        finally
        {
            await serverB.StopAsync();
        }
    }
    if (settings.Bench == "create")
    {
        Console.WriteLine($"HepDb create-latency benchmark: {settings.Count} creates of each kind, {Environment.ProcessorCount} cores");
        await servers.StartAsync(ct);
        return await new CreateBench(engines.MariaDb, settings).RunAsync(ct);
    }
    Console.WriteLine($"HepDb quota-watcher benchmark: {settings.Count} databases per engine, {Environment.ProcessorCount} cores, " +
                      $"median of {settings.Rounds} timed scans after one warm-up");
    var started = Stopwatch.StartNew();
    await servers.StartAsync(ct);
    Console.WriteLine($"Private MariaDB (port {engines.MariaDb.Port}) and PostgreSQL (port {engines.Postgres.Port}) started in {started.Elapsed.TotalSeconds:0.0} s");
    Console.WriteLine(LocalEngineServers.FindMongod() is null
        ? "MongoDB: skipped (no mongod on PATH)"
        : "MongoDB: skipped (mongod is on PATH, but this benchmark measures MariaDB and PostgreSQL only)");

    await using var services = BuildServices(root, engines, settings);
    await MetadataStore.MigrateAsync(services, ct);
    var bench = new WatcherBench(services, settings);
    await bench.ProvisionAsync(ct);
    var results = await bench.MeasureAsync(ct);
    WatcherBench.Print(results);
    return results.All(r => r.SizesAgree) ? 0 : 1;
}
catch (OperationCanceledException) when (ct.IsCancellationRequested)
{
    Console.Error.WriteLine("bench: interrupted; stopping the servers");
    return 130;
}
finally
{
    await servers.StopAsync();
    if (ownsRoot) try { Directory.Delete(root, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
}

static ServiceProvider BuildServices(string root, EnginesOptions engines, BenchSettings settings, BackupLogCapture? capture = null, TimeProvider? clock = null,
    string? dataDir = null)
{
    // The servers are started above, so HepDb is configured with them as external servers, exactly as the tests do.
    var config = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
    {
        ["HepDb:DataDir"] = dataDir ?? Path.Combine(root, "hepdb"),
        ["Engines:MariaDb:Local"] = "false",
        ["Engines:MariaDb:Port"] = engines.MariaDb.Port.ToString(CultureInfo.InvariantCulture),
        ["Engines:MariaDb:AdminPassword"] = engines.MariaDb.AdminPassword,
        ["Engines:Postgres:Local"] = "false",
        ["Engines:Postgres:Port"] = engines.Postgres.Port.ToString(CultureInfo.InvariantCulture),
        ["Engines:Postgres:AdminPassword"] = engines.Postgres.AdminPassword,
        ["Engines:Mongo:Local"] = "false",
        ["Engines:Mongo:Enabled"] = "false",
    }).Build();
    return new ServiceCollection()
        .AddSingleton<IConfiguration>(config)
        .AddLogging(l =>
        {
            l.AddSimpleConsole(o => o.SingleLine = true).SetMinimumLevel(settings.Verbose ? LogLevel.Information : LogLevel.Warning);
            // The backup benchmark reads the safety dump's duration from BackupService's own log line.
            if (capture is not null) l.AddProvider(capture).AddFilter<BackupLogCapture>("HepDb.Backups", LogLevel.Information);
        })
        .AddHepDbServices()
        .AddSingleton(clock ?? TimeProvider.System) // the last registration wins: the history benchmark moves its clock
        .BuildServiceProvider();
}

namespace HepDb.Bench
{
    internal sealed record BenchSettings(string Bench, int Count, int Parallel, int Rounds, int TableEvery, int Seconds, string? Root, bool Verbose, int Mb = 200)
    {
        public const string Usage =
            "usage: HepDb.Bench [watcher|create|frozen|api|backup|history|placement|watcher-fleet] [--count N] [--parallel P] [--rounds R] [--table-every K] [--seconds S] [--mb N] [--root DIR] [--verbose]\n" +
            "  watcher          the quota-watcher benchmark (the default)\n" +
            "  create           MariaDB create latency: the adapter against the same DDL by hand\n" +
            "  frozen           a SIGSTOPped MariaDB: concurrent creates and /healthz latency through the real API\n" +
            "  api              list and create throughput through the real API, SQLite and PostgreSQL metadata, against bare Kestrel\n" +
            "  backup           backup and restore MB/s of one database per engine against bare mariadb-dump/pg_dump and their loads\n" +
            "  history          usage history: the watcher's extra time per pass (sampling on vs off) and the store's steady-state size\n" +
            "  placement        1,000 MariaDB databases placed over 3 servers of different capacities: each server's share, and the\n" +
            "                   time per placement against a plain record insert\n" +
            "  watcher-fleet    one quota-watcher pass over 2 MariaDB servers against each server alone\n" +
            "  --count N        databases per engine (default 1000; create: timed creates of each kind, default 200; frozen: tenants, default 50;\n" +
            "                   api: databases in the listed account, default 10; placement: databases placed; watcher-fleet: per server)\n" +
            "  --parallel P     databases created at a time (default 4; api: concurrent clients, default 32)\n" +
            "  --rounds R       timed scans of each kind (backup: alternating rounds of each); the median is printed (default 3;\n" +
            "                   watcher-fleet: 9)\n" +
            "  --table-every K  every K-th database gets a 1,000-row table so sizes differ (default 10)\n" +
            "  --seconds S      api: timed seconds per measurement, after 2 s of warm-up (default 5)\n" +
            "  --mb N           backup: the size of each database in MB (default 200)\n" +
            "  --root DIR       folder for the servers and the metadata store (default: a new temp folder, removed at the end)";

        public static BenchSettings? Parse(string[] args)
        {
            var s = new BenchSettings("watcher", 0, 0, 0, 10, 5, null, false);
            for (var i = 0; i < args.Length; i++)
            {
                string Next() => i + 1 < args.Length ? args[++i] : throw new FormatException($"{args[i]} needs a value");
                int Positive() => int.TryParse(Next(), NumberStyles.None, CultureInfo.InvariantCulture, out var n) && n > 0
                    ? n : throw new FormatException($"{args[i - 1]} needs a positive whole number");
                try
                {
                    s = args[i] switch
                    {
                        "--count" => s with { Count = Positive() },
                        "--parallel" => s with { Parallel = Positive() },
                        "--rounds" => s with { Rounds = Positive() },
                        "--table-every" => s with { TableEvery = Positive() },
                        "--seconds" => s with { Seconds = Positive() },
                        "--mb" => s with { Mb = Positive() },
                        "--root" => s with { Root = Path.GetFullPath(Next()) },
                        "--verbose" => s with { Verbose = true },
                        "watcher" or "create" or "frozen" or "api" or "backup" or "history" or "placement" or "watcher-fleet" => s with { Bench = args[i] },
                        "-h" or "--help" => throw new FormatException(""),
                        _ => throw new FormatException($"unknown argument {args[i]}"),
                    };
                }
                catch (FormatException e)
                {
                    if (e.Message.Length > 0) Console.Error.WriteLine($"bench: {e.Message}");
                    Console.Error.WriteLine(Usage);
                    return null;
                }
            }
            if (s.Parallel == 0) s = s with { Parallel = s.Bench == "api" ? 32 : 4 };
            // A fleet pass is tens of milliseconds: more passes than a whole scan needs for a steady median.
            if (s.Rounds == 0) s = s with { Rounds = s.Bench == "watcher-fleet" ? 9 : 3 };
            return s.Count > 0 ? s : s with { Count = s.Bench switch { "create" => 200, "frozen" => 50, "api" => 10, "history" => 10_000, _ => 1000 } };
        }
    }

    /// <summary>One engine server's figures: the watcher's scan of it against one query per database.</summary>
    internal sealed record ServerResult(
        string Engine, int Databases, int WatcherQueries, double WatcherMs, double EngineMs, int BaselineQueries, double BaselineMs,
        long WatcherBytes, long BaselineBytes, double WholeScanMs)
    {
        public double Ratio => BaselineMs / WatcherMs;

        /// <summary>Both methods must see the same data, or the comparison means nothing. PostgreSQL sizes can move
        /// by a few pages between two measurements (background writes), so 1% is tolerated.</summary>
        public bool SizesAgree => Math.Abs(WatcherBytes - BaselineBytes) <= Math.Max(1, BaselineBytes / 100);
    }

    internal sealed class WatcherBench(ServiceProvider services, BenchSettings settings)
    {
        private static readonly EngineKind[] Engines = [EngineKind.MariaDb, EngineKind.Postgres];
        private readonly List<string> _accounts = [];

        /// <summary>Creates the databases through <see cref="DatabaseService.CreateAsync"/>, the path the API and the
        /// dashboard use, spread over as many admin-tier accounts as the tier's slot limit requires (each account holds
        /// the same number of databases of each engine), a few at a time.</summary>
        public async Task ProvisionAsync(CancellationToken ct)
        {
            var perAccount = services.GetRequiredService<IOptions<TiersOptions>>().Value.Admin.Databases / Engines.Length;
            if (perAccount < 1) throw new InvalidOperationException("Tiers:Admin:Databases must allow at least one database per engine.");
            var accountCount = (settings.Count + perAccount - 1) / perAccount;
            var sw = Stopwatch.StartNew();
            await using (var scope = services.CreateAsyncScope())
            {
                var accounts = scope.ServiceProvider.GetRequiredService<AccountService>();
                for (var a = 0; a < accountCount; a++)
                    _accounts.Add((await accounts.CreateAsync($"bench-{a}@bench.invalid", Tier.Admin.WireName(), Actor.Operator, ct)).Value!.Id);
            }
            Console.WriteLine($"Provisioning through DatabaseService.CreateAsync, {settings.Parallel} at a time, " +
                              $"{accountCount} admin-tier account(s) holding up to {perAccount} databases per engine:");
            var total = TimeSpan.Zero;
            foreach (var engine in Engines)
            {
                var created = Stopwatch.StartNew();
                var tables = 0;
                await Parallel.ForEachAsync(Enumerable.Range(0, settings.Count),
                    new ParallelOptions { MaxDegreeOfParallelism = settings.Parallel, CancellationToken = ct },
                    async (i, token) =>
                    {
                        var access = await CreateAsync(engine, i, perAccount, token);
                        if (i % settings.TableEvery != 0) return;
                        await FillAsync(engine, access, token);
                        Interlocked.Increment(ref tables);
                    });
                total += created.Elapsed;
                Console.WriteLine($"  {engine.DisplayName(),-11} {settings.Count,6} databases in {created.Elapsed.TotalSeconds,6:0.0} s " +
                                  $"({created.Elapsed.TotalMilliseconds / settings.Count:0.0} ms each; {tables} given a 1,000-row table by their own user)");
            }
            Console.WriteLine($"  total       {settings.Count * Engines.Length,6} databases in {total.TotalSeconds,6:0.0} s " +
                              $"(whole setup so far {sw.Elapsed.TotalSeconds:0.0} s)");
        }

        private async Task<DatabaseAccess> CreateAsync(EngineKind engine, int i, int perAccount, CancellationToken ct)
        {
            await using var scope = services.CreateAsyncScope();
            var databases = scope.ServiceProvider.GetRequiredService<DatabaseService>();
            var outcome = await databases.CreateAsync(_accounts[i / perAccount], $"bench-{engine.WireName()}-{i}", engine.WireName(), Actor.Operator, null, ct);
            return outcome.Ok ? outcome.Value!
                : throw new InvalidOperationException($"creating database {i} on {engine.DisplayName()} failed: {outcome.Problem!.Code} {outcome.Problem.Message}");
        }

        /// <summary>A table of 1,000 rows of 200 characters, written by the tenant's own login, so sizes are non-zero
        /// and differ between databases.</summary>
        private Task FillAsync(EngineKind engine, DatabaseAccess access, CancellationToken ct) =>
            FillAsync(services.GetRequiredService<EngineRegistry>().Default(engine), access, ct);

        /// <summary>The same table on the database's own server, whichever <paramref name="adapter"/> that is.</summary>
        internal static async Task FillAsync(IEngineAdapter adapter, DatabaseAccess access, CancellationToken ct)
        {
            var engine = adapter.Kind;
            var d = access.Database;
            var sql = engine == EngineKind.MariaDb
                ? "CREATE TABLE bench_rows (id INT PRIMARY KEY, payload VARCHAR(200)) ENGINE=InnoDB; "
                : "CREATE TABLE bench_rows (id int PRIMARY KEY, payload varchar(200)); ";
            await adapter.ScalarAsTenantAsync(d.DbName, d.DbUser, access.Password, sql, ct);
            await adapter.ScalarAsTenantAsync(d.DbName, d.DbUser, access.Password, engine == EngineKind.MariaDb
                ? "INSERT INTO bench_rows SELECT seq, REPEAT('x', 200) FROM seq_1_to_1000"
                : "INSERT INTO bench_rows SELECT g, repeat('x', 200) FROM generate_series(1, 1000) g", ct);
            if (engine == EngineKind.MariaDb)
                // InnoDB's sizes in information_schema come from persistent statistics; refresh them so both methods
                // below read settled figures.
                await adapter.ScalarAsTenantAsync(d.DbName, d.DbUser, access.Password, "ANALYZE TABLE bench_rows", ct);
        }

        /// <summary>One untimed warm-up of each method (so neither pays for cold caches the other then enjoys), then
        /// <see cref="BenchSettings.Rounds"/> alternating timed rounds; medians are reported.</summary>
        public async Task<List<ServerResult>> MeasureAsync(CancellationToken ct)
        {
            var watcher = services.GetRequiredService<QuotaWatcher>();
            var registry = services.GetRequiredService<EngineRegistry>();
            var names = await TenantNamesAsync(ct);

            await ScanAsync(watcher, ct);
            foreach (var engine in Engines) await BaselineAsync(registry.Default(engine), names[engine], ct);

            var scans = new List<ScanReport>();
            var baselines = Engines.ToDictionary(e => e, _ => new List<(int Queries, double Ms, long Bytes)>());
            var engineOnly = Engines.ToDictionary(e => e, _ => new List<double>());
            for (var round = 0; round < settings.Rounds; round++)
            {
                scans.Add(await ScanAsync(watcher, ct));
                foreach (var engine in Engines)
                {
                    baselines[engine].Add(await BaselineAsync(registry.Default(engine), names[engine], ct));
                    // The adapter's bounded query alone, without the metadata-store work the watcher does around it.
                    var sw = Stopwatch.StartNew();
                    await registry.Default(engine).MeasureSizesAsync(names[engine], ct);
                    engineOnly[engine].Add(sw.Elapsed.TotalMilliseconds);
                }
            }

            var stored = await StoredBytesAsync(ct);
            return Engines.Select(engine =>
            {
                var wire = engine.WireName();
                var servers = scans.Select(s => s.Servers.Single(x => x.Engine == wire)).ToList();
                var failed = servers.FirstOrDefault(s => !s.Ok);
                if (failed is not null) throw new InvalidOperationException($"the watcher could not measure {wire}: {failed.Error}");
                var b = baselines[engine];
                return new ServerResult(engine.DisplayName(), servers[0].Databases, servers[0].Queries, Stats.Median(servers.Select(s => s.Milliseconds)),
                    Stats.Median(engineOnly[engine]), b[0].Queries, Stats.Median(b.Select(x => x.Ms)), stored.GetValueOrDefault(engine), b[^1].Bytes, Stats.Median(scans.Select(s => s.Milliseconds)));
            }).ToList();
        }

        private static async Task<ScanReport> ScanAsync(QuotaWatcher watcher, CancellationToken ct) =>
            await watcher.RunNowAsync(ct);

        private async Task<Dictionary<EngineKind, List<string>>> TenantNamesAsync(CancellationToken ct)
        {
            await using var scope = services.CreateAsyncScope();
            var db = scope.ServiceProvider.GetRequiredService<HepDbContext>();
            var ready = await db.Databases.AsNoTracking().Where(d => d.Phase == DatabasePhase.Ready).Select(d => new { d.Engine, d.DbName }).ToListAsync(ct);
            return Engines.ToDictionary(e => e, e => ready.Where(d => d.Engine == e).Select(d => d.DbName).ToList());
        }

        private async Task<Dictionary<EngineKind, long>> StoredBytesAsync(CancellationToken ct)
        {
            await using var scope = services.CreateAsyncScope();
            var db = scope.ServiceProvider.GetRequiredService<HepDbContext>();
            var sizes = await db.Databases.AsNoTracking().Select(d => new { d.Engine, d.SizeBytes }).ToListAsync(ct);
            return sizes.GroupBy(d => d.Engine).ToDictionary(g => g.Key, g => g.Sum(d => d.SizeBytes));
        }

        /// <summary>The naive way: one admin connection, one size query per database (names already known, and the
        /// sizes are not stored, so this side does less work than the watcher's timed step).</summary>
        private static Task<(int Queries, double Ms, long Bytes)> BaselineAsync(IEngineAdapter adapter, List<string> names, CancellationToken ct) =>
            adapter.Kind == EngineKind.MariaDb ? MariaDbBaselineAsync(adapter.Server, names, ct) : PostgresBaselineAsync(adapter.Server, names, ct);

        private static async Task<(int, double, long)> MariaDbBaselineAsync(EngineServerOptions server, List<string> names, CancellationToken ct)
        {
            var sw = Stopwatch.StartNew();
            long bytes = 0;
            await using var conn = new MySqlConnection(MariaDbAdapter.ConnectionStringFor(server, server.AdminUser ?? "root", server.AdminPassword, null, pooling: false));
            await conn.OpenAsync(ct);
            foreach (var name in names)
            {
                // DDL-style inlining is safe: Require() admits [a-z0-9_] only.
                await using var cmd = new MySqlCommand("SELECT CAST(COALESCE(SUM(data_length + index_length), 0) AS UNSIGNED) " +
                                                       $"FROM information_schema.TABLES WHERE table_schema = '{TenantNames.Require(name)}'", conn);
                bytes += Convert.ToInt64(await cmd.ExecuteScalarAsync(ct), CultureInfo.InvariantCulture);
            }
            return (names.Count, sw.Elapsed.TotalMilliseconds, bytes);
        }

        private static async Task<(int, double, long)> PostgresBaselineAsync(EngineServerOptions server, List<string> names, CancellationToken ct)
        {
            var sw = Stopwatch.StartNew();
            long bytes = 0;
            var cs = new NpgsqlConnectionStringBuilder
            {
                Host = server.Host, Port = server.Port, Username = server.AdminUser ?? "postgres", Password = server.AdminPassword,
                Database = "postgres", Pooling = false,
            };
            await using var conn = new NpgsqlConnection(cs.ConnectionString);
            await conn.OpenAsync(ct);
            foreach (var name in names)
            {
                await using var cmd = new NpgsqlCommand("SELECT pg_database_size($1)", conn) { Parameters = { new() { Value = name } } };
                bytes += (long)(await cmd.ExecuteScalarAsync(ct))!;
            }
            return (names.Count, sw.Elapsed.TotalMilliseconds, bytes);
        }

        public static void Print(List<ServerResult> results)
        {
            Console.WriteLine();
            Console.WriteLine("Quota watcher scan (QuotaWatcher.RunOnceAsync) vs one size query per database, per server:");
            Console.WriteLine($"  {"server",-11} {"databases",9} {"queries",8} {"watcher ms",11} {"(engine ms)",12} {"per-db queries",15} {"per-db ms",10} {"ratio",8}");
            foreach (var r in results)
                Console.WriteLine($"  {r.Engine,-11} {r.Databases,9} {r.WatcherQueries,8} {r.WatcherMs,11:0.0} {"(" + r.EngineMs.ToString("0.0", CultureInfo.InvariantCulture) + ")",12} {r.BaselineQueries,15} {r.BaselineMs,10:0.0} {r.Ratio,7:0.0}x");
            Console.WriteLine("  ratio = per-db ms / watcher ms. The watcher's ms include loading and storing the sizes in the metadata store;");
            Console.WriteLine("  (engine ms) is its one engine query alone, as MeasureSizesAsync, for comparison.");
            Console.WriteLine($"  whole watcher run, both servers plus evaluating every account: {results[0].WholeScanMs:0.0} ms");
            foreach (var r in results)
                Console.WriteLine(r.SizesAgree
                    ? $"  check {r.Engine}: both methods measured {r.BaselineBytes / 1_048_576.0:0.0} MiB in total"
                    : $"  CHECK FAILED {r.Engine}: watcher stored {r.WatcherBytes} bytes, per-db queries found {r.BaselineBytes}");
        }
    }
}
