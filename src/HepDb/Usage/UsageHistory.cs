using HepDb.Data;
using HepDb.Engines;
using Microsoft.EntityFrameworkCore;

namespace HepDb.Usage;

public sealed class UsageHistoryOptions
{
    public const string Section = "UsageHistory";

    /// <summary>Whether the quota watcher keeps samples at all. Default true.</summary>
    public bool Enabled { get; set; } = true;
}

/// <summary>How long each resolution is kept: every pass for 48 hours, hourly for 30 days, daily for a year.</summary>
public static class UsageRetention
{
    public static readonly TimeSpan Raw = TimeSpan.FromHours(48);
    public static readonly TimeSpan Hourly = TimeSpan.FromDays(30);
    public static readonly TimeSpan Daily = TimeSpan.FromDays(365);
}

/// <summary>One database's sample of one pass. <see cref="Connections"/> is null when they could not be counted;
/// <see cref="Series"/> is the database's <see cref="UsageSeries"/> key when the caller read it (null: looked up, and
/// made for a database sampled for the first time).</summary>
public sealed record DatabaseUsage(string DatabaseId, long SizeBytes, int? Connections, long? Series = null);

/// <summary>One engine server's totals of one pass (<see cref="Server"/>: its name within the engine).</summary>
public sealed record EngineUsage(EngineKind Engine, string Server, long Bytes, int Databases);

/// <summary>A point of a database's history, at the start of its bucket.</summary>
public sealed record UsagePoint(DateTime At, long SizeBytes, int? Connections);

/// <summary>A point of an engine's history, at the start of its bucket.</summary>
public sealed record FleetPoint(DateTime At, long Bytes, int Databases);

/// <summary>What one <see cref="UsageHistory.DownsampleAsync"/> moved and deleted.</summary>
public sealed record Downsampled(int RolledIntoHourly, int RolledIntoDaily, int Deleted);

/// <summary>
/// The usage history in the metadata store: per-database and per-engine samples at three resolutions. A pass writes one
/// raw row per database in one batch; once a whole hour is older than 48 hours its raw rows become one hourly row per
/// database (the largest size and connection count of the hour) and are deleted, whole days older than 30 days go from
/// hourly to daily the same way, and daily rows older than a year are deleted. The aggregation runs in the database (one
/// grouped query per step), so a step costs one query when there is nothing to move; it has work once an hour.
/// </summary>
public sealed class UsageHistory(HepDbContext db, LastSamples last)
{
    private const long Hour = 3600, Day = 86_400;

    public static long ToBucket(DateTime at) => new DateTimeOffset(DateTime.SpecifyKind(at, DateTimeKind.Utc)).ToUnixTimeSeconds();
    public static DateTime FromBucket(long bucket) => DateTimeOffset.FromUnixTimeSeconds(bucket).UtcDateTime;

