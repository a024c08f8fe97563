using System.Net;
using HepDb.Api;
using HepDb.Audit;
using HepDb.Backups;
using HepDb.Data;
using HepDb.Databases;
using HepDb.Engines;
using HepDb.Security;
using Microsoft.EntityFrameworkCore;

namespace HepDb.Allowlists;

/// <summary>
/// Per-database IP allowlists (SPEC §3b), enforced by the engine (<see cref="IEngineAdapter.SetAllowlistAsync"/>). A
/// change holds the database's lock (one operation at a time, as backups), is saved as pending, applied on the engine
/// and then marked applied. If the engine fails, the previous list is saved back and applied again, so a failed change
/// changes nothing; a crash in between leaves it pending, and the reconciler applies what the record says.
/// </summary>
public sealed class AllowlistService(
    HepDbContext db, EngineRegistry engines, SecretBox box, DatabaseLocks locks, TimeProvider time, ILogger<AllowlistService> logger)
{
    public async Task<Outcome<IReadOnlyList<IPNetwork>>> GetAsync(string accountId, string id, CancellationToken ct)
    {
        var record = await FindAsync(accountId, id, ct);
        if (record is null) return ApiErrors.DatabaseNotFound;
        return new(Cidrs.Load(record.AllowedCidrs), null);
    }

    public async Task<Outcome<IReadOnlyList<IPNetwork>>> SetAsync(string accountId, string id, IReadOnlyList<string?> entries, Actor actor, CancellationToken ct)
    {
        var record = await FindAsync(accountId, id, ct);
        if (record is null) return ApiErrors.DatabaseNotFound;
        var (ranges, problem) = Cidrs.Parse(entries);
        if (ranges is null) return ApiErrors.InvalidBody(problem!);
        if (await db.Accounts.AnyAsync(a => a.Id == accountId && a.SuspendedAt != null, ct)) return ApiErrors.AccountSuspended;
        if (engines.For(record) is not { } adapter) return ApiErrors.EngineUnavailable(record.Engine.WireName(), ApiErrors.Unavailable.Allowlist);
        if (!adapter.SupportsAllowlists && ranges.Count > 0) return ApiErrors.AllowlistUnavailable(record.Engine.DisplayName());
        if (adapter.AllowlistProblem(ranges) is { } refused) return ApiErrors.InvalidBody(refused);

        await using var held = await locks.TryTakeAsync(record.Id, ct);
        if (held is null) return ApiErrors.DatabaseBusy;
        await db.Entry(record).ReloadAsync(ct);
        var before = record.AllowedCidrs;
        var wanted = Cidrs.Store(ranges);
        if (wanted == before && !record.AllowlistPending) return new(ranges, null);

        // From here the change is finished or undone even if the client goes away.
        await SaveAsync(record, wanted, pending: true);
        try
        {
            await adapter.SetAllowlistAsync(DatabaseService.SpecOf(record, box), ranges, CancellationToken.None);
        }
        catch (Exception e) when (e is EngineUnavailableException or EngineCommandException)
        {
            logger.AllowlistFailed(record.DbName, e.GetType().Name);
            await SaveAsync(record, before, pending: true);
            await TryApplyAsync(record, adapter);
            return e is EngineCommandException ? ApiErrors.Internal : ApiErrors.EngineUnavailable(adapter.Kind.DisplayName(), ApiErrors.Unavailable.Allowlist);
        }
        record.AllowlistPending = false;
        db.Record(time, actor, accountId, "database.allowlist_changed", record.Id, wanted ?? "anywhere");
        await db.SaveChangesAsync(CancellationToken.None);
        return new(ranges, null);
    }

    /// <summary>For the reconciler: applies the stored list of every database whose list is pending and that no live
    /// operation holds. Returns how many it applied.</summary>
    public async Task<int> FinishPendingAsync(CancellationToken ct)
    {
        var applied = 0;
        foreach (var record in await db.Databases.Where(d => d.AllowlistPending && d.Phase == DatabasePhase.Ready).ToListAsync(ct))
        {
            await using var held = await locks.TryTakeAsync(record.Id, ct);
            if (held is null || engines.For(record) is not { } adapter) continue;
            await db.Entry(record).ReloadAsync(ct);
            if (record.AllowlistPending && await TryApplyAsync(record, adapter)) applied++;
        }
        return applied;
    }

    /// <summary>Applies the record's list; when the engine takes it, the record is no longer pending.</summary>
    private async Task<bool> TryApplyAsync(TenantDatabase record, IEngineAdapter adapter)
    {
        try
        {
            await adapter.SetAllowlistAsync(DatabaseService.SpecOf(record, box), Cidrs.Load(record.AllowedCidrs), CancellationToken.None);
        }
        catch (Exception e) when (e is EngineUnavailableException or EngineCommandException)
        {
            logger.AllowlistFailed(record.DbName, e.GetType().Name);
            return false;
        }
        await SaveAsync(record, record.AllowedCidrs, pending: false);
        return true;
    }

    private async Task SaveAsync(TenantDatabase record, string? cidrs, bool pending)
    {
        record.AllowedCidrs = cidrs;
        record.AllowlistPending = pending;
        await db.SaveChangesAsync(CancellationToken.None);
    }

    private Task<TenantDatabase?> FindAsync(string accountId, string id, CancellationToken ct) =>
        db.Databases.FirstOrDefaultAsync(d => d.Id == id && d.AccountId == accountId && d.Phase == DatabasePhase.Ready, ct);
}

internal static partial class Log
{
    [LoggerMessage(EventId = 6001, Level = LogLevel.Warning, Message = "Applying the allowlist of {DbName} on its engine failed ({Error}); it stays pending for the reconciler")]
    public static partial void AllowlistFailed(this ILogger logger, string dbName, string error);
}
