using HepDb.Accounts;
using HepDb.Api;
using HepDb.Audit;
using HepDb.Quotas;
using HepDb.Tests.Infrastructure;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;

namespace HepDb.Tests.Operator;

/// <summary>The services the operator tool and the admin area share refuse bad input with a catalog problem (never an
/// exception) and leave the store as it was.</summary>
public sealed class ServiceRefusalTests(EngineServers engines)
{
    private static readonly CancellationToken Ct = CancellationToken.None;

    [Fact]
    public async Task Creating_an_account_with_a_bad_email_an_unknown_tier_or_a_taken_email_is_refused_and_stores_nothing()
    {
        await using var app = new HepDbApp(engines);
        await using var scope = app.Services.CreateAsyncScope();
        var accounts = scope.ServiceProvider.GetRequiredService<AccountService>();
        var email = $"{Guid.NewGuid():N}@refusals.test";
        var before = await app.WithDbAsync(d => d.Accounts.CountAsync());
        var auditBefore = await app.WithDbAsync(d => d.AuditLog.CountAsync(a => a.Action == "account.created"));

        Assert.Equal(ApiErrors.InvalidEmail, (await accounts.CreateAsync("not-an-email", Tier.Free.WireName(), Actor.Operator, Ct)).Problem);
        Assert.Equal(ApiErrors.InvalidEmail, (await accounts.CreateAsync("  ", Tier.Free.WireName(), Actor.Operator, Ct)).Problem);
        Assert.Equal(ErrorCode.InvalidTier, (await accounts.CreateAsync(email, "gold", Actor.Operator, Ct)).Problem?.Error);
        Assert.Equal(before, await app.WithDbAsync(d => d.Accounts.CountAsync()));

        var created = await accounts.CreateAsync(email, Tier.Free.WireName(), Actor.Operator, Ct);
        Assert.True(created.Ok, created.Problem?.Message);
        var taken = await accounts.CreateAsync(email.ToUpperInvariant(), Tier.Premium.WireName(), Actor.Operator, Ct);
        Assert.Equal("EMAIL_TAKEN", taken.Problem?.Code);
        Assert.Contains("already exists", taken.Problem!.Message, StringComparison.Ordinal);
        Assert.Equal(before + 1, await app.WithDbAsync(d => d.Accounts.CountAsync()));
        Assert.Equal(auditBefore + 1, await app.WithDbAsync(d => d.AuditLog.CountAsync(a => a.Action == "account.created")));
    }

    [Fact]
    public async Task Suspending_or_lifting_without_a_reason_or_for_no_account_is_refused_and_changes_nothing()
    {
        await using var app = new HepDbApp(engines);
        var account = await app.CreateAccountAsync();
        await using var scope = app.Services.CreateAsyncScope();
        var suspension = scope.ServiceProvider.GetRequiredService<Suspension>();

        foreach (var blank in new[] { null, "", "   " })
            Assert.Equal(ApiErrors.SuspensionNeedsReason, (await suspension.SuspendAsync(account.Id, blank, Actor.Operator, Ct)).Problem);
        Assert.Equal("NOT_FOUND", (await suspension.SuspendAsync("01NOSUCHACCOUNT00000000000", "abuse", Actor.Operator, Ct)).Problem?.Code);
        Assert.Null(await app.WithDbAsync(d => d.Accounts.Where(a => a.Id == account.Id).Select(a => a.SuspendedAt).SingleAsync()));
        Assert.Equal(0, await app.WithDbAsync(d => d.ApiKeys.CountAsync(k => k.AccountId == account.Id && k.SuspendedAt != null)));
        await ApiAssert.OkAsync(await account.Api.GetAsync("/api/v1/db/databases")); // the key still works

        Assert.True((await suspension.SuspendAsync(account.Id, "abuse", Actor.Operator, Ct)).Ok);
        Assert.Equal(ApiErrors.LiftNeedsReason, (await suspension.LiftAsync(account.Id, " ", Actor.Operator, Ct)).Problem);
        Assert.Equal("NOT_FOUND", (await suspension.LiftAsync("01NOSUCHACCOUNT00000000000", "ok", Actor.Operator, Ct)).Problem?.Code);
        Assert.NotNull(await app.WithDbAsync(d => d.Accounts.Where(a => a.Id == account.Id).Select(a => a.SuspendedAt).SingleAsync()));
        Assert.Equal(0, await app.WithDbAsync(d => d.AuditLog.CountAsync(a => a.AccountId == account.Id && a.Action == "account.unsuspended")));
    }

    [Fact]
    public async Task Setting_an_unknown_tier_or_on_no_account_is_refused_and_changes_nothing()
    {
        await using var app = new HepDbApp(engines);
        var account = await app.CreateAccountAsync(Tier.Premium);
        await using var scope = app.Services.CreateAsyncScope();
        var packs = scope.ServiceProvider.GetRequiredService<PackService>();

        foreach (var tier in new[] { "gold", "", null, "Admin" })
            Assert.Equal(ErrorCode.InvalidTier, (await packs.SetTierAsync(account.Id, tier, Actor.Operator, Ct)).Problem?.Error);
        Assert.Equal("NOT_FOUND", (await packs.SetTierAsync("01NOSUCHACCOUNT00000000000", Tier.Free.WireName(), Actor.Operator, Ct)).Problem?.Code);
        Assert.Equal(Tier.Premium, await app.WithDbAsync(d => d.Accounts.Where(a => a.Id == account.Id).Select(a => a.Tier).SingleAsync()));
        Assert.Equal(0, await app.WithDbAsync(d => d.AuditLog.CountAsync(a => a.AccountId == account.Id && a.Action == "account.tier_changed")));

        var set = await packs.SetTierAsync(account.Id, Tier.Free.WireName(), Actor.Operator, Ct);
        Assert.Equal(Tier.Free, set.Value?.Tier);
    }
}
