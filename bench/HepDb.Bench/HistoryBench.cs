using System.Diagnostics;
using HepDb.Accounts;
using HepDb.Audit;
using HepDb.Data;
using HepDb.Databases;
using HepDb.Engines;
using HepDb.Hosting;
using HepDb.Quotas;
using HepDb.Usage;
using Microsoft.Data.Sqlite;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace HepDb.Bench;

/// <summary>A clock the benchmark moves: each watcher pass lands in its own second, as a pass a minute apart would.</summary>
internal sealed class BenchClock : TimeProvider
{
    private TimeSpan _offset;
    public override DateTimeOffset GetUtcNow() => base.GetUtcNow() + _offset;
    public void Advance(TimeSpan by) => _offset += by;
}

/// <summary>
/// The usage history (issue 16) for N databases (default 10,000): (1) the quota watcher's time per pass with sampling on
/// against the same watcher with sampling off, alternating, in the same run, plus the once-an-hour roll of an hour of
/// passes; (2) the history store's steady-state size, from a SQLite file filled by the real store code with a year, 30
/// days and 48 hours of passes for a sample of databases, against keeping every pass for a year (no downsampling).
/// </summary>
internal sealed class HistoryBench(Func<BenchClock, ServiceProvider> build, string root, BenchSettings settings)
{
    private static readonly TimeSpan Pass = TimeSpan.FromSeconds(60);

    public async Task<int> RunAsync(CancellationToken ct)
    {
        var clock = new BenchClock();
        await using var services = build(clock);
        await MetadataStore.MigrateAsync(services, ct);
        await SeedAsync(services, ct);
        // What start-up does: the configured servers' rows, and the seeded records (no server yet) given theirs; the
        // watcher measures a server's records only.
        await HepDb.Fleet.FleetSync.RegisterConfiguredAsync(services, ct);

        var options = services.GetRequiredService<IOptions<UsageHistoryOptions>>().Value;
        var watcher = services.GetRequiredService<QuotaWatcher>();
        // Warm-up of both, then alternating timed passes.
        foreach (var on in new[] { true, false }) { options.Enabled = on; clock.Advance(Pass); await watcher.RunNowAsync(ct); }
        var timings = new Dictionary<bool, List<double>> { [true] = [], [false] = [] };
        for (var round = 0; round < settings.Rounds * 2; round++)
            foreach (var on in new[] { true, false })
            {
                options.Enabled = on;
                clock.Advance(Pass);
                var report = await watcher.RunNowAsync(ct);
                if (report.Servers.Any(s => !s.Ok)) throw new InvalidOperationException(report.Summary());
                timings[on].Add(report.Milliseconds);
            }
        var on_ = Stats.Median(timings[true]);
        var off = Stats.Median(timings[false]);

        // The once-an-hour step: an hour of passes (60) for every database, rolled into one hourly row each.
        var rollMs = await HourlyRollAsync(services, clock, ct);

        var steady = await SteadyStateAsync(ct);

        Console.WriteLine();
        Console.WriteLine($"Quota watcher pass with {settings.Count:N0} databases ({settings.Count / 2:N0} MariaDB, {settings.Count - settings.Count / 2:N0} PostgreSQL), SQLite metadata, median of {settings.Rounds * 2}:");
        Console.WriteLine($"  sampling off (baseline)   {off,9:0.0} ms");
        Console.WriteLine($"  sampling on               {on_,9:0.0} ms   (count connections: 1 query per server; unchanged databases write no row)");
        Console.WriteLine($"  extra per pass            {on_ - off,9:0.0} ms   ratio on/off {on_ / off:0.00}x");
        Console.WriteLine($"  slowest pass with sampling {timings[true].Max(),8:0.0} ms   (the first of an hour, or after a restart: {settings.Count:N0} rows in one batch)");
        Console.WriteLine($"  hourly roll of 60 passes  {rollMs,9:0.0} ms   (once an hour: {60 * settings.Count:N0} raw rows into {settings.Count:N0} hourly rows)");
        Console.WriteLine();
        Console.WriteLine($"History store at steady state (passes every {Pass.TotalSeconds:0} s; {steady.Sampled} databases filled by UsageHistory over 397 simulated days, " +
                          $"SQLite file {steady.FileBytes / 1024.0 / 1024:0.0} MiB, {steady.BytesPerRow:0.0} bytes per row with indexes):");
        foreach (var (what, rows) in new[] { ("changing every pass", steady.BusyRows), ("idle", steady.IdleRows) })
        {
            var bytes = rows * steady.BytesPerRow;
            Console.WriteLine($"  {what,-20} {rows,7:N0} rows, {bytes / 1024,7:N0} KiB per database; {bytes * settings.Count / 1024 / 1024 / 1024,6:0.00} GiB for {settings.Count:N0}, {bytes * 100_000 / 1024 / 1024 / 1024,6:0.00} GiB for 100,000");
        }
        var naive = 365 * 86_400 / Pass.TotalSeconds * steady.BytesPerRow;
        Console.WriteLine($"  every pass for a year (baseline, same bytes per row): {naive / 1024 / 1024:0.0} MiB per database, {naive * settings.Count / 1024 / 1024 / 1024:0.00} GiB for {settings.Count:N0}; " +
                          $"ratio {naive / (steady.BusyRows * steady.BytesPerRow):0}x (changing) and {naive / (steady.IdleRows * steady.BytesPerRow):0}x (idle) larger");
        return 0;
    }