    /// <summary>Stores one pass's samples at <paramref name="at"/> (to the second), in one transaction. A database's
    /// raw row is left out when nothing changed since its last one in the same hour (see <see cref="LastSamples"/>): every
    /// pass is still known exactly, and an idle database costs one row an hour. A second pass in the same second (two
    /// replicas, or an operator's run) replaces the first one's rows. Returns how many database rows were written.</summary>
    public async Task<int> RecordAsync(IReadOnlyCollection<DatabaseUsage> databases, IReadOnlyCollection<EngineUsage> engines, DateTime at, CancellationToken ct)
    {
        var bucket = ToBucket(at);
        var series = await SeriesOfAsync(databases, ct);
        await using var tx = await db.Database.BeginTransactionAsync(ct);
        // The per-engine rows are written every pass, so the newest of them says whether this instance wrote the last
        // pass; if not (another replica, an operator's run, a restart), what it remembers may be stale and every row is written.
        var newest = await db.FleetSamples.Where(s => s.Resolution == UsageResolution.Raw).MaxAsync(s => (long?)s.Bucket, ct);
        var known = last.ValuesIfLatest(newest, bucket);
        await db.UsageSamples.Where(s => s.Resolution == UsageResolution.Raw && s.Bucket == bucket).ExecuteDeleteAsync(ct);
        await db.FleetSamples.Where(s => s.Resolution == UsageResolution.Raw && s.Bucket == bucket).ExecuteDeleteAsync(ct);
        var hour = bucket / Hour;
        var rows = databases
            .Where(d => known is null || !known.TryGetValue(d.DatabaseId, out var k) || k != new LastSamples.Sample(d.SizeBytes, d.Connections, hour))
            .Select(d => new UsageSample
            {
                Series = series[d.DatabaseId], Resolution = UsageResolution.Raw, Bucket = bucket, SizeBytes = d.SizeBytes, Connections = d.Connections,
            }).ToList();
        var fleet = engines.Select(e => new FleetSample { Engine = e.Engine, Server = e.Server, Resolution = UsageResolution.Raw, Bucket = bucket, Bytes = e.Bytes, Databases = e.Databases }).ToList();
        db.UsageSamples.AddRange(rows);
        db.FleetSamples.AddRange(fleet);
        try
        {
            await db.SaveChangesAsync(ct);
            await tx.CommitAsync(ct);
        }
        catch
        {
            last.Forget();
            throw;
        }
        finally
        {
            Forget(rows);
            Forget(fleet);
        }
        last.Remember(fleet.Count > 0 ? bucket : null, databases.Select(d => (d.DatabaseId, new LastSamples.Sample(d.SizeBytes, d.Connections, hour))));
        return rows.Count;
    }

    /// <summary>Each database's series key: the one the caller read, else the stored one, else a new one. Two passes
    /// making the same database's series at once (replicas) meet at its unique id; the loser reads the winner's.</summary>
    private async Task<Dictionary<string, long>> SeriesOfAsync(IReadOnlyCollection<DatabaseUsage> databases, CancellationToken ct)
    {
        var keys = databases.Where(d => d.Series is not null).ToDictionary(d => d.DatabaseId, d => d.Series!.Value);
        var missing = databases.Where(d => d.Series is null).Select(d => d.DatabaseId).Distinct().ToList();
        for (var attempt = 0; missing.Count > 0; attempt++)
        {
            foreach (var found in await db.UsageSeries.AsNoTracking().Where(x => missing.Contains(x.DatabaseId)).ToListAsync(ct))
                keys[found.DatabaseId] = found.Key;
            missing.RemoveAll(keys.ContainsKey);
            if (missing.Count == 0) break;
            var made = missing.Select(id => new UsageSeries { DatabaseId = id }).ToList();
            db.UsageSeries.AddRange(made);
            try
            {
                await db.SaveChangesAsync(ct);
                foreach (var m in made) keys[m.DatabaseId] = m.Key;
                missing.Clear();
            }
            catch (DbUpdateException) when (attempt == 0)
            {
                // Another pass made some of them first: read them and make the rest.
            }
            finally
            {
                Forget(made);
            }
        }
        return keys;
    }

    /// <summary>Rolls what has aged out of a resolution into the next one and deletes what is older than a year, as of
    /// <paramref name="now"/>. Only whole hours and days are rolled, so each bucket is rolled once; a bucket that already
    /// exists (a clock that went back) keeps the larger values.</summary>
    public async Task<Downsampled> DownsampleAsync(DateTime now, CancellationToken ct)
    {
        var at = ToBucket(now);
        var rawCutoff = Floor(at - (long)UsageRetention.Raw.TotalSeconds, Hour);
        var hourlyCutoff = Floor(at - (long)UsageRetention.Hourly.TotalSeconds, Day);
        var dailyCutoff = Floor(at - (long)UsageRetention.Daily.TotalSeconds, Day);
        var hourly = await RollDatabasesAsync(UsageResolution.Raw, UsageResolution.Hourly, Hour, rawCutoff, ct)
                     + await RollFleetAsync(UsageResolution.Raw, UsageResolution.Hourly, Hour, rawCutoff, ct);
        var daily = await RollDatabasesAsync(UsageResolution.Hourly, UsageResolution.Daily, Day, hourlyCutoff, ct)
                    + await RollFleetAsync(UsageResolution.Hourly, UsageResolution.Daily, Day, hourlyCutoff, ct);
        var deleted = await db.UsageSamples.Where(s => s.Resolution == UsageResolution.Daily && s.Bucket < dailyCutoff).ExecuteDeleteAsync(ct)
                      + await db.FleetSamples.Where(s => s.Resolution == UsageResolution.Daily && s.Bucket < dailyCutoff).ExecuteDeleteAsync(ct);
        return new Downsampled(hourly, daily, deleted);
    }

