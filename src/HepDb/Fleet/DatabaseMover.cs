using HepDb.Accounts;
using HepDb.Allowlists;
using HepDb.Api;
using HepDb.Audit;
using HepDb.Backups;
using HepDb.Data;
using HepDb.Databases;
using HepDb.Engines;
using HepDb.Hosting;
using HepDb.Security;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;

namespace HepDb.Fleet;

/// <summary>What one database's move came to, for an evacuation's report.</summary>
public sealed record MoveResult(string DatabaseId, string From, string? To, Problem? Problem);

/// <summary>
/// Moves a database to another server of its engine, keeping its name, user and password; only the host and port of
/// its connection string change. Under the database's lock (<see cref="DatabaseLocks"/>), in steps that a crash at
/// any point leaves convergent:
/// (1) the record notes the target (<see cref="TenantDatabase.MoveToServerId"/>), before anything exists there;
/// (2) the tenant's writes are blocked on the source (reads go on);
/// (3) the database and its user are made on the target, the data copied with the engine's dump tools, and the
/// database's state (over quota, suspended, allowlist) applied there;
/// (4) the record switches to the target in one statement;
/// (5) the source copy is dropped.
/// Cut before (4), the reconciler rolls the move back (<see cref="RecoverAbandonedAsync"/>: the target copy goes,
/// writes come back on the source); cut after, the source copy has no record on its server and the reconciler drops
/// it as an orphan. Either way exactly one live copy remains.
/// </summary>
public sealed class DatabaseMover(
    HepDbContext db, EngineRegistry engines, SecretBox box, DatabaseLocks locks, DatabaseService databases, TimeProvider time,
    IOptions<HepDbOptions> hepdb, ILogger<DatabaseMover> logger)
{
    /// <summary>Fault-injection point for tests: called after each step with its name (<c>blocked</c>, <c>copied</c>,
    /// <c>switched</c>); a test that kills the process there cuts the move like a crash.</summary>
    internal static Func<string, Task>? AfterStep;

    /// <summary>Moves database <paramref name="databaseId"/> to the server named <paramref name="targetName"/> (or with
    /// that id) of its engine. Refusals change nothing; an engine failure puts everything back and says so.</summary>
    public async Task<Outcome<MoveResult>> MoveAsync(string databaseId, string targetName, Actor actor, CancellationToken ct)
    {
        var record = await db.Databases.AsNoTracking().FirstOrDefaultAsync(d => d.Id == databaseId && d.Phase == DatabasePhase.Ready, ct);
        if (record is null) return ApiErrors.DatabaseNotFound;
        var target = engines.ServersOf(record.Engine).FirstOrDefault(s => s.Name == targetName || s.Id == targetName);
        if (target is null) return ApiErrors.ServerNotFound(targetName);
        return await MoveToAsync(record, target, actor, ct);
    }

    /// <summary>Moves every ready database off <paramref name="server"/> (which must be draining, so nothing new lands
    /// there meanwhile), each to the server placement would choose. One failure does not stop the others.</summary>
    public async Task<IReadOnlyList<MoveResult>> EvacuateAsync(FleetServer server, Actor actor, CancellationToken ct)
    {
        var results = new List<MoveResult>();
        var ids = await db.Databases.AsNoTracking().Where(server.Holds()).Where(d => d.Phase == DatabasePhase.Ready)
            .OrderBy(d => d.CreatedAt).Select(d => d.Id).ToListAsync(ct);
        foreach (var id in ids)
        {
            var record = await db.Databases.AsNoTracking().FirstOrDefaultAsync(d => d.Id == id && d.Phase == DatabasePhase.Ready, ct);
            if (record is null || EngineRegistry.ServerIdOf(record) != server.Id) continue; // deleted or moved meanwhile
            string? targetId;
            await using (var tx = await db.Database.BeginTransactionAsync(ct))
            {
                targetId = await Placement.ChooseAsync(db, engines, record.Engine, new HashSet<string> { server.Id }, time.GetUtcNow().UtcDateTime, ct);
                await tx.CommitAsync(ct);
            }
            if (targetId is null || engines.Server(targetId) is not { } target)
            {
                results.Add(new MoveResult(id, server.Id, null, ApiErrors.NoRoom(record.Engine.DisplayName())));
                continue;
            }
            var moved = await MoveToAsync(record, target, actor, ct);
            results.Add(moved.Ok ? moved.Value! : new MoveResult(id, server.Id, target.Id, moved.Problem));
        }
        return results;
    }

    private async Task<Outcome<MoveResult>> MoveToAsync(TenantDatabase record, FleetServer target, Actor actor, CancellationToken ct)
    {
        var (stored, from) = (record.ServerId, EngineRegistry.ServerIdOf(record));
        if (target.Id == from) return ApiErrors.MoveRefused($"Database {record.Id} is already on {target.Id}.");
        if (target.Row.State != ServerState.Active)
            return ApiErrors.MoveRefused($"Server {target.Id} is {target.Row.State.WireName()}: it takes no databases.");
        if (!Placement.LoadOf(target.Row, await Placement.LoadsAsync(db, record.Engine, ct)).HasRoomFor(record.SizeBytes))
            return ApiErrors.MoveRefused($"Server {target.Id} has no room for database {record.Id} ({record.SizeBytes} bytes).");
        var source = engines.Get(record);
        if (source.Dumps is null || target.Adapter.Dumps is null)
            return ApiErrors.MoveRefused($"{record.Engine.DisplayName()} databases cannot be moved here: its dump tools are not available.");

        await using var held = await locks.TryTakeAsync(record.Id, ct);
        if (held is null) return ApiErrors.DatabaseBusy;
        // (1) The journal; a restore in its journal, a move already noted, or a deletion meanwhile: not now.
        if (await db.Databases.Where(d => d.Id == record.Id && d.Phase == DatabasePhase.Ready && d.ServerId == stored
                    && d.MoveToServerId == null && d.RestoreBackupId == null)
                .ExecuteUpdateAsync(s => s.SetProperty(d => d.MoveToServerId, target.Id), ct) != 1)
            return ApiErrors.DatabaseBusy;
        record = await db.Databases.AsNoTracking().SingleAsync(d => d.Id == record.Id, ct);
        logger.MoveStarted(record.Id, from, target.Id);

        // From here the move is finished or undone even if the caller goes away.
        var spec = DatabaseService.SpecOf(record, box);
        var applied = record.Status;
        var dumpFile = DumpFile(record.Id);
        try
        {
            // (2) Writes stop on the source (a locked or over-quota user writes nothing already).
            if (record.Status == DatabaseStatus.Active) await source.SetWritesBlockedAsync(spec, blocked: true, CancellationToken.None);
            await StepAsync("blocked");

            // (3) The copy, with the database's state as the record has it.
            await target.Adapter.CreateTenantAsync(spec, CancellationToken.None);
            Directory.CreateDirectory(Path.GetDirectoryName(dumpFile)!, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
            await using (var output = new FileStream(dumpFile, new FileStreamOptions { Mode = FileMode.Create, Access = FileAccess.Write, UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite }))
                await source.Dumps.DumpAsync(record.DbName, output, compressed: false, CancellationToken.None);
            await using (var input = File.OpenRead(dumpFile))
                await target.Adapter.Dumps.LoadAsync(spec, input, CancellationToken.None);
            await AccountEnforcer.ChangeStatusAsync(target.Adapter, spec, DatabaseStatus.Active, applied, CancellationToken.None);
            if (Cidrs.Load(record.AllowedCidrs) is { Count: > 0 } cidrs) await target.Adapter.SetAllowlistAsync(spec, cidrs, CancellationToken.None);
            await StepAsync("copied");
        }
        catch (Exception e) when (e is EngineUnavailableException or EngineCommandException)
        {
            logger.MoveFailed(record.Id, target.Id, e.Message);
            await RollBackAsync(record, target.Adapter, source);
            return ApiErrors.EngineUnavailable($"{record.Engine.DisplayName()} ({from} or {target.Id})",
                "The database was not moved: it is on its server as before, writes allowed again.");
        }
        finally
        {
            DeleteDumpFile(record.Id);
        }

        // (4) The switch: from now on every action goes to the target.
        if (await db.Databases.Where(d => d.Id == record.Id && d.MoveToServerId == target.Id && d.Phase == DatabasePhase.Ready)
                .ExecuteUpdateAsync(s => s.SetProperty(d => d.ServerId, target.Id).SetProperty(d => d.MoveToServerId, (string?)null), CancellationToken.None) != 1)
        {
            // Deleted meanwhile (its deletion dropped both copies, or the reconciler will).
            await RollBackAsync(record, target.Adapter, source);
            return ApiErrors.DatabaseNotFound;
        }
        db.Record(time, actor, record.AccountId, "database.moved", record.Id, $"{from} -> {target.Id}");
        await db.SaveChangesAsync(CancellationToken.None);
        await StepAsync("switched");

        // (5) The source copy goes; if this fails the reconciler drops it (it has no record on that server).
        try
        {
            await source.DropTenantAsync(record.DbName, record.DbUser, CancellationToken.None);
        }
        catch (Exception e) when (e is EngineUnavailableException or EngineCommandException)
        {
            logger.MoveSourceNotDropped(record.Id, from, e.Message);
        }

        // A password rotation or a status change that reached the source while the copy was made is repeated here. The
        // password goes through the rotation journal, so if the target does not take it now the reconciler (or the next
        // reveal) finishes it, and the stored password is never one the target refuses.
        var now = await db.Databases.AsNoTracking().FirstOrDefaultAsync(d => d.Id == record.Id, CancellationToken.None);
        if (now is not null)
        {
            try
            {
                if (now.PasswordSealed != record.PasswordSealed
                    && await db.Databases.Where(d => d.Id == now.Id && d.PendingPasswordSealed == null).ExecuteUpdateAsync(s => s
                        .SetProperty(d => d.PendingPasswordSealed, now.PasswordSealed).SetProperty(d => d.PendingSince, time.GetUtcNow().UtcDateTime), CancellationToken.None) == 1)
                    await databases.FinishRotationAsync(now, target.Adapter, now.PasswordSealed, CancellationToken.None);
            }
            catch (Exception e) when (e is EngineUnavailableException or EngineCommandException)
            {
                logger.MoveFailed(record.Id, target.Id, e.Message);
            }
            try
            {
                await AccountEnforcer.ChangeStatusAsync(target.Adapter, DatabaseService.SpecOf(now, box), applied, now.Status, CancellationToken.None);
            }
            catch (Exception e) when (e is EngineUnavailableException or EngineCommandException)
            {
                // The record's status is the state applied on the engine: it says what the target has, so the quota
                // watcher's next pass sees the difference and brings the database in line.
                logger.MoveFailed(record.Id, target.Id, e.Message);
                await db.Databases.Where(d => d.Id == now.Id && d.Status == now.Status).ExecuteUpdateAsync(s => s.SetProperty(d => d.Status, applied), CancellationToken.None);
            }
        }
        logger.MoveDone(record.Id, from, target.Id);
        Telemetry.DatabaseOperation(record.Engine.WireName(), "move", null);
        return new MoveResult(record.Id, from, target.Id, null);
    }

    /// <summary>For the reconciler: rolls back every move that no live operation holds any more (its process crashed).
    /// Returns how many.</summary>
    public async Task<int> RecoverAbandonedAsync(CancellationToken ct)
    {
        var rolledBack = 0;
        foreach (var id in await db.Databases.AsNoTracking().Where(d => d.MoveToServerId != null).Select(d => d.Id).ToListAsync(ct))
        {
            await using var held = await locks.TryTakeAsync(id, ct);
            if (held is null) continue;
            var record = await db.Databases.AsNoTracking().FirstOrDefaultAsync(d => d.Id == id && d.MoveToServerId != null, ct);
            if (record is null || engines.For(record) is not { } source || engines.Server(record.MoveToServerId!) is not { } target) continue;
            if (await RollBackAsync(record, target.Adapter, source)) rolledBack++;
        }
        return rolledBack;
    }

    /// <summary>Undoes a move that did not switch: the target copy goes, the source gets the state the record says (writes
    /// back unless over quota or suspended), and the journal is cleared. False when an engine step failed (the next
    /// reconciler pass tries again).</summary>
    private async Task<bool> RollBackAsync(TenantDatabase record, IEngineAdapter target, IEngineAdapter source)
    {
        try
        {
            await target.DropTenantAsync(record.DbName, record.DbUser, CancellationToken.None);
            var now = await db.Databases.AsNoTracking().FirstOrDefaultAsync(d => d.Id == record.Id, CancellationToken.None);
            if (now is { Phase: DatabasePhase.Ready, Status: DatabaseStatus.Active })
                await source.SetWritesBlockedAsync(DatabaseService.SpecOf(now, box), blocked: false, CancellationToken.None);
            await db.Databases.Where(d => d.Id == record.Id).ExecuteUpdateAsync(s => s.SetProperty(d => d.MoveToServerId, (string?)null), CancellationToken.None);
            DeleteDumpFile(record.Id);
            logger.MoveRolledBack(record.Id, record.MoveToServerId ?? "");
            return true;
        }
        catch (Exception e) when (e is EngineUnavailableException or EngineCommandException)
        {
            logger.MoveFailed(record.Id, record.MoveToServerId ?? "", e.Message);
            return false;
        }
    }

    /// <summary>Where a move keeps its copy between dump and load (0600, removed afterwards, or by the rollback of a move
    /// whose process died).</summary>
    private string DumpFile(string databaseId) => Path.Combine(hepdb.Value.ResolveDataDir(), "moves", $"{databaseId}.dump");

    /// <summary>Removes a move's copy file if there is one (its folder may not exist yet).</summary>
    private void DeleteDumpFile(string databaseId)
    {
        var file = DumpFile(databaseId);
        if (File.Exists(file)) File.Delete(file);
    }

    private static Task StepAsync(string step) => AfterStep?.Invoke(step) ?? Task.CompletedTask;
}
