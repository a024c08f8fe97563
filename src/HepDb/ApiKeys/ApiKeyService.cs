using System.Text.RegularExpressions;
using HepDb.Accounts;
using HepDb.Api;
using HepDb.Audit;
using HepDb.Data;
using HepDb.Hosting;
using HepDb.Quotas;
using HepDb.Security;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;

namespace HepDb.ApiKeys;

/// <summary>A freshly minted or rotated key: the only moment its value exists outside the caller's hands.</summary>
public sealed record MintedKey(ApiKey Record, string Value);

/// <summary>The one path for key lifecycle (dashboard and operator tool); <see cref="ApiKeyAuthenticator"/> checks keys.</summary>
public sealed partial class ApiKeyService(HepDbContext db, TimeProvider time, IOptions<TiersOptions> tiers)
{
    public const string Prefix = "hepgg_db_";

    [GeneratedRegex("^hepgg_db_[A-Za-z0-9]{32}$")]
    private static partial Regex WellFormed();

    public static bool IsWellFormed(string key) => WellFormed().IsMatch(key);

    /// <summary>Keys carry ~190 bits of entropy, so an unsalted SHA-256 is the right hash: it cannot be brute-forced and
    /// lets a key be found by an index lookup.</summary>
    public static string Hash(string key) => Secrets.Sha256Hex(key);

    /// <summary>The active-key limit holds under parallel mints and re-enables, also across replicas: the check and the
    /// insert share a transaction that first takes the account's write lock (as a database reservation does).</summary>
    public async Task<Outcome<MintedKey>> MintAsync(string accountId, string? label, Actor actor, CancellationToken ct)
    {
        await using var tx = await db.Database.BeginTransactionAsync(ct);
        var account = await LockAccountAsync(accountId, ct) ?? throw new InvalidOperationException($"No account {accountId}.");
        if (account.SuspendedAt is not null) return ApiErrors.AccountSuspended;
        if (await ActiveKeyLimitProblemAsync(account, ct) is { } problem) return problem;
        var value = NewValue();
        var key = new ApiKey
        {
            Id = Ulid.New(time),
            AccountId = accountId,
            Label = NormalizeLabel(label),
            Prefix = value[..13],
            Hash = Hash(value),
            CreatedAt = time.GetUtcNow().UtcDateTime,
        };
        db.ApiKeys.Add(key);
        db.Record(time, actor, accountId, "key.minted", key.Id, key.Label);
        await db.SaveChangesAsync(ct);
        await tx.CommitAsync(ct);
        return new MintedKey(key, value);
    }

    /// <summary>New value for the same record; the old value stops authenticating at once.</summary>
    public async Task<Outcome<MintedKey>> RotateAsync(string accountId, string keyId, Actor actor, CancellationToken ct)
    {
        var (key, problem) = await FindForChangeAsync(accountId, keyId, ct);
        if (problem is not null) return problem;
        var value = NewValue();
        key!.Prefix = value[..13];
        key.Hash = Hash(value);
        db.Record(time, actor, accountId, "key.rotated", key.Id);
        await db.SaveChangesAsync(ct);
        return new MintedKey(key, value);
    }

    public async Task<Outcome<ApiKey>> DisableAsync(string accountId, string keyId, Actor actor, CancellationToken ct)
    {
        var (key, problem) = await FindForChangeAsync(accountId, keyId, ct);
        if (problem is not null) return problem;
        if (key!.DisabledAt is null)
        {
            key.DisabledAt = time.GetUtcNow().UtcDateTime;
            db.Record(time, actor, accountId, "key.disabled", key.Id);
            await db.SaveChangesAsync(ct);
        }
        return key;
    }

    public async Task<Outcome<ApiKey>> EnableAsync(string accountId, string keyId, Actor actor, CancellationToken ct)
    {
        // The same account lock as minting, taken before the key is read, so parallel re-enables count each other.
        await using var tx = await db.Database.BeginTransactionAsync(ct);
        if (await LockAccountAsync(accountId, ct) is not { } account) return ApiErrors.NotFound;
        var (key, problem) = await FindForChangeAsync(accountId, keyId, ct);
        if (problem is not null) return problem;
        if (key!.DisabledAt is not null)
        {
            if (await ActiveKeyLimitProblemAsync(account, ct) is { } limit) return limit;
            key.DisabledAt = null;
            db.Record(time, actor, accountId, "key.enabled", key.Id);
            await db.SaveChangesAsync(ct);
            await tx.CommitAsync(ct);
        }
        return key;
    }

    public async Task<Outcome<ApiKey>> DeleteAsync(string accountId, string keyId, Actor actor, CancellationToken ct)
    {
        var (key, problem) = await FindForChangeAsync(accountId, keyId, ct);
        if (problem is not null) return problem;
        db.ApiKeys.Remove(key!);
        db.Record(time, actor, accountId, "key.deleted", key!.Id, key.Label);
        await db.SaveChangesAsync(ct);
        return key;
    }

    public Task<List<ApiKey>> ListAsync(string accountId, CancellationToken ct) =>
        db.ApiKeys.AsNoTracking().Where(k => k.AccountId == accountId).OrderBy(k => k.CreatedAt).ThenBy(k => k.Id).ToListAsync(ct);

    private async Task<(ApiKey?, Problem?)> FindForChangeAsync(string accountId, string keyId, CancellationToken ct)
    {
        var key = await db.ApiKeys.FirstOrDefaultAsync(k => k.Id == keyId && k.AccountId == accountId, ct);
        if (key is null) return (null, ApiErrors.NotFound);
        var suspended = await db.Accounts.AnyAsync(a => a.Id == accountId && a.SuspendedAt != null, ct);
        return suspended ? (null, ApiErrors.AccountSuspended) : (key, null);
    }

    /// <summary>Bumps the account's <see cref="Account.Revision"/> inside the caller's transaction: the update takes the
    /// account's write lock on both providers (SQLite: the database write lock; PostgreSQL: the row lock), so a count
    /// made after it and the insert that follows are atomic per account.</summary>
    private async Task<Account?> LockAccountAsync(string accountId, CancellationToken ct)
    {
        await db.Accounts.Where(a => a.Id == accountId).ExecuteUpdateAsync(s => s.SetProperty(a => a.Revision, a => a.Revision + 1), ct);
        return await db.Accounts.AsNoTracking().SingleOrDefaultAsync(a => a.Id == accountId, ct);
    }

    private async Task<Problem?> ActiveKeyLimitProblemAsync(Account account, CancellationToken ct)
    {
        var limit = tiers.Value.For(account.Tier).ActiveKeys;
        var active = await db.ApiKeys.CountAsync(k => k.AccountId == account.Id && k.DisabledAt == null && k.SuspendedAt == null, ct);
        return active >= limit ? ApiErrors.KeyLimit(limit) : null;
    }

    private static string NewValue() => Prefix + Secrets.Generate(32);

    private static string? NormalizeLabel(string? label)
    {
        var trimmed = label?.Trim();
        if (string.IsNullOrEmpty(trimmed)) return null;
        trimmed = new string(trimmed.Where(c => !char.IsControl(c)).ToArray());
        return trimmed.Length > 100 ? trimmed[..100] : trimmed;
    }
}