    /// <summary>Metadata records of ready databases (names in HepDb's form, not created on the servers: the watcher's
    /// cost per pass is its bounded engine queries plus the metadata store, which is what sampling adds to).</summary>
    private async Task SeedAsync(ServiceProvider services, CancellationToken ct)
    {
        await using var scope = services.CreateAsyncScope();
        var account = (await scope.ServiceProvider.GetRequiredService<AccountService>().CreateAsync("history@bench.invalid", Tier.Admin.WireName(), Actor.Operator, ct)).Value!;
        var limit = services.GetRequiredService<IOptions<TiersOptions>>().Value.Admin.ConnectionsPerUser;
        var db = scope.ServiceProvider.GetRequiredService<HepDbContext>();
        var now = DateTime.UtcNow;
        for (var i = 0; i < settings.Count; i++)
        {
            var engine = i % 2 == 0 ? EngineKind.MariaDb : EngineKind.Postgres;
            db.Databases.Add(new TenantDatabase
            {
                Id = Ulid.New(TimeProvider.System), AccountId = account.Id, Name = $"h{i}", Engine = engine, Slot = i + 1,
                DbName = TenantNames.DatabaseName(engine, account.Slug, i + 1), DbUser = TenantNames.UserName(engine, account.Slug, i + 1),
                PasswordSealed = "x", Phase = DatabasePhase.Ready, Status = DatabaseStatus.Active, ConnectionLimit = limit, CreatedAt = now, PhaseChangedAt = now,
            });
        }
        await db.SaveChangesAsync(ct);
        Console.WriteLine($"Seeded {settings.Count:N0} ready database records in the metadata store");
    }

    private static async Task<double> HourlyRollAsync(ServiceProvider services, BenchClock clock, CancellationToken ct)
    {
        await using var scope = services.CreateAsyncScope();
        var history = scope.ServiceProvider.GetRequiredService<UsageHistory>();
        var db = scope.ServiceProvider.GetRequiredService<HepDbContext>();
        var ids = await db.Databases.AsNoTracking().Select(d => d.Id).ToListAsync(ct);
        // Start on an hour so the 60 passes are one hour.
        var start = clock.GetUtcNow().UtcDateTime;
        clock.Advance(TimeSpan.FromHours(1) - TimeSpan.FromTicks(start.Ticks % TimeSpan.TicksPerHour));
        for (var p = 0; p < 60; p++)
        {
            await history.RecordAsync(ids.Select((id, i) => new DatabaseUsage(id, i * 1000L + p, p % 3)).ToList(), [], clock.GetUtcNow().UtcDateTime, ct);
            clock.Advance(Pass);
        }
        clock.Advance(TimeSpan.FromHours(49));
        var sw = Stopwatch.StartNew();
        var done = await history.DownsampleAsync(clock.GetUtcNow().UtcDateTime, ct);
        var ms = sw.Elapsed.TotalMilliseconds;
        if (done.RolledIntoHourly < ids.Count) throw new InvalidOperationException($"rolled {done.RolledIntoHourly} hourly rows, expected at least {ids.Count}");
        return ms;
    }

