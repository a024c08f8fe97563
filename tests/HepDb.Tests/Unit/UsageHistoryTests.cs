using HepDb.Data;
using HepDb.Engines;
using HepDb.Hosting;
using HepDb.Tests.Infrastructure;
using HepDb.Usage;
using HepDb.Web.Display;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Time.Testing;

namespace HepDb.Tests.Unit;

/// <summary>The usage history's downsampling and retention, pass by pass with a fake clock, on a real SQLite metadata
/// store (no engine server): every pass for 48 hours, hourly (the largest of the hour) for 30 days, daily for a year.
/// And the SVG graphs: accessible, script-free, bounded in size.</summary>
public sealed class UsageHistoryTests : IAsyncLifetime
{
    private readonly FakeTimeProvider _clock = new(new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero));
    private readonly string _dir = Path.Combine(Path.GetTempPath(), $"hepdb-usage-{Guid.NewGuid():N}");
    private readonly LastSamples _last = new();
    private DbContextOptions<HepDbContext> _options = null!;

    public async ValueTask InitializeAsync()
    {
        var builder = new DbContextOptionsBuilder<HepDbContext>();
        MetadataStore.Configure(builder, new MetadataOptions { Provider = "sqlite" }, new HepDbOptions { DataDir = _dir });
        _options = builder.Options;
        await using var db = new HepDbContext(_options);
        await db.Database.MigrateAsync();
    }

    public ValueTask DisposeAsync()
    {
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        Directory.Delete(_dir, recursive: true);
        return ValueTask.CompletedTask;
    }

    private DateTime Now => _clock.GetUtcNow().UtcDateTime;

    /// <summary>One watcher pass as the watcher does it: record, then downsample, on a fresh context.</summary>
    private async Task PassAsync(long size, int? connections, long size2 = 0)
    {
        await using var db = new HepDbContext(_options);
        var history = new UsageHistory(db, _last);
        await history.RecordAsync([new DatabaseUsage("db1", size, connections), new DatabaseUsage("db2", size2, 0)],
            [new EngineUsage(EngineKind.MariaDb, "default", size + size2, 2)], Now, CancellationToken.None);
        await history.DownsampleAsync(Now, CancellationToken.None);
        Assert.Empty(db.ChangeTracker.Entries()); // the samples are not kept tracked in the watcher's long-lived context
    }

    private async Task<List<UsageSample>> RowsAsync(string db = "db1")
    {
        await using var ctx = new HepDbContext(_options);
        return await ctx.SamplesOf(db).AsNoTracking().OrderBy(s => s.Bucket).ToListAsync();
    }

    [Fact]
    public async Task Passes_are_kept_48_hours_then_rolled_into_hours_with_the_largest_values()
    {
        // Three days of passes every 10 minutes; the size grows by 1 KB a pass, connections cycle 0..5.
        var start = Now;
        for (var i = 0; i < 3 * 24 * 6; i++)
        {
            if (i > 0) _clock.Advance(TimeSpan.FromMinutes(10));
            await PassAsync(1_000_000 + i * 1024, i % 6, 7);
        }
        var rows = await RowsAsync();
        var rawCutoff = UsageHistory.ToBucket(Now - TimeSpan.FromHours(48));
        rawCutoff -= rawCutoff % 3600;
        var raw = rows.Where(r => r.Resolution == UsageResolution.Raw).ToList();
        var hourly = rows.Where(r => r.Resolution == UsageResolution.Hourly).ToList();
        Assert.All(raw, r => Assert.True(r.Bucket >= rawCutoff));
        Assert.All(hourly, r => Assert.True(r.Bucket < rawCutoff && r.Bucket % 3600 == 0));
        Assert.DoesNotContain(rows, r => r.Resolution == UsageResolution.Daily);
        // Every pass is accounted for exactly once: the raw ones, and six per rolled hour.
        Assert.Equal(3 * 24 * 6, raw.Count + hourly.Count * 6);
        Assert.Equal((int)((rawCutoff - UsageHistory.ToBucket(start)) / 3600), hourly.Count);
        // An hour holds the largest size (its last pass, sizes grow) and the most connections (5) of its passes.
        var firstHour = hourly[0];
        Assert.Equal(UsageHistory.ToBucket(start), firstHour.Bucket);
        Assert.Equal(1_000_000 + 5 * 1024, firstHour.SizeBytes);
        Assert.Equal(5, firstHour.Connections);
        // The other database and the fleet are rolled the same way.
        Assert.Equal(hourly.Count, (await RowsAsync("db2")).Count(r => r.Resolution == UsageResolution.Hourly));
        await using var db = new HepDbContext(_options);
        Assert.Equal(hourly.Count, await db.FleetSamples.CountAsync(f => f.Resolution == UsageResolution.Hourly));
        Assert.Equal(1_000_007 + 5 * 1024, (await db.FleetSamples.SingleAsync(f => f.Resolution == UsageResolution.Hourly && f.Bucket == firstHour.Bucket)).Bytes);
    }

    [Fact]
    public async Task Hours_become_days_after_30_days_and_days_go_after_a_year()
    {
        // 400 days of a pass every 6 hours (the store does not care how often passes come).
        var start = Now;
        for (var i = 0; i < 400 * 4; i++)
        {
            if (i > 0) _clock.Advance(TimeSpan.FromHours(6));
            await PassAsync(i, i % 4 == 1 ? null : i % 4);
        }
        var rows = await RowsAsync();
        var at = UsageHistory.ToBucket(Now);
        var daily = rows.Where(r => r.Resolution == UsageResolution.Daily).ToList();
        var hourly = rows.Where(r => r.Resolution == UsageResolution.Hourly).ToList();
        var raw = rows.Where(r => r.Resolution == UsageResolution.Raw).ToList();
        Assert.All(daily, r => Assert.True(r.Bucket % 86_400 == 0 && r.Bucket >= at - 366 * 86_400 && r.Bucket < at - 30 * 86_400));
        Assert.All(hourly, r => Assert.True(r.Bucket >= at - 31 * 86_400 && r.Bucket < at - 47 * 3600));
        Assert.All(raw, r => Assert.True(r.Bucket >= at - 49 * 3600));
        Assert.InRange(daily.Count, 334, 336);          // a year less the 30 days kept hourly
        Assert.InRange(hourly.Count, 4 * 28, 4 * 29);   // 30 days less the 48 hours kept raw, 4 passes a day
        Assert.InRange(raw.Count, 8, 9);
        Assert.True(daily[0].Bucket > UsageHistory.ToBucket(start), "the first days are older than a year and deleted");
        // A day's row holds its largest size (sizes grow: its last pass) and most connections; a pass that could not
        // count (null) does not hide the others.
        var day = daily[^1];
        var lastPassOfDay = (day.Bucket + 18 * 3600 - UsageHistory.ToBucket(start)) / (6 * 3600);
        Assert.Equal(lastPassOfDay, day.SizeBytes);
        Assert.Equal(3, day.Connections);
        await using var db = new HepDbContext(_options);
        Assert.Equal(daily.Count, await db.FleetSamples.CountAsync(f => f.Resolution == UsageResolution.Daily));
    }

    [Fact]
    public async Task A_second_pass_in_the_same_second_replaces_the_first_and_a_late_roll_merges()
    {
        await PassAsync(100, 1);
        await PassAsync(200, 2);
        var rows = await RowsAsync();
        Assert.Equal(200, Assert.Single(rows).SizeBytes);

        // An hourly row that already exists (a clock that went back) keeps the larger values.
        await using (var db = new HepDbContext(_options))
        {
            db.UsageSamples.Add(new UsageSample { Series = await db.UsageSeries.Where(k => k.DatabaseId == "db1").Select(k => k.Key).SingleAsync(), Resolution = UsageResolution.Hourly, Bucket = UsageHistory.ToBucket(Now), SizeBytes = 150, Connections = 9 });
            await db.SaveChangesAsync();
        }
        _clock.Advance(TimeSpan.FromHours(50));
        await PassAsync(300, 3);
        var hour = (await RowsAsync()).Single(r => r.Resolution == UsageResolution.Hourly);
        Assert.Equal((200, 9), (hour.SizeBytes, hour.Connections));
    }

    [Fact]
    public async Task An_unchanged_database_costs_one_raw_row_an_hour_and_its_hours_stay_exact()
    {
        // Passes every 10 minutes for 52 hours: db1 is idle except for one burst (pass 8: 5,000 bytes, 4 connections);
        // db2 changes every pass.
        for (var i = 0; i < 52 * 6; i++)
        {
            if (i > 0) _clock.Advance(TimeSpan.FromMinutes(10));
            await PassAsync(i == 8 ? 5000 : 1000, i == 8 ? 4 : 1, i);
        }
        var rows = await RowsAsync();
        var raw = rows.Where(r => r.Resolution == UsageResolution.Raw).ToList();
        var hourly = rows.Where(r => r.Resolution == UsageResolution.Hourly).ToList();
        // One raw row per hour (its first pass) while idle: 48 or 49 hours kept, not 288 passes.
        Assert.InRange(raw.Count, 48, 50);
        Assert.All(raw, r => Assert.Equal((1000, (int?)1), (r.SizeBytes, r.Connections)));
        // The burst's hour keeps its peak, and the pass after it (back to 1,000) was written, so the next hour is exact.
        var burstHour = hourly.Single(h => h.SizeBytes == 5000);
        Assert.Equal(4, burstHour.Connections);
        Assert.Equal(1000, hourly.Single(h => h.Bucket == burstHour.Bucket + 3600).SizeBytes);
        Assert.Equal(52 * 6, (await RowsAsync("db2")).Where(r => r.Resolution == UsageResolution.Raw).Count() + 6 * (await RowsAsync("db2")).Count(r => r.Resolution == UsageResolution.Hourly));

        // Another writer (an operator's run, another replica) makes this instance write every row again.
        await using (var db = new HepDbContext(_options))
        {
            _clock.Advance(TimeSpan.FromMinutes(1));
            await new UsageHistory(db, new LastSamples()).RecordAsync([new DatabaseUsage("db1", 1000, 1)], [new EngineUsage(EngineKind.MariaDb, "default", 1, 1)], Now, CancellationToken.None);
        }
        _clock.Advance(TimeSpan.FromMinutes(1));
        await using (var db = new HepDbContext(_options))
            Assert.Equal(2, await new UsageHistory(db, _last).RecordAsync([new DatabaseUsage("db1", 1000, 1), new DatabaseUsage("db2", 5, 0)], [new EngineUsage(EngineKind.MariaDb, "default", 1, 1)], Now, CancellationToken.None));
    }

    [Fact]
    public async Task Reading_gives_each_database_its_points_oldest_first()
    {
        for (var i = 0; i < 5; i++)
        {
            await PassAsync(i * 10, i, 1);
            _clock.Advance(TimeSpan.FromMinutes(1));
        }
        await using var db = new HepDbContext(_options);
        var history = new UsageHistory(db, _last);
        var points = await history.DatabasesSinceAsync(["db1", "nope"], Now - TimeSpan.FromMinutes(3), CancellationToken.None);
        Assert.Equal([20L, 30, 40], points["db1"].Select(p => p.SizeBytes));
        Assert.Empty(points["nope"]);
        var fleet = await history.FleetSinceAsync(Now - TimeSpan.FromHours(1), CancellationToken.None);
        Assert.Equal(5, fleet["mariadb/default"].Count);
    }

    [Fact]
    public void A_graph_is_an_accessible_svg_with_its_limit_and_stays_small_with_many_points()
    {
        var now = Now;
        var points = Enumerable.Range(0, 2880).Select(i => new UsagePoint(now.AddMinutes(i - 2879), 1_048_576L + i * 1000, i is >= 1000 and < 1100 ? null : i % 4)).ToList();
        var storage = UsageGraphs.Storage("x", "my-app", points, 100L * 1_048_576, now);
        var svg = Graphs.Svg(storage).ToString()!;
        Assert.StartsWith("<svg class=\"graph\" id=\"storage-graph-x\" role=\"img\" aria-label=\"Storage of my-app, last 48 hours. Storage: ", svg);
        Assert.Contains("<title>Storage of my-app, last 48 hours</title><desc>Storage: 3.7 MB of 100 MB (the account&#39;s limit), up from 1 MB 47 h ago.</desc>", svg);
        Assert.Contains("class=\"limit\"", svg);
        Assert.Contains(">limit 100 MB</text>", svg);
        Assert.Contains(">200 MB</text>", svg); // the scale's round top above the limit
        Assert.DoesNotContain("<script", svg);
        Assert.True(svg.Length < 12_000, $"{svg.Length} characters for 2,880 points");

        var connections = UsageGraphs.Connections("x", "my-app", points, 10, now);
        var table = Graphs.Table(connections).ToString()!;
        Assert.Equal(8, table.Split("<tr><td>").Length - 1);
        Assert.Contains("Connections: 3 open at the last sample, at most 3 in the last 48 hours, of 10 allowed at once.", connections.Description);
        // Passes that could not count break the line instead of drawing a zero.
        Assert.True(Graphs.Svg(connections).ToString()!.Split("class=\"series\"").Length > 2);

        var empty = UsageGraphs.Storage("y", "new", [], 100L * 1_048_576, now);
        Assert.Equal("Storage: no samples yet; the account's limit is 100 MB.", empty.Description);
        Assert.Contains("No samples yet.", Graphs.Table(empty).ToString());
    }
}
