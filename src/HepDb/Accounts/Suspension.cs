using HepDb.Api;
using HepDb.Audit;
using HepDb.Data;
using Microsoft.EntityFrameworkCore;

namespace HepDb.Accounts;

/// <summary>
/// The suspension cascade (SPEC §5). Suspending records the intent and disables every key in one transaction (keys
/// carry their own <c>SuspendedAt</c>, separate from the owner's <c>DisabledAt</c>, so authentication never needs the
/// account); the <see cref="AccountEnforcer"/> then locks every engine user and ends its sessions. Lifting clears both
/// in one transaction, so keys the owner had disabled stay disabled, and the enforcer brings each database back to
/// active or over_quota as its storage says. Both directions are idempotent, and a crash half-way is repaired by the
/// next enforcement pass (at start and on every quota watcher run). Both return the engine steps that failed (retried by
/// the quota watcher); a blank reason or an unknown account is refused before anything changes.
/// </summary>
public sealed class Suspension(HepDbContext db, AccountEnforcer enforcer, TimeProvider time)
{
    public async Task<Outcome<IReadOnlyList<string>>> SuspendAsync(string accountId, string? reason, Actor actor, CancellationToken ct)
    {
        if (Reason(reason) is not { } why) return ApiErrors.SuspensionNeedsReason;
        var now = time.GetUtcNow().UtcDateTime;
        await using (var tx = await db.Database.BeginTransactionAsync(ct))
        {
            var account = await db.Accounts.FirstOrDefaultAsync(a => a.Id == accountId, ct);
            if (account is null) return ApiErrors.NoAccount(accountId);
            if (account.SuspendedAt is null)
            {
                account.SuspendedAt = now;
                account.SuspendReason = why;
                db.Record(time, actor, accountId, "account.suspended", accountId, account.SuspendReason);
                await db.SaveChangesAsync(ct);
            }
            await db.ApiKeys.Where(k => k.AccountId == accountId && k.SuspendedAt == null).ExecuteUpdateAsync(s => s.SetProperty(k => k.SuspendedAt, now), ct);
            await tx.CommitAsync(ct);
        }
        return Done(await enforcer.EnforceAsync(accountId, ct));
    }

    /// <summary>Lifting takes a reason too (SPEC §6), kept in the <c>account.unsuspended</c> audit entry.</summary>
    public async Task<Outcome<IReadOnlyList<string>>> LiftAsync(string accountId, string? reason, Actor actor, CancellationToken ct)
    {
        if (Reason(reason) is not { } why) return ApiErrors.LiftNeedsReason;
        await using (var tx = await db.Database.BeginTransactionAsync(ct))
        {
            var account = await db.Accounts.FirstOrDefaultAsync(a => a.Id == accountId, ct);
            if (account is null) return ApiErrors.NoAccount(accountId);
            if (account.SuspendedAt is not null)
            {
                account.SuspendedAt = null;
                account.SuspendReason = null;
                db.Record(time, actor, accountId, "account.unsuspended", accountId, why);
                await db.SaveChangesAsync(ct);
            }
            await db.ApiKeys.Where(k => k.AccountId == accountId && k.SuspendedAt != null).ExecuteUpdateAsync(s => s.SetProperty(k => k.SuspendedAt, (DateTime?)null), ct);
            await tx.CommitAsync(ct);
        }
        return Done(await enforcer.EnforceAsync(accountId, ct));
    }

    /// <summary>The trimmed reason, at most 500 characters; null when it is blank.</summary>
    public static string? Reason(string? reason)
    {
        reason = reason?.Trim() ?? "";
        if (reason.Length == 0) return null;
        return reason.Length > 500 ? reason[..500] : reason;
    }

    private static Outcome<IReadOnlyList<string>> Done(IReadOnlyList<string> engineErrors) => new(engineErrors, null);
}
