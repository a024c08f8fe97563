using HepDb.Accounts;
using HepDb.Api;
using HepDb.Audit;
using HepDb.Data;
using HepDb.Hosting;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;

namespace HepDb.Quotas;

/// <summary>The one path that grants packs and changes tiers; both re-evaluate the account at once.</summary>
public sealed class PackService(HepDbContext db, AccountEnforcer enforcer, TimeProvider time, IOptions<PacksOptions> packs)
{
    /// <summary>Grants a catalogue pack. With an <paramref name="eventId"/> (payment webhook) a second delivery of the same
    /// event grants nothing and returns the first grant.</summary>
    public async Task<Outcome<PackGrant>> GrantAsync(string accountId, string packId, string source, string? eventId, Actor actor, CancellationToken ct)
    {
        var offer = packs.Value.Find(packId);
        if (offer is null) return ApiErrors.NoPack(packId);
        if (eventId is not null && await db.PackGrants.AsNoTracking().FirstOrDefaultAsync(p => p.EventId == eventId, ct) is { } earlier)
            return earlier;
        var now = time.GetUtcNow().UtcDateTime;
        var grant = new PackGrant
        {
            Id = Ulid.New(time), AccountId = accountId, PackId = offer.Id, Slots = offer.Slots, StorageMb = offer.StorageMb,
            GrantedAt = now, ExpiresAt = now.AddDays(offer.Days), Source = source, EventId = eventId,
        };
        db.PackGrants.Add(grant);
        db.Record(time, actor, accountId, "pack.granted", grant.Id, $"{offer.Id} via {source}");
        try
        {
            await db.SaveChangesAsync(ct);
        }
        catch (DbUpdateException) when (eventId is not null)
        {
            db.ChangeTracker.Clear(); // the same event delivered twice at once: the other delivery won
            return await db.PackGrants.AsNoTracking().SingleAsync(p => p.EventId == eventId, ct);
        }
        await enforcer.EnforceAsync(accountId, ct);
        return grant;
    }

    /// <summary>Moves the account to <paramref name="tier"/>; an unknown tier or account is refused and changes nothing.</summary>
    public async Task<Outcome<Account>> SetTierAsync(string accountId, string? tier, Actor actor, CancellationToken ct)
    {
        var parsed = AccountService.ValidateTier(tier);
        if (!parsed.Ok) return parsed.Problem!;
        var newTier = parsed.Value;
        var account = await db.Accounts.FirstOrDefaultAsync(a => a.Id == accountId, ct);
        if (account is null) return ApiErrors.NoAccount(accountId);
        if (account.Tier != newTier)
        {
            db.Record(time, actor, accountId, "account.tier_changed", accountId, $"{account.Tier.WireName()} → {tier}");
            account.Tier = newTier;
            await db.SaveChangesAsync(ct);
        }
        await enforcer.EnforceAsync(accountId, ct);
        return account;
    }
}
