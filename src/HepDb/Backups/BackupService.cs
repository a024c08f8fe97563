using System.Diagnostics;
using System.IO.Compression;
using System.IO.Pipelines;
using System.Security.Cryptography;
using HepDb.Accounts;
using HepDb.Api;
using HepDb.Audit;
using HepDb.Data;
using HepDb.Databases;
using HepDb.Engines;
using HepDb.Hosting;
using HepDb.Quotas;
using HepDb.Security;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;

namespace HepDb.Backups;

/// <summary>Backups: where they are kept, how often, and for how long.</summary>
public sealed class BackupsOptions
{
    public const string Section = "Backups";

    /// <summary>The folder backups are kept in. Default <c>{DataDir}/backups</c>.</summary>
    public string? Folder { get; set; }

    /// <summary>Whether every database gets its daily automatic backup. Default true.</summary>
    public bool Scheduled { get; set; } = true;

    /// <summary>How often the backup scheduler looks for due backups, expired ones and interrupted work. Default 1 minute.</summary>
    public TimeSpan Interval { get; set; } = TimeSpan.FromMinutes(1);

    /// <summary>How long a deleted database's final backup is kept and can be restored from the dashboard. Default 7 days;
    /// zero turns final backups off.</summary>
    public TimeSpan RecoveryWindow { get; set; } = TimeSpan.FromDays(7);

    public string ResolveFolder(string dataDir) => string.IsNullOrWhiteSpace(Folder) ? Path.Combine(dataDir, "backups") : Path.GetFullPath(Folder);
}

/// <summary>A finished import: the database as it is now, and how much SQL ran (a .sql.gz counted uncompressed).</summary>
public sealed record Imported(TenantDatabase Database, long SqlBytes);

/// <summary>An open download: the record and its dump, decrypted as it is read.</summary>
public sealed record BackupDownload(Backup Backup, Stream Content)
{
    public string ContentType => Backup.Engine == EngineKind.Postgres ? "application/octet-stream" : "application/gzip";
}