    /// <summary>The samples of <paramref name="databaseIds"/> since <paramref name="since"/>, oldest first, each database's
    /// list at the finest resolution kept for each part of the window.</summary>
    public async Task<IReadOnlyDictionary<string, IReadOnlyList<UsagePoint>>> DatabasesSinceAsync(IReadOnlyCollection<string> databaseIds, DateTime since, CancellationToken ct)
    {
        var from = ToBucket(since);
        var ids = databaseIds.ToList();
        var rows = await db.UsageSeries.AsNoTracking().Where(k => ids.Contains(k.DatabaseId))
            .Join(db.UsageSamples.AsNoTracking().Where(s => s.Bucket >= from), k => k.Key, s => s.Series,
                (k, s) => new { k.DatabaseId, s.Bucket, s.SizeBytes, s.Connections })
            .ToListAsync(ct);
        var points = rows.ToLookup(r => r.DatabaseId);
        return ids.Distinct().ToDictionary(id => id, IReadOnlyList<UsagePoint> (id) =>
            points[id].OrderBy(r => r.Bucket).Select(r => new UsagePoint(FromBucket(r.Bucket), r.SizeBytes, r.Connections)).ToList());
    }

    /// <summary>Every engine server's totals since <paramref name="since"/>, oldest first, by server id
    /// (<c>mariadb/default</c>).</summary>
    public async Task<IReadOnlyDictionary<string, IReadOnlyList<FleetPoint>>> FleetSinceAsync(DateTime since, CancellationToken ct)
    {
        var from = ToBucket(since);
        var rows = await db.FleetSamples.AsNoTracking().Where(s => s.Bucket >= from).ToListAsync(ct);
        return rows.GroupBy(r => Fleet.EngineServer.IdOf(r.Engine, r.Server)).ToDictionary(g => g.Key, IReadOnlyList<FleetPoint> (g) =>
            g.OrderBy(r => r.Bucket).Select(r => new FleetPoint(FromBucket(r.Bucket), r.Bytes, r.Databases)).ToList());
    }

    private Task<int> RollDatabasesAsync(UsageResolution from, UsageResolution to, long size, long cutoff, CancellationToken ct) => RollAsync(
        db.UsageSamples.Where(s => s.Resolution == from && s.Bucket < cutoff),
        aged => aged.GroupBy(s => new { s.Series, Bucket = s.Bucket / size * size })
            .Select(g => new { g.Key.Series, g.Key.Bucket, Size = g.Max(s => s.SizeBytes), Connections = g.Max(s => s.Connections) }),
        r => r.Bucket,
        first => db.UsageSamples.Where(s => s.Resolution == to && s.Bucket >= first && s.Bucket < cutoff),
        s => (s.Series, s.Bucket), r => (r.Series, r.Bucket),
        (kept, r) => (kept.SizeBytes, kept.Connections) = (Math.Max(kept.SizeBytes, r.Size), Max(kept.Connections, r.Connections)),
        r => new UsageSample { Series = r.Series, Resolution = to, Bucket = r.Bucket, SizeBytes = r.Size, Connections = r.Connections },
        ct);

