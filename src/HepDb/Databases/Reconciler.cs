using HepDb.Data;
using HepDb.Engines;
using HepDb.Hosting;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;

namespace HepDb.Databases;

public sealed class ReconcilerOptions
{
    public const string Section = "Reconciler";

    /// <summary>How often the reconciler runs (it also runs once at start). Default 1 minute.</summary>
    public TimeSpan Interval { get; set; } = TimeSpan.FromMinutes(1);

    /// <summary>A provisioning record or pending rotation older than this is considered abandoned by a crash. Default 2 minutes.</summary>
    public TimeSpan StaleAfter { get; set; } = TimeSpan.FromMinutes(2);
}

/// <summary>What one reconciler pass did.</summary>
public sealed record ReconcileReport(int RolledBack, int Deleted, int RotationsFinished, int OrphansDropped, IReadOnlyList<string> Errors,
    int AllowlistsApplied = 0, int MovesRolledBack = 0);

/// <summary>
/// Converges the engines and the metadata store after crashes: rolls back provisioning that never finished, finishes
/// deletions, password rotations and allowlist changes, keeps server-wide settings (<see cref="IEngineAdapter.ConvergeServerAsync"/>), and drops engine databases/users that follow our naming for one of this store's
/// accounts but have no record (never anything of an account it does not know, so servers can be shared safely).
/// One engine server failing does not stop the others.
/// </summary>
public sealed class Reconciler(
    IServiceScopeFactory scopes, EngineRegistry engines, InstanceIdentity instance, TimeProvider time, IOptions<ReconcilerOptions> options,
    ILogger<Reconciler> logger) : PeriodicJob(time, logger)
{
    protected override TimeSpan Interval => options.Value.Interval;

    protected override Task RunPassAsync(bool atStart, CancellationToken ct) => RunOnceAsync(ct, requireLease: !atStart);

    public async Task<ReconcileReport?> RunOnceAsync(CancellationToken ct, bool requireLease = true)
    {
        await using var scope = scopes.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<HepDbContext>();
        // Every step is idempotent, so a pass without the lease (at start, or an operator's run) may overlap another
        // replica's safely; the lease only keeps the periodic passes from being done twice.
        if (!await Leases.TryAcquireAsync(db, "reconciler", instance.Id, options.Value.Interval * 2, Time, ct) && requireLease) return null;
        var service = scope.ServiceProvider.GetRequiredService<DatabaseService>();
        var stale = Time.GetUtcNow().UtcDateTime - options.Value.StaleAfter;
        var errors = new List<string>();
        int rolledBack = 0, deleted = 0, rotations = 0, orphans = 0;

        foreach (var record in await db.Databases.AsNoTracking()
                     .Where(d => (d.Phase == DatabasePhase.Provisioning && d.PhaseChangedAt < stale) || d.Phase == DatabasePhase.Deleting).ToListAsync(ct))
        {
            if (await TryAsync(record.Engine.WireName(), errors, () => service.FinishDeleteAsync(record, ct)))
                if (record.Phase == DatabasePhase.Deleting) deleted++; else rolledBack++;
        }

        foreach (var record in await db.Databases.AsNoTracking()
                     .Where(d => d.PendingPasswordSealed != null && d.PendingSince < stale && d.Phase == DatabasePhase.Ready).ToListAsync(ct))
        {
            var adapter = engines.Get(record);
            if (await TryAsync(record.Engine.WireName(), errors, () => service.FinishRotationAsync(record, adapter, record.PendingPasswordSealed!, ct))) rotations++;
        }

        var allowlists = await scope.ServiceProvider.GetRequiredService<Allowlists.AllowlistService>().FinishPendingAsync(ct);

        var moves = await scope.ServiceProvider.GetRequiredService<Fleet.DatabaseMover>().RecoverAbandonedAsync(ct);

        // Every server at once, each on its own: a slow or stopped one holds none of the others back. The accounts are
        // read once for all: an account made after this read has no orphans to lose (its names are left alone).
        var slugs = (await db.Accounts.AsNoTracking().Select(a => a.Id).ToListAsync(ct)).Select(Accounts.Account.NameSlug).ToHashSet();
        var perServer = await Task.WhenAll(engines.Servers.Select(server => ConvergeServerAsync(server, slugs, ct)));
        orphans += perServer.Sum(p => p.Orphans);
        errors.AddRange(perServer.SelectMany(p => p.Errors));

        var report = new ReconcileReport(rolledBack, deleted, rotations, orphans, errors, allowlists, moves);
        if (rolledBack + deleted + rotations + orphans > 0 || errors.Count > 0)
            Logger.ReconcilerPass(rolledBack, deleted, rotations, orphans, errors.Count);
        return report;
    }

    /// <summary>One server's part: its server-wide settings, then its orphans. Known on a server are the names of the
    /// databases it holds or that are being moved to it (on any record of the same endpoint, should an operator have
    /// registered one server twice).</summary>
    private async Task<(int Orphans, List<string> Errors)> ConvergeServerAsync(FleetServer server, IReadOnlySet<string> slugs, CancellationToken ct)
    {
        var errors = new List<string>();
        var orphans = 0;
        var adapter = server.Adapter;
        await TryAsync(server.Id, errors, async () =>
        {
            await using var scope = scopes.CreateAsyncScope();
            var db = scope.ServiceProvider.GetRequiredService<HepDbContext>();
            await adapter.ConvergeServerAsync(ct);
            // List the engine first, then the records: a database created in between has its record by then.
            var found = await adapter.ListTenantObjectsAsync(ct);
            var same = engines.ServersOf(server.Kind).Where(s => Fleet.FleetService.SameEndpoint(s.Row, server.Row)).Select(s => s.Id).ToList();
            var records = await db.Databases.AsNoTracking()
                .Where(d => d.Engine == server.Kind && (same.Contains(d.ServerId) || d.ServerId == "" || (d.MoveToServerId != null && same.Contains(d.MoveToServerId))))
                .Select(d => new { d.DbName, d.DbUser }).ToListAsync(ct);
            var known = records.SelectMany(r => new[] { r.DbName, r.DbUser }).ToHashSet();
            foreach (var (slug, slot) in found.Databases.Concat(found.Users).Where(n => !known.Contains(n)).Select(Parse).Distinct())
            {
                if (!slugs.Contains(slug)) continue;
                var dbName = TenantNames.DatabaseName(adapter.Kind, slug, slot);
                var user = TenantNames.UserName(adapter.Kind, slug, slot);
                if (known.Contains(dbName) || known.Contains(user)) continue;
                Logger.DroppingOrphan(dbName, user, server.Id);
                await adapter.DropTenantAsync(dbName, user, ct);
                orphans++;
            }
        });
        return (orphans, errors);
    }

    private static (string Slug, int Slot) Parse(string name)
    {
        var m = TenantNames.Pattern().Match(name);
        return (m.Groups[1].Value, int.Parse(m.Groups[2].Value));
    }

    private async Task<bool> TryAsync(string engine, List<string> errors, Func<Task> work)
    {
        try
        {
            await work();
            return true;
        }
        catch (Exception e) when (e is EngineUnavailableException or EngineCommandException)
        {
            errors.Add($"{engine}: {e.Message}");
            Logger.ReconcilerEngineFailed(engine, e.Message);
            return false;
        }
    }
}
