using HepDb.Api;
using HepDb.Audit;
using HepDb.Data;
using HepDb.Databases;
using HepDb.Engines;
using Microsoft.EntityFrameworkCore;

namespace HepDb.Backups;

/// <summary>The recovery window: a deleted database's final backup restored into a new database, in a free slot.</summary>
public sealed class DeletedDatabases(HepDbContext db, DatabaseService databases, BackupService backups, TimeProvider time, ILogger<DeletedDatabases> logger)
{
    /// <summary>Creates a database like the deleted one (same label and engine, the next free slot, a new password) and
    /// restores the final backup into it. If the restore fails, the new database is removed again.</summary>
    public async Task<Outcome<TenantDatabase>> RecoverAsync(string accountId, string backupId, Actor actor, CancellationToken ct)
    {
        var final = (await backups.RecoverableAsync(accountId, ct)).FirstOrDefault(b => b.Id == backupId);
        if (final is null) return ApiErrors.BackupNotFound;
        var created = await databases.CreateAsync(accountId, final.DatabaseName, final.Engine.WireName(), actor, idempotencyKey: null, ct);
        if (!created.Ok) return created.Problem!;
        var record = await db.Databases.AsNoTracking().SingleAsync(d => d.Id == created.Value!.Database.Id, ct);
        var restored = await backups.RestoreIntoAsync(record, final, actor, ct);
        if (!restored.Ok)
        {
            await databases.FinishDeleteAsync(record, CancellationToken.None);
            return restored.Problem!;
        }
        // Offered once: the final backup stays (until its window ends) but is no longer listed as recoverable.
        await db.Backups.Where(b => b.Id == final.Id).ExecuteUpdateAsync(s => s.SetProperty(b => b.RecoveredInto, record.Id), CancellationToken.None);
        db.Record(time, actor, accountId, "database.recovered", record.Id, final.Id);
        await db.SaveChangesAsync(CancellationToken.None);
        logger.Recovered(final.DbName, final.Id, record.DbName);
        return restored.Value!;
    }
}