    private Task<int> RollFleetAsync(UsageResolution from, UsageResolution to, long size, long cutoff, CancellationToken ct) => RollAsync(
        db.FleetSamples.Where(s => s.Resolution == from && s.Bucket < cutoff),
        aged => aged.GroupBy(s => new { s.Engine, s.Server, Bucket = s.Bucket / size * size })
            .Select(g => new { g.Key.Engine, g.Key.Server, g.Key.Bucket, Bytes = g.Max(s => s.Bytes), Databases = g.Max(s => s.Databases) }),
        r => r.Bucket,
        first => db.FleetSamples.Where(s => s.Resolution == to && s.Bucket >= first && s.Bucket < cutoff),
        s => (s.Engine, s.Server, s.Bucket), r => (r.Engine, r.Server, r.Bucket),
        (kept, r) => (kept.Bytes, kept.Databases) = (Math.Max(kept.Bytes, r.Bytes), Math.Max(kept.Databases, r.Databases)),
        r => new FleetSample { Engine = r.Engine, Server = r.Server, Resolution = to, Bucket = r.Bucket, Bytes = r.Bytes, Databases = r.Databases },
        ct);

    /// <summary>One downsampling step: the <paramref name="aged"/> rows, grouped in SQL into the next resolution's
    /// buckets, are added there (merged into a bucket that already exists) and deleted, in one transaction.</summary>
    private async Task<int> RollAsync<T, TRow, TKey>(IQueryable<T> aged, Func<IQueryable<T>, IQueryable<TRow>> group, Func<TRow, long> bucketOf,
        Func<long, IQueryable<T>> existingFrom, Func<T, TKey> keyOf, Func<TRow, TKey> rowKeyOf, Action<T, TRow> merge, Func<TRow, T> create,
        CancellationToken ct) where T : class where TKey : notnull
    {
        if (!await aged.AnyAsync(ct)) return 0;
        await using var tx = await db.Database.BeginTransactionAsync(ct);
        var rolled = await group(aged).ToListAsync(ct);
        var existing = await existingFrom(rolled.Min(bucketOf)).ToDictionaryAsync(keyOf, ct);
        var added = new List<T>();
        foreach (var r in rolled)
        {
            if (existing.TryGetValue(rowKeyOf(r), out var kept)) merge(kept, r);
            else added.Add(create(r));
        }
        db.Set<T>().AddRange(added);
        try
        {
            await db.SaveChangesAsync(ct);
            await aged.ExecuteDeleteAsync(ct);
            await tx.CommitAsync(ct);
        }
        finally
        {
            Forget(added);
            Forget(existing.Values);
        }
        return rolled.Count;
    }

    private static long Floor(long seconds, long size) => seconds - (((seconds % size) + size) % size);
    private static int? Max(int? a, int? b) => a is null ? b : b is null ? a : Math.Max(a.Value, b.Value);

    /// <summary>The watcher's context lives for its whole pass: written samples are let go rather than tracked.</summary>
    private void Forget<T>(IEnumerable<T> entities) where T : class
    {
        foreach (var e in entities) db.Entry(e).State = EntityState.Detached;
    }
}

/// <summary>What this instance last wrote for each database (one per process, shared by its watcher passes), so a pass
/// can leave out the raw rows that repeat the previous one. Trusted only while the newest raw pass in the store is the
/// one this instance wrote; otherwise every row is written again, which is always correct.</summary>
public sealed class LastSamples
{
    /// <summary>A database's values and the hour (Unix hours) of the raw row that holds them.</summary>
    public readonly record struct Sample(long SizeBytes, int? Connections, long Hour);

    private readonly Lock _lock = new();
    private long? _bucket;
    private Dictionary<string, Sample> _values = [];

    /// <summary>The remembered values when <paramref name="newestInStore"/> is the pass this instance wrote last and
    /// <paramref name="bucket"/> is a later one; otherwise null.</summary>
    public IReadOnlyDictionary<string, Sample>? ValuesIfLatest(long? newestInStore, long bucket)
    {
        lock (_lock) return _bucket is { } b && b == newestInStore && bucket > b ? _values : null;
    }

    public void Remember(long? bucket, IEnumerable<(string DatabaseId, Sample Sample)> values)
    {
        var next = values.ToDictionary(v => v.DatabaseId, v => v.Sample);
        lock (_lock) (_bucket, _values) = (bucket, next);
    }

    public void Forget()
    {
        lock (_lock) (_bucket, _values) = (null, []);
    }
}
