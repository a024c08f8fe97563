using System.Diagnostics;
using HepDb.Accounts;
using HepDb.Data;
using HepDb.Databases;
using HepDb.Engines;
using HepDb.Hosting;
using HepDb.Usage;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;

namespace HepDb.Quotas;

public sealed class QuotaWatcherOptions
{
    public const string Section = "QuotaWatcher";

    /// <summary>How often every database is measured and every account re-evaluated. Default 60 s.</summary>
    public TimeSpan Interval { get; set; } = TimeSpan.FromSeconds(60);
}

/// <summary>One engine server's part of a scan (<see cref="Server"/>: its id, <c>mariadb/default</c>).
/// <see cref="ConnectionsEnded"/>: what the connection-limit pass ended on an engine without a native per-user limit
/// (MongoDB); always 0 elsewhere.</summary>
public sealed record ServerScan(string Engine, string Server, bool Ok, int Queries, int Databases, double Milliseconds, string? Error, int ConnectionsEnded = 0);

/// <summary>What one watcher run did.</summary>
public sealed record ScanReport(IReadOnlyList<ServerScan> Servers, int AccountsEvaluated, int AccountsChanged, IReadOnlyList<string> Errors, double Milliseconds)
{
    public string Summary() =>
        string.Join("; ", Servers.Select(s => s.Ok ? $"{s.Server}: {s.Databases} dbs, {s.Queries} queries, {s.Milliseconds:0} ms{(s.ConnectionsEnded > 0 ? $", {s.ConnectionsEnded} ended over connection limits" : "")}" : $"{s.Server}: FAILED {s.Error}"))
        + $"; {AccountsEvaluated} accounts, {AccountsChanged} changed, {Errors.Count} errors, {Milliseconds:0} ms";
}

