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
/// next enforcement pass (at start and on every quota watcher run).
/// </summary>
public sealed class Suspension(HepDbContext db, AccountEnforcer enforcer, TimeProvider time)
{
    public async Task<IReadOnlyList<string>> SuspendAsync(string accountId, string reason, Actor actor, CancellationToken ct)
    {
        reason = Reason(reason, "A suspension needs a reason.");
        var now = time.GetUtcNow().UtcDateTime;
        await using (var tx = await db.Database.BeginTransactionAsync(ct))
        {
            var account = await db.Accounts.SingleAsync(a => a.Id == accountId, ct);
            if (account.SuspendedAt is null)
            {
                account.SuspendedAt = now;
                account.SuspendReason = reason;
                db.Record(time, actor, accountId, "account.suspended", accountId, account.SuspendReason);
                await db.SaveChangesAsync(ct);
            }
            await db.ApiKeys.Where(k => k.AccountId == accountId && k.SuspendedAt == null).ExecuteUpdateAsync(s => s.SetProperty(k => k.SuspendedAt, now), ct);
            await tx.CommitAsync(ct);
        }
        return await enforcer.EnforceAsync(accountId, ct);
    }

    /// <summary>Lifting takes a reason too (SPEC §6), kept in the <c>account.unsuspended</c> audit entry. A blank reason is
    /// refused before anything changes.</summary>
    public async Task<IReadOnlyList<string>> LiftAsync(string accountId, string reason, Actor actor, CancellationToken ct)
    {
        reason = Reason(reason, "Lifting a suspension needs a reason.");
        await using (var tx = await db.Database.BeginTransactionAsync(ct))
        {
            var account = await db.Accounts.SingleAsync(a => a.Id == accountId, ct);
            if (account.SuspendedAt is not null)
            {
                account.SuspendedAt = null;
                account.SuspendReason = null;
                db.Record(time, actor, accountId, "account.unsuspended", accountId, reason);
                await db.SaveChangesAsync(ct);
            }
            await db.ApiKeys.Where(k => k.AccountId == accountId && k.SuspendedAt != null).ExecuteUpdateAsync(s => s.SetProperty(k => k.SuspendedAt, (DateTime?)null), ct);
            await tx.CommitAsync(ct);
        }
        return await enforcer.EnforceAsync(accountId, ct);
    }

    /// <summary>The trimmed reason, at most 500 characters; a blank one is refused (the CLI and the admin area show the message).</summary>
    private static string Reason(string? reason, string refusal)
    {
        reason = reason?.Trim() ?? "";
        if (reason.Length == 0) throw new ArgumentException(refusal, nameof(reason));
        return reason.Length > 500 ? reason[..500] : reason;
    }
}
