using HepDb.Api;
using HepDb.Audit;
using HepDb.Data;
using HepDb.Hosting;
using HepDb.Quotas;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;

namespace HepDb.Accounts;

public sealed class AccountService(HepDbContext db, TimeProvider time, IOptions<TiersOptions> tiers)
{
    /// <summary>The one email rule (sign-up, the operator tool): 1-254 characters with an '@' that has something on
    /// both sides.</summary>
    public static Problem? ValidateEmail(string? email)
    {
        var trimmed = email?.Trim() ?? "";
        var at = trimmed.IndexOf('@', StringComparison.Ordinal);
        return trimmed.Length is 0 or > 254 || at <= 0 || at == trimmed.Length - 1 ? ApiErrors.InvalidEmail : null;
    }

    /// <summary>The tier a request names (<c>free</c>, <c>premium</c>, <c>admin</c>), or INVALID_TIER.</summary>
    public static Outcome<Tier> ValidateTier(string? tier) => Tiers.TryParse(tier, out var parsed) ? parsed : ApiErrors.InvalidTier(tier);

    /// <summary>Creates an account; a bad email or tier, or an email already taken, is refused and nothing is stored.</summary>
    public async Task<Outcome<Account>> CreateAsync(string? email, string? tier, Actor actor, CancellationToken ct)
    {
        if (ValidateEmail(email) is { } problem) return problem;
        var parsed = ValidateTier(tier);
        if (!parsed.Ok) return parsed.Problem!;
        var normalized = email!.Trim().ToLowerInvariant();
        if (await db.Accounts.AnyAsync(a => a.Email == normalized, ct)) return ApiErrors.EmailTaken(normalized);
        var account = new Account { Id = Ulid.New(time), Email = normalized, Tier = parsed.Value, CreatedAt = time.GetUtcNow().UtcDateTime };
        db.Accounts.Add(account);
        db.Record(time, actor, account.Id, "account.created", account.Id, $"tier={tier}");
        await db.SaveChangesAsync(ct);
        return account;
    }

    /// <summary>Finds an account by id or email (for operator commands).</summary>
    public Task<Account?> FindAsync(string idOrEmail, CancellationToken ct)
    {
        var lower = idOrEmail.Trim().ToLowerInvariant();
        return db.Accounts.FirstOrDefaultAsync(a => a.Id == idOrEmail.Trim() || a.Email == lower, ct);
    }

    /// <summary><see cref="FindAsync"/>, refusing with NOT_FOUND when there is no such account.</summary>
    public async Task<Outcome<Account>> GetAsync(string idOrEmail, CancellationToken ct) =>
        await FindAsync(idOrEmail, ct) is { } account ? account : ApiErrors.NoAccount(idOrEmail.Trim());

    /// <summary>Effective limits: tier base plus unexpired packs.</summary>
    public Task<EffectiveLimits> LimitsAsync(Account account, CancellationToken ct) => LimitsAsync(db, tiers.Value, time, account, ct);

    /// <summary>The one place effective limits are computed from the store (also used inside the slot-reserving transaction).</summary>
    public static async Task<EffectiveLimits> LimitsAsync(HepDbContext db, TiersOptions tiers, TimeProvider time, Account account, CancellationToken ct)
    {
        var now = time.GetUtcNow().UtcDateTime;
        var packs = await db.PackGrants.AsNoTracking().Where(p => p.AccountId == account.Id && p.ExpiresAt > now).ToListAsync(ct);
        return EffectiveLimits.Compute(tiers.For(account.Tier), packs, now);
    }

    /// <summary>Unexpired packs of the account, soonest expiry first.</summary>
    public Task<List<PackGrant>> ActivePacksAsync(string accountId, CancellationToken ct)
    {
        var now = time.GetUtcNow().UtcDateTime;
        return db.PackGrants.AsNoTracking().Where(p => p.AccountId == accountId && p.ExpiresAt > now).OrderBy(p => p.ExpiresAt).ToListAsync(ct);
    }

    /// <summary>Database slots taken: every record of the account, whatever its phase, exactly as the limit check in
    /// <c>DatabaseService</c> counts them (a database being provisioned or deleted still holds its slot).</summary>
    public Task<int> SlotsUsedAsync(string accountId, CancellationToken ct) =>
        db.Databases.CountAsync(d => d.AccountId == accountId, ct);

    /// <summary>Storage used: the sum of the last measured sizes of all the account's databases.</summary>
    public Task<long> UsedBytesAsync(string accountId, CancellationToken ct) =>
        db.Databases.Where(d => d.AccountId == accountId).SumAsync(d => d.SizeBytes, ct);
}