/// <summary>
/// Measures every database with a bounded number of queries per engine server (one set per server, never one per
/// database), stores the sizes, decides every account's state in memory and enforces only where something differs.
/// One unreachable server never stops the scan of the others; its databases keep their last size. Each run is recorded.
/// </summary>
public sealed class QuotaWatcher(
    IServiceScopeFactory scopes, EngineRegistry engines, InstanceIdentity instance, TimeProvider time, IOptions<QuotaWatcherOptions> options,
    IOptions<TiersOptions> tiers, IOptions<UsageHistoryOptions> history, ILogger<QuotaWatcher> logger) : PeriodicJob(time, logger)
{
    protected override TimeSpan Interval => options.Value.Interval;

    protected override Task RunPassAsync(bool atStart, CancellationToken ct) => RunOnceAsync(ct, requireLease: !atStart);

    /// <summary>A periodic pass: null when another replica holds the lease. At start (<paramref name="requireLease"/>
    /// false) it runs anyway and takes the lease if it is free.</summary>
    public async Task<ScanReport?> RunOnceAsync(CancellationToken ct, bool requireLease = true)
    {
        await using var scope = scopes.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<HepDbContext>();
        // Every step is idempotent, so a pass without the lease (at start, or an operator's run) may overlap another
        // replica's safely; the lease only keeps the periodic passes from being done twice.
        if (!await Leases.TryAcquireAsync(db, "quota-watcher", instance.Id, options.Value.Interval * 2, Time, ct) && requireLease) return null;
        return await PassAsync(scope.ServiceProvider, db, ct);
    }

    /// <summary>An operator's pass (<c>hepdb-admin watcher run</c>): runs now and leaves the lease alone, so a running
    /// server (which keeps the lease between its passes) neither blocks it nor loses its turn to the tool.</summary>
    public async Task<ScanReport> RunNowAsync(CancellationToken ct)
    {
        await using var scope = scopes.CreateAsyncScope();
        return await PassAsync(scope.ServiceProvider, scope.ServiceProvider.GetRequiredService<HepDbContext>(), ct);
    }

    private async Task<ScanReport> PassAsync(IServiceProvider services, HepDbContext db, CancellationToken ct)
    {
        var started = Time.GetUtcNow().UtcDateTime;
        var total = Stopwatch.StartNew();

        // Every server at once, each with its own metadata session: a pass takes as long as the slowest server, and a
        // stopped one holds none of the others back.
        var scans = await Task.WhenAll(engines.Servers.Select(server => ScanServerAsync(server, ct)));
        var servers = scans.Select(s => s.Scan).ToList();
        var samples = scans.SelectMany(s => s.Samples).ToList();
        var fleet = scans.Where(s => s.Fleet is not null).Select(s => s.Fleet!).ToList();
        // The history and the verdicts both follow from the sizes just stored and need nothing of each other: they run
        // side by side, each with its own metadata session.
        var recording = history.Value.Enabled ? RecordHistoryAsync(samples, fleet, started, ct) : Task.CompletedTask;
        var (evaluated, changed, errors) = await EnforceAllAsync(db, services.GetRequiredService<AccountEnforcer>(), ct);
        await recording;
        var report = new ScanReport(servers, evaluated, changed, errors, total.Elapsed.TotalMilliseconds);
        db.JobRuns.Add(new JobRun
        {
            Id = Ulid.New(Time), Job = "quota-watcher", StartedAt = started, FinishedAt = Time.GetUtcNow().UtcDateTime,
            Ok = servers.All(s => s.Ok) && errors.Count == 0, Summary = Truncate(report.Summary(), 4000),
        });
        var keepSince = started - TimeSpan.FromDays(7);
        await db.JobRuns.Where(r => r.Job == "quota-watcher" && r.StartedAt < keepSince).ExecuteDeleteAsync(ct);
        await db.SaveChangesAsync(ct);
        return report;
    }

    /// <summary>One ready database as measured in this pass, for the usage history.</summary>
    private sealed record Measured(string Id, string DbUser, long Bytes, long? Series);

    /// <summary>One server's part of a pass: sizes, the connection limits it cannot enforce itself, and its samples.</summary>
    private async Task<(ServerScan Scan, List<DatabaseUsage> Samples, EngineUsage? Fleet)> ScanServerAsync(FleetServer server, CancellationToken ct)
    {
        await using var scope = scopes.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<HepDbContext>();
        var adapter = server.Adapter;
        var (scan, measured) = await MeasureServerAsync(db, server, ct);
        if (!adapter.EnforcesConnectionLimitsNatively) scan = scan with { ConnectionsEnded = await EnforceConnectionLimitsAsync(db, server, ct) };
        // Only a server measured in this pass is sampled: a failed one keeps a gap in its history, not stale sizes.
        if (measured is null || !history.Value.Enabled) return (scan, [], null);
        var connections = await CountConnectionsAsync(adapter, measured, ct);
        var samples = measured.Select(m => new DatabaseUsage(m.Id, m.Bytes, connections is null ? null : connections.GetValueOrDefault(m.DbUser), m.Series)).ToList();
        return (scan, samples, new EngineUsage(server.Kind, server.Name, measured.Sum(m => m.Bytes), measured.Count));
    }

    private async Task<(ServerScan Scan, List<Measured>? Measured)> MeasureServerAsync(HepDbContext db, FleetServer server, CancellationToken ct)
    {
        var sw = Stopwatch.StartNew();
        var adapter = server.Adapter;
        var engine = adapter.Kind.WireName();
        try
        {
            // Stamped below by server rather than by a list of ids (one short statement at any size); a database made
            // after this read is not stamped, as it was not measured.
            var listedAt = Time.GetUtcNow().UtcDateTime;
            var records = await db.Databases.AsNoTracking().Where(server.Holds()).Where(d => d.Phase == DatabasePhase.Ready)
                .Select(d => new { d.Id, d.DbName, d.DbUser, d.SizeBytes, Series = db.UsageSeries.Where(s => s.DatabaseId == d.Id).Select(s => (long?)s.Key).FirstOrDefault() })
                .ToListAsync(ct);
            // Only this store's databases are measured: a shared server's others are not ours to scan.
            var scan = await adapter.MeasureSizesAsync(records.Select(r => r.DbName).ToList(), ct);
            var now = Time.GetUtcNow().UtcDateTime;
            // Most sizes do not change between runs: one statement stamps them all, and only changed sizes are written.
            await using var tx = await db.Database.BeginTransactionAsync(ct);
            await db.Databases.Where(server.Holds()).Where(d => d.Phase == DatabasePhase.Ready && d.CreatedAt <= listedAt)
                .ExecuteUpdateAsync(s => s.SetProperty(d => d.SizeRefreshedAt, now), ct);
            foreach (var changed in records.Where(r => r.SizeBytes != scan.Bytes.GetValueOrDefault(r.DbName)))
            {
                var size = scan.Bytes.GetValueOrDefault(changed.DbName);
                await db.Databases.Where(d => d.Id == changed.Id).ExecuteUpdateAsync(s => s.SetProperty(d => d.SizeBytes, size), ct);
            }
            await tx.CommitAsync(ct);
            return (new ServerScan(engine, server.Id, true, scan.Queries, records.Count, sw.Elapsed.TotalMilliseconds, null),
                records.Select(r => new Measured(r.Id, r.DbUser, scan.Bytes.GetValueOrDefault(r.DbName), r.Series)).ToList());
        }
        catch (Exception e) when (e is EngineUnavailableException or EngineCommandException)
        {
            Logger.MeasuringFailed(server.Id, e.Message);
            return (new ServerScan(engine, server.Id, false, 0, 0, sw.Elapsed.TotalMilliseconds, e.Message), null);
        }
    }

    /// <summary>Each measured database user's open connections, with one query on the server; null when the count
    /// failed (the sizes are still sampled, with no connection count for this pass).</summary>
    private async Task<IReadOnlyDictionary<string, int>?> CountConnectionsAsync(IEngineAdapter adapter, List<Measured> measured, CancellationToken ct)
    {
        try
        {
            return await adapter.CountConnectionsAsync(measured.Select(m => m.DbUser).ToList(), ct);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            Logger.CountingConnectionsFailed(adapter.Kind.WireName(), e.Message);
            return null;
        }
    }

    /// <summary>Stores this pass's samples in one batch and downsamples what has aged. The history matters less than
    /// the sizes and verdicts of the pass, so a failure here is logged and the pass goes on.</summary>
    private async Task RecordHistoryAsync(List<DatabaseUsage> samples, List<EngineUsage> fleet, DateTime at, CancellationToken ct)
    {
        try
        {
            await using var scope = scopes.CreateAsyncScope();
            var store = scope.ServiceProvider.GetRequiredService<UsageHistory>();
            await store.RecordAsync(samples, fleet, at, ct);
            await store.DownsampleAsync(at, ct);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            Logger.RecordingHistoryFailed(e.Message);
        }
    }

    /// <summary>SPEC §4 on engines without a native per-user connection limit (MongoDB): one count per server with the
    /// limits of its ready databases. A failure is logged and never breaks the pass, like a failed size scan.</summary>
    private async Task<int> EnforceConnectionLimitsAsync(HepDbContext db, FleetServer server, CancellationToken ct)
    {
        var engine = server.Id;
        try
        {
            var limits = await db.Databases.AsNoTracking().Where(server.Holds()).Where(d => d.Phase == DatabasePhase.Ready)
                .ToDictionaryAsync(d => d.DbUser, d => d.ConnectionLimit, ct);
            return await server.Adapter.EnforceConnectionLimitsAsync(limits, ct);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            // Whatever went wrong (engine or metadata), the sizes and account verdicts of this pass still matter more.
            Logger.ConnectionLimitsFailed(engine, e.Message);
            return 0;
        }
    }

    /// <summary>Decides every account with databases in memory (three queries in all) and enforces the ones whose
    /// databases differ from their verdict.</summary>
    private async Task<(int Evaluated, int Changed, List<string> Errors)> EnforceAllAsync(HepDbContext db, AccountEnforcer enforcer, CancellationToken ct)
    {
        var now = Time.GetUtcNow().UtcDateTime;
        var databases = await db.Databases.AsNoTracking()
            .Select(d => new { d.AccountId, d.SizeBytes, d.Status, d.ConnectionLimit, d.Phase }).ToListAsync(ct);
        var packs = (await db.PackGrants.AsNoTracking().Where(p => p.ExpiresAt > now).ToListAsync(ct)).ToLookup(p => p.AccountId);
        var accounts = await db.Accounts.AsNoTracking().Where(a => db.Databases.Any(d => d.AccountId == a.Id)).ToDictionaryAsync(a => a.Id, ct);
        var errors = new List<string>();
        var changed = 0;
        foreach (var group in databases.GroupBy(d => d.AccountId))
        {
            var account = accounts[group.Key];
            var limits = EffectiveLimits.Compute(tiers.Value.For(account.Tier), packs[account.Id], now);
            var verdict = AccountVerdict.Decide(account.SuspendedAt is not null, group.Sum(d => d.SizeBytes), limits);
            if (group.All(d => d.Phase != DatabasePhase.Ready || (d.Status == verdict.DesiredStatus && d.ConnectionLimit == verdict.ConnectionLimit))) continue;
            changed++;
            errors.AddRange(await enforcer.EnforceAsync(account.Id, ct));
        }
        return (accounts.Count, changed, errors);
    }

    private static string Truncate(string s, int max) => s.Length <= max ? s : s[..max];
}