    /// <summary>A separate SQLite store, filled for a sample of databases through UsageHistory exactly as the watcher
    /// does (record, then downsample, every pass), every value changing every pass (the worst case): 397 days of passes,
    /// a day apart until the last 31 days, an hour apart until the last 48 hours (what ends up daily or hourly does not
    /// depend on how often passes came), then every minute. Its size after VACUUM, less the
    /// size of the same store with no samples, divided by the sample.</summary>
    private sealed record Steady(double BytesPerRow, double BusyRows, double IdleRows, int Sampled, long FileBytes);

    private async Task<Steady> SteadyStateAsync(CancellationToken ct)
    {
        const int sampled = 100;
        var dir = Path.Combine(root, "history-size");
        var builder = new DbContextOptionsBuilder<HepDbContext>();
        MetadataStore.Configure(builder, new MetadataOptions { Provider = "sqlite" }, new HepDbOptions { DataDir = dir });
        var file = Path.Combine(dir, "hepdb.db");
        await using (var db = new HepDbContext(builder.Options)) await db.Database.MigrateAsync(ct);
        var empty = await VacuumedSizeAsync(file, ct);
        var ids = Enumerable.Range(0, sampled).Select(_ => Ulid.New(TimeProvider.System)).ToList();
        var at = DateTime.UtcNow - TimeSpan.FromDays(397);
        var end = DateTime.UtcNow;
        var sw = Stopwatch.StartNew();
        var passes = 0;
        var last = new LastSamples();
        Dictionary<string, long?>? series = null;
        while (at < end)
        {
            await using var db = new HepDbContext(builder.Options);
            var history = new UsageHistory(db, last);
            // Even databases change every pass (the worst case), odd ones never do (an idle database).
            // With each database's series key, as the watcher reads it beside the database (the first pass makes them).
            await history.RecordAsync(ids.Select((id, i) => i % 2 == 0
                    ? new DatabaseUsage(id, passes * 100L + i, passes % 5, series?[id]) : new DatabaseUsage(id, 1000 + i, 0, series?[id])).ToList(),
                [new EngineUsage(EngineKind.MariaDb, "default", passes, sampled)], at, ct);
            series ??= await db.UsageSeries.AsNoTracking().ToDictionaryAsync(k => k.DatabaseId, k => (long?)k.Key, ct);
            await history.DownsampleAsync(at, ct);
            // What ends up daily needs a pass a day, what ends up hourly one an hour, the last 48 hours every pass.
            var left = end - at;
            at += left > TimeSpan.FromDays(31) ? TimeSpan.FromDays(1) : left > TimeSpan.FromHours(48) ? TimeSpan.FromHours(1) : Pass;
            passes++;
        }
        long rows, busyRows;
        var busy = ids.Where((_, i) => i % 2 == 0).ToList();
        await using (var db = new HepDbContext(builder.Options))
        {
            rows = await db.UsageSamples.LongCountAsync(ct);
            var busySeries = await db.UsageSeries.Where(k => busy.Contains(k.DatabaseId)).Select(k => k.Key).ToListAsync(ct);
            busyRows = await db.UsageSamples.LongCountAsync(s => busySeries.Contains(s.Series), ct);
        }
        var full = await VacuumedSizeAsync(file, ct);
        Console.WriteLine($"Simulated {passes:N0} passes for {sampled} databases in {sw.Elapsed.TotalSeconds:0.0} s");
        SqliteConnection.ClearAllPools();
        var perRow = (full - empty) / (double)rows;
        return new Steady(perRow, busyRows / (double)busy.Count, (rows - busyRows) / (double)(sampled - busy.Count), sampled, full);
    }

    private static async Task<long> VacuumedSizeAsync(string file, CancellationToken ct)
    {
        await using var conn = new SqliteConnection($"Data Source={file}");
        await conn.OpenAsync(ct);
        await using (var vacuum = conn.CreateCommand()) { vacuum.CommandText = "VACUUM"; await vacuum.ExecuteNonQueryAsync(ct); }
        await using var cmd = conn.CreateCommand();
        cmd.CommandText = "SELECT page_count * page_size FROM pragma_page_count(), pragma_page_size()";
        return (long)(await cmd.ExecuteScalarAsync(ct))!;
    }
}
