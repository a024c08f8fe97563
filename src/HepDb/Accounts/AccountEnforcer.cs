using HepDb.Data;
using HepDb.Databases;
using HepDb.Engines;
using HepDb.Quotas;
using HepDb.Security;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;

namespace HepDb.Accounts;

/// <summary>What one account's databases should be, from its suspension, storage use and limits.</summary>
public sealed record AccountVerdict(DatabaseStatus DesiredStatus, int ConnectionLimit, long UsedBytes, long LimitBytes)
{
    /// <summary>Pure: suspended → disabled; used storage over the limit → over_quota; otherwise active.</summary>
    public static AccountVerdict Decide(bool suspended, long usedBytes, EffectiveLimits limits) => new(
        suspended ? DatabaseStatus.Disabled : usedBytes > limits.StorageBytes ? DatabaseStatus.OverQuota : DatabaseStatus.Active,
        limits.ConnectionsPerUser, usedBytes, limits.StorageBytes);
}

/// <summary>
/// Brings every database of an account to the state the account calls for. A database's <see cref="TenantDatabase.Status"/>
/// is the state applied on its engine and is written only after the engine change succeeded, so a crash at any point
/// leaves a difference the next pass repairs: every engine step is idempotent. This is the one path for over-quota
/// enforcement, the suspension cascade and connection limits following the tier.
/// </summary>
public sealed class AccountEnforcer(
    HepDbContext db, EngineRegistry engines, SecretBox box, TimeProvider time, IOptions<TiersOptions> tiers,
    ILogger<AccountEnforcer> logger)
{
    /// <summary>Fault-injection point for tests: called after each database is brought into line; an exception thrown
    /// here ends the pass like a crash would.</summary>
    internal static Action<TenantDatabase>? AfterEachDatabase;

    public async Task<AccountVerdict> VerdictAsync(Account account, CancellationToken ct)
    {
        var limits = await AccountService.LimitsAsync(db, tiers.Value, time, account, ct);
        var used = await db.Databases.Where(d => d.AccountId == account.Id).SumAsync(d => d.SizeBytes, ct);
        return AccountVerdict.Decide(account.SuspendedAt is not null, used, limits);
    }

    /// <summary>Applies the verdict to every ready database of the account. Returns the engine errors (one failing
    /// engine does not stop the others; they are retried on the next pass).</summary>
    public async Task<IReadOnlyList<string>> EnforceAsync(string accountId, CancellationToken ct)
    {
        var account = await db.Accounts.AsNoTracking().SingleAsync(a => a.Id == accountId, ct);
        var verdict = await VerdictAsync(account, ct);
        var errors = new List<string>();
        // A database being restored is left alone: its user is locked until the restore is done, which then enforces again.
        var databases = await db.Databases.Where(d => d.AccountId == accountId && d.Phase == DatabasePhase.Ready && d.RestoreBackupId == null).OrderBy(d => d.CreatedAt).ToListAsync(ct);
        foreach (var database in databases)
        {
            if (database.Status == verdict.DesiredStatus && database.ConnectionLimit == verdict.ConnectionLimit) continue;
            try
            {
                await ApplyAsync(database, verdict, ct);
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                // Recorded and retried on the next pass; one database or engine never stops the others.
                errors.Add($"{database.DbName}: {e.Message}");
                logger.DatabaseNotBroughtInLine(database.DbName, verdict.DesiredStatus.WireName(), e.Message);
            }
            AfterEachDatabase?.Invoke(database);
        }
        return errors;
    }

    private async Task ApplyAsync(TenantDatabase database, AccountVerdict verdict, CancellationToken ct)
    {
        var engine = engines.Get(database);
        var spec = new TenantSpec(database.DbName, database.DbUser, box.Decrypt(database.PasswordSealed, database.Id), verdict.ConnectionLimit);
        var (from, to) = (database.Status, verdict.DesiredStatus);
        await ChangeStatusAsync(engine, spec, from, to, ct);
        // Limits change on locked users too, so an unsuspended account comes back with its current tier's limit.
        if (database.ConnectionLimit != verdict.ConnectionLimit) await engine.SetConnectionLimitAsync(spec, ct);
        database.Status = to;
        database.ConnectionLimit = verdict.ConnectionLimit;
        await db.SaveChangesAsync(ct);
        if (logger.IsEnabled(LogLevel.Information))
            logger.DatabaseBroughtInLine(database.DbName, from.WireName(), to.WireName(), verdict.ConnectionLimit);
    }

    /// <summary>The engine steps from one database status to another (none when they are equal): lock for
    /// <c>disabled</c>, unlock from it, otherwise block or restore writes.</summary>
    internal static async Task ChangeStatusAsync(IEngineAdapter engine, TenantSpec spec, DatabaseStatus from, DatabaseStatus to, CancellationToken ct)
    {
        if (from == to) return;
        if (to == DatabaseStatus.Disabled) await engine.LockAsync(spec, ct);
        else if (from == DatabaseStatus.Disabled) await engine.UnlockAsync(spec, writesBlocked: to == DatabaseStatus.OverQuota, ct);
        else await engine.SetWritesBlockedAsync(spec, blocked: to == DatabaseStatus.OverQuota, ct);
    }
}