/// <summary>
/// The one path for every backup and restore, shared by the API, the dashboard, the operator tool and the scheduler.
/// <para><b>Backup</b>: the engine's dump tool writes into gzip (plain SQL only; <c>pg_dump -Fc</c> is compressed
/// already), then <see cref="SealedStream"/> (AES-256-GCM with the keyring's active key), then the store, which makes the
/// object visible only when it is complete. The record is <c>running</c> meanwhile and never listed; one that a crash
/// cut short is marked failed by <see cref="RecoverAsync"/>.</para>
/// <para><b>Restore</b> is journaled on the database record so that a crash at any point ends in the previous contents or
/// the restored ones, never a mix: the tenant's user is locked (sessions ended, so nothing writes meanwhile), the current
/// contents are saved as a <c>safety</c> backup, the journal records it, then the database is recreated empty and the
/// chosen backup loaded. If that load fails, the safety backup is loaded instead. The user is unlocked only once one of
/// them is fully in place; a restore cut short is finished the same way by the scheduler.</para>
/// </summary>
public sealed class BackupService(
    HepDbContext db, EngineRegistry engines, SecretBox box, IBackupStore store, DatabaseLocks locks, TimeProvider time,
    IOptions<TiersOptions> tiers, IOptions<BackupsOptions> options, AccountEnforcer enforcer, ILogger<BackupService> logger)
{
    /// <summary>Complete and failed backups of one of the account's databases, newest first (never running or safety ones).</summary>
    public async Task<Outcome<List<Backup>>> ListAsync(string accountId, string databaseId, CancellationToken ct)
    {
        if (await FindReadyAsync(accountId, databaseId, ct) is null) return ApiErrors.DatabaseNotFound;
        return await Listed(db.Backups.AsNoTracking().Where(b => b.DatabaseId == databaseId)).ToListAsync(ct);
    }

    /// <summary>The listed backups (as <see cref="ListAsync"/>) of every database of the account, by database id, in one
    /// query: for a page that shows them all.</summary>
    public async Task<ILookup<string, Backup>> ListByDatabaseAsync(string accountId, CancellationToken ct) =>
        (await Listed(db.Backups.AsNoTracking().Where(b => b.AccountId == accountId)).ToListAsync(ct)).ToLookup(b => b.DatabaseId);

    /// <summary>Final backups of the account's deleted databases that can still be restored (the recovery window).</summary>
    public Task<List<Backup>> RecoverableAsync(string accountId, CancellationToken ct)
    {
        var now = time.GetUtcNow().UtcDateTime;
        return db.Backups.AsNoTracking()
            .Where(b => b.AccountId == accountId && b.Kind == BackupKind.Final && b.Status == BackupStatus.Complete && b.ExpiresAt > now
                        && b.RecoveredInto == null && !db.Databases.Any(d => d.Id == b.DatabaseId))
            .OrderByDescending(b => b.CreatedAt).ToListAsync(ct);
    }

    public static IQueryable<Backup> Listed(IQueryable<Backup> backups) =>
        backups.Where(b => b.Kind != BackupKind.Safety && b.Status != BackupStatus.Running).OrderByDescending(b => b.CreatedAt).ThenByDescending(b => b.Id);

    /// <summary>A backup the tenant asked for: limited per database per UTC day by the tier.</summary>
    public async Task<Outcome<Backup>> CreateAsync(string accountId, string databaseId, Actor actor, CancellationToken ct)
    {
        var record = await FindReadyAsync(accountId, databaseId, ct);
        if (record is null) return ApiErrors.DatabaseNotFound;
        var account = await db.Accounts.AsNoTracking().SingleAsync(a => a.Id == accountId, ct);
        if (account.SuspendedAt is not null) return ApiErrors.AccountSuspended;
        if (Dumps(record) is null) return ApiErrors.BackupsUnavailable(record.Engine.DisplayName());
        await using var held = await TakeIdleAsync(record.Id, ct);
        if (held is null) return ApiErrors.DatabaseBusy;
        var perDay = tiers.Value.For(account.Tier).ManualBackupsPerDay;
        var today = time.GetUtcNow().UtcDateTime.Date;
        // Only the tenant's own count: an operator's backups (hepdb-admin backup run) do not use up its allowance.
        if (await db.Backups.CountAsync(b => b.DatabaseId == record.Id && b.Kind == BackupKind.Manual && b.Status != BackupStatus.Failed && b.CreatedAt >= today
                                             && !b.RequestedBy.StartsWith("operator"), ct) >= perDay)
            return ApiErrors.BackupLimit(perDay);
        return await DumpAsync(record, BackupKind.Manual, held.Holder, actor, expiresAt: null);
    }

    /// <summary>A backup taken by HepDb itself (the daily one, or an operator's). Takes the database's lock.</summary>
    public async Task<Outcome<Backup>> RunAsync(TenantDatabase record, BackupKind kind, Actor actor, CancellationToken ct)
    {
        if (Dumps(record) is null) return ApiErrors.BackupsUnavailable(record.Engine.DisplayName());
        await using var held = await TakeIdleAsync(record.Id, ct);
        if (held is null) return ApiErrors.DatabaseBusy;
        return await DumpAsync(record, kind, held.Holder, actor, expiresAt: null);
    }

    /// <summary>Before a database is deleted: the final backup the recovery window restores from. Null when it was taken,
    /// or when there is nothing to take (no window configured, or no dump tools for the engine); otherwise why the
    /// deletion must not go on.</summary>
    public async Task<Problem?> TakeFinalAsync(TenantDatabase record, Actor actor, CancellationToken ct)
    {
        var window = options.Value.RecoveryWindow;
        if (window <= TimeSpan.Zero || Dumps(record) is null) return null;
        await using var held = await TakeIdleAsync(record.Id, ct);
        if (held is null) return ApiErrors.DatabaseBusy;
        var final = await DumpAsync(record, BackupKind.Final, held.Holder, actor, time.GetUtcNow().UtcDateTime + window);
        return final.Ok ? null : ApiErrors.FinalBackupFailed(record.Engine.DisplayName());
    }

    /// <summary>Opens a backup of one of the account's databases for download (audited). Refused while suspended.</summary>
    [System.Diagnostics.CodeAnalysis.SuppressMessage("Reliability", "CA2000", Justification = "The stream is the caller's to dispose (the endpoint's stream result does).")]
    public async Task<Outcome<BackupDownload>> OpenDownloadAsync(string accountId, string databaseId, string backupId, Actor actor, CancellationToken ct)
    {
        var backup = await FindCompleteAsync(accountId, databaseId, backupId, ct);
        if (backup is null) return ApiErrors.BackupNotFound;
        if (await db.Accounts.AnyAsync(a => a.Id == accountId && a.SuspendedAt != null, ct)) return ApiErrors.AccountSuspended;
        var stored = await store.OpenReadAsync(backup.ObjectName, ct);
        if (stored is null)
        {
            logger.BackupFileMissing(backup.Id);
            return ApiErrors.BackupNotFound;
        }
        db.Record(time, actor, accountId, "backup.downloaded", databaseId, backup.Id);
        await db.SaveChangesAsync(ct);
        return new BackupDownload(backup, SealedStream.Decrypt(stored, box, backup.Id));
    }

    /// <summary>Restores one of the database's own backups into it (see the type's summary for the scheme).</summary>
    public async Task<Outcome<TenantDatabase>> RestoreAsync(string accountId, string databaseId, string backupId, Actor actor, CancellationToken ct)
    {
        var record = await FindReadyAsync(accountId, databaseId, ct);
        if (record is null) return ApiErrors.DatabaseNotFound;
        var backup = await FindCompleteAsync(accountId, databaseId, backupId, ct);
        if (backup is null) return ApiErrors.BackupNotFound;
        return await RestoreIntoAsync(record, backup, actor, ct);
    }

    /// <summary>Restores <paramref name="backup"/> (of this database, or a final backup of a deleted one of the same
    /// engine) into <paramref name="record"/>.</summary>
    internal async Task<Outcome<TenantDatabase>> RestoreIntoAsync(TenantDatabase record, Backup backup, Actor actor, CancellationToken ct)
    {
        if (await db.Accounts.AnyAsync(a => a.Id == record.AccountId && a.SuspendedAt != null, ct)) return ApiErrors.AccountSuspended;
        if (backup.Engine != record.Engine || Dumps(record) is null) return ApiErrors.BackupsUnavailable(record.Engine.DisplayName());
        await using var held = await locks.TryTakeAsync(record.Id, ct);
        if (held is null) return ApiErrors.DatabaseBusy;
        if (await db.Databases.Where(d => d.Id == record.Id && d.RestoreBackupId == null)
                .ExecuteUpdateAsync(s => s.SetProperty(d => d.RestoreBackupId, backup.Id).SetProperty(d => d.RestoreSafetyId, (string?)null), ct) != 1)
            return ApiErrors.DatabaseBusy;
        record.RestoreBackupId = backup.Id;
        // From here the work is finished or undone even if the client goes away.
        var adapter = engines.Get(record);
        var spec = DatabaseService.SpecOf(record, box);
        try
        {
            await adapter.LockAsync(spec, CancellationToken.None);
        }
        catch (Exception e) when (e is EngineUnavailableException or EngineCommandException)
        {
            await FinishRestoreAsync(record, safetyId: null, CancellationToken.None);
            return e is EngineUnavailableException ? ApiErrors.EngineUnavailable(adapter.Kind.DisplayName(), ApiErrors.Unavailable.Restore) : ApiErrors.RestoreFailed;
        }
        var safety = await DumpAsync(record, BackupKind.Safety, held.Holder, actor, expiresAt: null);
        if (!safety.Ok)
        {
            await FinishRestoreAsync(record, safetyId: null, CancellationToken.None);
            return safety.Problem!.Error == ErrorCode.EngineUnavailable ? safety.Problem : ApiErrors.RestoreFailed;
        }
        await db.Databases.Where(d => d.Id == record.Id).ExecuteUpdateAsync(s => s.SetProperty(d => d.RestoreSafetyId, safety.Value!.Id), CancellationToken.None);
        record.RestoreSafetyId = safety.Value!.Id;
        var restored = await ReplaceOrPutBackAsync(record, backup, safety.Value, CancellationToken.None);
        if (restored is null) return ApiErrors.RestoreFailed; // still locked, journal kept: the scheduler retries
        await FinishRestoreAsync(record, safety.Value.Id, CancellationToken.None);
        if (!restored.Value) return ApiErrors.RestoreFailed;
        db.Record(time, actor, record.AccountId, "backup.restored", record.Id, backup.Id);
        await db.SaveChangesAsync(CancellationToken.None);
        logger.Restored(backup.Id, record.DbName);
        return await db.Databases.AsNoTracking().SingleAsync(d => d.Id == record.Id, CancellationToken.None);
    }

    /// <summary>
    /// Imports a dump the tenant brought into one of its databases, adding to what is there: plain SQL (<c>.sql</c>, or
    /// gzip-compressed <c>.sql.gz</c>) on either engine, or a <c>pg_dump</c> custom archive on PostgreSQL. It runs as the
    /// tenant's own user. Refused before anything runs when its SQL is larger than the account's free storage; measured
    /// afterwards too, and if the database then holds more than the account may, or the import fails, the contents before
    /// it (a safety backup, journaled like a restore's) are put back. Either way nothing of a refused import stays.
    /// </summary>
    public async Task<Outcome<Imported>> ImportAsync(string accountId, string databaseId, Stream upload, Actor actor, CancellationToken ct)
    {
        var record = await FindReadyAsync(accountId, databaseId, ct);
        if (record is null) return ApiErrors.DatabaseNotFound;
        var account = await db.Accounts.AsNoTracking().SingleAsync(a => a.Id == accountId, ct);
        if (account.SuspendedAt is not null) return ApiErrors.AccountSuspended;
        var dumps = Dumps(record);
        if (dumps is null) return ApiErrors.BackupsUnavailable(record.Engine.DisplayName());
        await using var held = await locks.TryTakeAsync(record.Id, ct);
        if (held is null) return ApiErrors.DatabaseBusy;

        await using var spooled = await ImportFile.SpoolAsync(upload, ct);
        if (spooled.Format == DumpFormat.PostgresCustom && record.Engine != EngineKind.Postgres)
            return ApiErrors.ImportFailed("A pg_dump custom archive can only be imported into a PostgreSQL database; send plain SQL (.sql or .sql.gz).");
        var limit = (await AccountService.LimitsAsync(db, tiers.Value, time, account, ct)).StorageBytes;
        var used = await db.Databases.Where(d => d.AccountId == accountId).SumAsync(d => d.SizeBytes, ct);
        if (used >= limit) return ApiErrors.StorageQuota(used, limit);
        if (spooled.SqlBytes > limit - used) return ApiErrors.ImportTooLarge(spooled.SqlBytes, limit - used);

        var safety = await DumpAsync(record, BackupKind.Safety, held.Holder, actor, expiresAt: null);
        if (!safety.Ok) return safety.Problem!;
        // Journaled as a restore of the safety copy: a crash during the import puts the contents before it back.
        if (await db.Databases.Where(d => d.Id == record.Id && d.RestoreBackupId == null)
                .ExecuteUpdateAsync(s => s.SetProperty(d => d.RestoreBackupId, safety.Value!.Id).SetProperty(d => d.RestoreSafetyId, safety.Value!.Id), CancellationToken.None) != 1)
        {
            await DeleteAsync(safety.Value!, CancellationToken.None);
            return ApiErrors.DatabaseBusy;
        }
        var spec = DatabaseService.SpecOf(record, box);
        Problem? refusal = null;
        try
        {
            await using var sql = spooled.OpenSql();
            await dumps.ImportAsync(spec, sql, spooled.Format, CancellationToken.None);
            var sizes = await engines.Get(record).MeasureSizesAsync([record.DbName], CancellationToken.None);
            var after = used - record.SizeBytes + sizes.Bytes.GetValueOrDefault(record.DbName);
            if (after > limit) refusal = ApiErrors.ImportTooLarge(after - used + record.SizeBytes, limit - used);
        }
        catch (EngineCommandException e)
        {
            refusal = ApiErrors.ImportFailed($"The import stopped at an error and was undone: {Truncate(e.Message, 600)}");
        }
        catch (EngineUnavailableException)
        {
            refusal = ApiErrors.EngineUnavailable(record.Engine.DisplayName(), ApiErrors.Unavailable.Restore);
        }
        if (refusal is not null)
        {
            var adapter = engines.Get(record);
            try
            {
                await adapter.LockAsync(spec, CancellationToken.None);
            }
            catch (Exception e) when (e is EngineUnavailableException or EngineCommandException)
            {
                logger.EngineFailed(record.Engine, e.Message); // the scheduler finishes putting it back
                return refusal;
            }
            if (await ReplaceOrPutBackAsync(record, safety.Value!, safety.Value!, CancellationToken.None) is null) return refusal;
        }
        await FinishRestoreAsync(record, safety.Value!.Id, CancellationToken.None);
        if (refusal is not null) return refusal;
        db.Record(time, actor, accountId, "database.imported", record.Id, $"{spooled.SqlBytes} bytes of SQL");
        await db.SaveChangesAsync(CancellationToken.None);
        return new Imported(await db.Databases.AsNoTracking().SingleAsync(d => d.Id == record.Id, CancellationToken.None), spooled.SqlBytes);
    }

    /// <summary>Finishes what a crash cut short, for work whose holder is gone: running backups become failed (their
    /// partial object removed), journaled restores are completed, safety backups no restore needs are removed. Returns how
    /// many it repaired.</summary>
    public async Task<int> RecoverAsync(CancellationToken ct)
    {
        var repaired = 0;
        foreach (var backup in await db.Backups.Where(b => b.Status == BackupStatus.Running).ToListAsync(ct))
        {
            if (await locks.IsHeldAsync(db, backup.DatabaseId, ct)) continue;
            logger.BackupInterrupted(backup.Id, backup.DbName);
            await store.DeleteAsync(backup.ObjectName, ct);
            backup.Status = BackupStatus.Failed;
            backup.Error = "Interrupted: the HepDb instance running it stopped.";
            backup.Holder = null;
            await db.SaveChangesAsync(ct);
            repaired++;
        }
        foreach (var record in await db.Databases.AsNoTracking().Where(d => d.RestoreBackupId != null).ToListAsync(ct))
        {
            await using var held = await locks.TryTakeAsync(record.Id, ct);
            if (held is null) continue;
            logger.ResumingRestore(record.DbName);
            var target = await db.Backups.AsNoTracking().FirstOrDefaultAsync(b => b.Id == record.RestoreBackupId, ct);
            var safety = record.RestoreSafetyId is null ? null : await db.Backups.AsNoTracking().FirstOrDefaultAsync(b => b.Id == record.RestoreSafetyId, ct);
            // Without a stored safety backup the database was not touched yet: only the lock is undone.
            if (safety is not null && await ReplaceOrPutBackAsync(record, target ?? safety, safety, ct) is null) continue;
            await FinishRestoreAsync(record, record.RestoreSafetyId, ct);
            repaired++;
        }
        var needed = await db.Databases.Where(d => d.RestoreSafetyId != null).Select(d => d.RestoreSafetyId).ToListAsync(ct);
        foreach (var orphan in await db.Backups.Where(b => b.Kind == BackupKind.Safety && b.Status != BackupStatus.Running && !needed.Contains(b.Id)).ToListAsync(ct))
        {
            // A restore or import that is running stores its safety copy before its journal names it: not an orphan.
            if (await locks.IsHeldAsync(db, orphan.DatabaseId, ct)) continue;
            await DeleteAsync(orphan, ct);
            repaired++;
        }
        return repaired;
    }

    /// <summary>Removes what is past its time: scheduled and manual backups older than the account's tier keeps them,
    /// those of databases that no longer exist, and final backups whose recovery window has ended.</summary>
    public async Task<int> PurgeAsync(CancellationToken ct)
    {
        var now = time.GetUtcNow().UtcDateTime;
        var purged = 0;
        foreach (var tier in Tiers.All)
        {
            var cutoff = now - TimeSpan.FromDays(tiers.Value.For(tier).BackupRetentionDays);
            var expired = await db.Backups
                .Where(b => (b.Kind == BackupKind.Scheduled || b.Kind == BackupKind.Manual) && b.Status != BackupStatus.Running && b.CreatedAt < cutoff
                            && db.Accounts.Any(a => a.Id == b.AccountId && a.Tier == tier))
                .ToListAsync(ct);
            foreach (var backup in expired) { await DeleteAsync(backup, ct); purged++; }
        }
        var gone = await db.Backups
            .Where(b => ((b.Kind == BackupKind.Scheduled || b.Kind == BackupKind.Manual) && b.Status != BackupStatus.Running && !db.Databases.Any(d => d.Id == b.DatabaseId))
                        || (b.Kind == BackupKind.Final && b.ExpiresAt < now))
            .ToListAsync(ct);
        foreach (var backup in gone) { await DeleteAsync(backup, ct); purged++; }
        return purged;
    }

    /// <summary>The databases whose daily backup is due now: each has its own time of day (spread by its
    /// id), and is due once that time has passed since its last scheduled backup. A database gets its first one at its
    /// first time of day after it was created; a failed attempt is retried after an hour.</summary>
    public async Task<List<TenantDatabase>> DueAsync(CancellationToken ct)
    {
        var now = time.GetUtcNow().UtcDateTime;
        var candidates = await db.Databases.AsNoTracking().Where(d => d.Phase == DatabasePhase.Ready && d.RestoreBackupId == null && d.CreatedAt < now.AddMinutes(-1)).ToListAsync(ct);
        var since = now.AddDays(-1).AddHours(-1);
        var recent = await db.Backups.AsNoTracking().Where(b => b.Kind == BackupKind.Scheduled && b.CreatedAt >= since)
            .Select(b => new { b.DatabaseId, b.CreatedAt, b.Status }).ToListAsync(ct);
        var byDatabase = recent.ToLookup(b => b.DatabaseId);
        return candidates.Where(d =>
        {
            var slot = LastSlot(d.Id, now);
            if (d.CreatedAt >= slot) return false;
            var attempts = byDatabase[d.Id].Where(b => b.CreatedAt >= slot).ToList();
            return attempts.All(b => b.Status == BackupStatus.Failed && b.CreatedAt < now.AddHours(-1));
        }).ToList();
    }

    /// <summary>The most recent time of day at or before <paramref name="now"/> at which the database's daily backup falls.</summary>
    public static DateTime LastSlot(string databaseId, DateTime now)
    {
        var offset = TimeSpan.FromSeconds(BitConverter.ToUInt32(SHA256.HashData(System.Text.Encoding.ASCII.GetBytes(databaseId))) % 86_400);
        var slot = now.Date + offset;
        return slot <= now ? slot : slot.AddDays(-1);
    }

    /// <summary>Removes a backup's object, then its record.</summary>
    public async Task DeleteAsync(Backup backup, CancellationToken ct)
    {
        await store.DeleteAsync(backup.ObjectName, ct);
        await db.Backups.Where(b => b.Id == backup.Id).ExecuteDeleteAsync(ct);
    }

    private IEngineDumps? Dumps(Databases.TenantDatabase record) => engines.For(record)?.Dumps;

    /// <summary>The database's lock, when no other operation holds it and no restore or import is in its journal (one
    /// cut short waits for the scheduler to finish it: a dump meanwhile would keep half-restored contents).</summary>
    private async Task<DatabaseLocks.Held?> TakeIdleAsync(string databaseId, CancellationToken ct)
    {
        var held = await locks.TryTakeAsync(databaseId, ct);
        if (held is null || !await db.Databases.AnyAsync(d => d.Id == databaseId && d.RestoreBackupId != null, ct)) return held;
        await held.DisposeAsync();
        return null;
    }

    private Task<TenantDatabase?> FindReadyAsync(string accountId, string id, CancellationToken ct) =>
        db.Databases.AsNoTracking().FirstOrDefaultAsync(d => d.Id == id && d.AccountId == accountId && d.Phase == DatabasePhase.Ready, ct);

    private Task<Backup?> FindCompleteAsync(string accountId, string databaseId, string backupId, CancellationToken ct) =>
        db.Backups.AsNoTracking().FirstOrDefaultAsync(b => b.Id == backupId && b.AccountId == accountId && b.DatabaseId == databaseId
                                                           && b.Status == BackupStatus.Complete && b.Kind != BackupKind.Safety, ct);

    /// <summary>Dumps the database into a new backup while the caller holds its lock. The record is <c>running</c> until
    /// the object is complete in the store; a failure leaves a <c>failed</c> record and no object.</summary>
    private async Task<Outcome<Backup>> DumpAsync(TenantDatabase record, BackupKind kind, string holder, Actor actor, DateTime? expiresAt)
    {
        var dumps = Dumps(record)!;
        var now = time.GetUtcNow().UtcDateTime;
        var backup = new Backup
        {
            Id = Ulid.New(time), AccountId = record.AccountId, DatabaseId = record.Id, Engine = record.Engine, DbName = record.DbName,
            DatabaseName = record.Name, Kind = kind, CreatedAt = now, Holder = holder, ExpiresAt = expiresAt, KeyId = box.ActiveKeyId,
            RequestedBy = actor.Id,
        };
        db.Backups.Add(backup);
        await db.SaveChangesAsync(CancellationToken.None);
        var watch = Stopwatch.StartNew();
        var unreachable = false;
        try
        {
            // Not cancelled by a client going away: a backup is finished or failed, never left running.
            await using (var upload = await store.BeginAsync(backup.ObjectName, CancellationToken.None))
            {
                using var stored = new CountingStream(upload.Stream);
                // A safety copy lives minutes: not compressed, so a restore or import waits less for it.
                var dumped = await WriteDumpAsync(dumps, record.DbName, stored, backup.Id, compressed: kind != BackupKind.Safety);
                await upload.CommitAsync(CancellationToken.None);
                backup.SizeBytes = stored.Count;
                backup.DumpBytes = dumped.Bytes;
                backup.EngineVersion = dumped.Info.EngineVersion;
            }
            backup.Status = BackupStatus.Complete;
        }
        catch (Exception e) when (e is EngineUnavailableException or EngineCommandException or IOException or CryptographicException)
        {
            backup.Status = BackupStatus.Failed;
            backup.Error = Truncate(e.Message, 1000);
            unreachable = e is EngineUnavailableException;
            logger.BackupFailed(backup.Id, kind, record.DbName, e.Message);
        }
        backup.CompletedAt = time.GetUtcNow().UtcDateTime;
        backup.DurationMs = watch.ElapsedMilliseconds;
        Telemetry.Backup(record.Engine, kind.WireName(), backup.Status == BackupStatus.Complete);
        backup.Holder = null;
        if (backup.Status == BackupStatus.Complete && kind is BackupKind.Manual or BackupKind.Final)
            db.Record(time, actor, record.AccountId, kind == BackupKind.Final ? "backup.final" : "backup.created", record.Id, backup.Id);
        await db.SaveChangesAsync(CancellationToken.None);
        if (backup.Status == BackupStatus.Failed)
            return unreachable
                ? ApiErrors.EngineUnavailable(record.Engine.DisplayName(), ApiErrors.Unavailable.Backup)
                : ApiErrors.BackupFailed;
        logger.BackupTaken(backup.Id, kind, record.DbName, backup.SizeBytes, backup.DurationMs);
        return backup;
    }

    /// <summary>The dump tool's output, gzip-compressed when it is plain SQL, encrypted into <paramref name="destination"/>.
    /// The tool writes into a pipe of up to 16 MB that another task compresses, encrypts and stores, so the dump and the
    /// work on its output run side by side instead of the tool waiting on every buffer (a 64 KB OS pipe otherwise).</summary>
    private async Task<(DumpInfo Info, long Bytes)> WriteDumpAsync(IEngineDumps dumps, string dbName, Stream destination, string backupId, bool compressed)
    {
        var pipe = new Pipe(new PipeOptions(pauseWriterThreshold: 16 << 20, resumeWriterThreshold: 8 << 20, minimumSegmentSize: 1 << 16, useSynchronizationContext: false));
        var store = Task.Run(async () =>
        {
            try
            {
                await using var source = pipe.Reader.AsStream();
                await using var encrypted = SealedStream.Encrypt(destination, box, backupId, leaveOpen: true);
                if (dumps.Format != DumpFormat.PlainSql)
                {
                    await source.CopyToAsync(encrypted, 1 << 20);
                    return;
                }
                await using var gzip = new GZipStream(encrypted, compressed ? CompressionLevel.Fastest : CompressionLevel.NoCompression, leaveOpen: true);
                await source.CopyToAsync(gzip, 1 << 20);
            }
            catch (Exception e)
            {
                await pipe.Reader.CompleteAsync(e); // the tool's writes then end at once
                throw;
            }
        });
        DumpInfo info;
        long bytes;
        try
        {
            await using var writer = pipe.Writer.AsStream(leaveOpen: true);
            using var counted = new CountingStream(writer);
            info = await dumps.DumpAsync(dbName, counted, compressed, CancellationToken.None);
            bytes = counted.Count;
        }
        catch (Exception e)
        {
            await pipe.Writer.CompleteAsync(e);
            try { await store; } catch (Exception storing) when (storing is IOException or CryptographicException or InvalidOperationException) { /* the dump's own failure is the one to report */ }
            throw;
        }
        await pipe.Writer.CompleteAsync();
        await store;
        return (info, bytes);
    }

    /// <summary>Recreates the database and loads <paramref name="backup"/>; if that fails, recreates it and loads
    /// <paramref name="safety"/>. True: restored; false: put back as before; null: neither could be loaded (the user stays
    /// locked and the journal kept, for the scheduler to retry).</summary>
    private async Task<bool?> ReplaceOrPutBackAsync(TenantDatabase record, Backup backup, Backup safety, CancellationToken ct)
    {
        try
        {
            await ReplaceAsync(record, backup, ct);
            return true;
        }
        catch (Exception e) when (e is EngineUnavailableException or EngineCommandException or IOException or CryptographicException or InvalidDataException)
        {
            logger.RestoreFailed(backup.Id, record.DbName, e.Message);
        }
        try
        {
            await ReplaceAsync(record, safety, ct);
            return false;
        }
        catch (Exception e) when (e is EngineUnavailableException or EngineCommandException or IOException or CryptographicException or InvalidDataException)
        {
            logger.RollbackFailed(record.DbName, e.Message);
            return null;
        }
    }

    private async Task ReplaceAsync(TenantDatabase record, Backup backup, CancellationToken ct)
    {
        var dumps = Dumps(record) ?? throw new EngineUnavailableException(record.Engine, "no dump tools");
        var spec = DatabaseService.SpecOf(record, box);
        await using var stored = await store.OpenReadAsync(backup.ObjectName, ct) ?? throw new IOException($"Backup {backup.Id} is missing from the store.");
        await dumps.RecreateDatabaseAsync(spec, ct);
        await using var plain = SealedStream.Decrypt(stored, box, backup.Id);
        await using var dump = dumps.Format == DumpFormat.PlainSql ? new GZipStream(plain, CompressionMode.Decompress) : plain;
        await dumps.LoadAsync(spec, dump, ct);
    }

    /// <summary>Ends a restore once the contents are settled (restored, put back, or never touched). The journal first
    /// drops the safety backup (so a retry only unlocks), then the user is unlocked as its status says (unless the
    /// account was suspended meanwhile), the journal cleared, the new size measured and the account brought in line. If
    /// the unlock fails the journal stays, the user stays locked and the scheduler retries.</summary>
    private async Task FinishRestoreAsync(TenantDatabase record, string? safetyId, CancellationToken ct)
    {
        await db.Databases.Where(d => d.Id == record.Id).ExecuteUpdateAsync(s => s.SetProperty(d => d.RestoreSafetyId, (string?)null), ct);
        if (safetyId is not null && await db.Backups.AsNoTracking().FirstOrDefaultAsync(b => b.Id == safetyId, ct) is { } safety)
            await DeleteAsync(safety, ct);
        var adapter = engines.Get(record);
        var current = await db.Databases.AsNoTracking().SingleAsync(d => d.Id == record.Id, ct);
        var suspended = await db.Accounts.AnyAsync(a => a.Id == record.AccountId && a.SuspendedAt != null, ct);
        try
        {
            if (!suspended && current.Status != DatabaseStatus.Disabled)
                await adapter.UnlockAsync(DatabaseService.SpecOf(current, box), writesBlocked: current.Status == DatabaseStatus.OverQuota, ct);
        }
        catch (Exception e) when (e is EngineUnavailableException or EngineCommandException)
        {
            logger.EngineFailed(record.Engine, e.Message);
            return;
        }
        await db.Databases.Where(d => d.Id == record.Id).ExecuteUpdateAsync(s => s.SetProperty(d => d.RestoreBackupId, (string?)null), ct);
        try
        {
            var sizes = await adapter.MeasureSizesAsync([record.DbName], ct);
            if (sizes.Bytes.TryGetValue(record.DbName, out var bytes))
                await db.Databases.Where(d => d.Id == record.Id).ExecuteUpdateAsync(s => s.SetProperty(d => d.SizeBytes, bytes)
                    .SetProperty(d => d.SizeRefreshedAt, time.GetUtcNow().UtcDateTime), ct);
        }
        catch (Exception e) when (e is EngineUnavailableException or EngineCommandException)
        {
            logger.EngineFailed(record.Engine, e.Message); // the quota watcher measures it on its next pass
        }
        await enforcer.EnforceAsync(record.AccountId, ct);
    }

    private static string Truncate(string s, int max) => s.Length <= max ? s : s[..max];
}
