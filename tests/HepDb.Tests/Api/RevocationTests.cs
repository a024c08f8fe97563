using System.Diagnostics;
using System.Net;
using HepDb.Accounts;
using HepDb.ApiKeys;
using HepDb.Audit;
using HepDb.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;

namespace HepDb.Tests.Api;

/// <summary>
/// Authentication keeps verdicts for a moment (the fast path), but never at the cost of revocation: a disabled,
/// rotated, deleted or suspended key is refused at once on the replica that made the change and within a second on
/// every other replica sharing the metadata store.
/// </summary>
public sealed class RevocationTests(EngineServers engines)
{
    public static TheoryData<string> Changes => ["disabled", "rotated", "deleted", "suspended"];

    [Theory]
    [MemberData(nameof(Changes))]
    public async Task A_revoked_key_is_refused_at_once_on_its_replica_and_within_a_second_on_the_other(string change)
    {
        var settings = await engines.ReplicaSettingsAsync();
        await using var first = new HepDbApp(engines, settings);
        await using var second = new HepDbApp(engines, settings);
        var account = await first.CreateAccountAsync();
        var viaSecond = second.ApiClient(account.Key);
        // Both replicas have just authenticated the key, so each holds a fresh verdict that says it is good.
        for (var i = 0; i < 3; i++)
        {
            Assert.Equal(HttpStatusCode.OK, (await account.Api.GetAsync(Paths.Databases)).StatusCode);
            Assert.Equal(HttpStatusCode.OK, (await viaSecond.GetAsync(Paths.Databases)).StatusCode);
        }

        var code = await RevokeAsync(first, account, change);
        var revokedAt = Stopwatch.StartNew();
        await Shape.FailureAsync(await account.Api.GetAsync(Paths.Databases), 401, code);

        HttpResponseMessage answer;
        while ((answer = await viaSecond.GetAsync(Paths.Databases)).StatusCode == HttpStatusCode.OK)
        {
            Assert.True(revokedAt.Elapsed < TimeSpan.FromSeconds(1), $"the other replica still accepted the {change} key after {revokedAt.ElapsedMilliseconds} ms");
            await Task.Delay(20);
        }
        Assert.True(revokedAt.Elapsed < TimeSpan.FromSeconds(1), $"the other replica refused the {change} key only after {revokedAt.ElapsedMilliseconds} ms");
        await Shape.FailureAsync(answer, 401, code);
    }

    /// <summary>Makes the change through the services the dashboard and the operator tool use; returns the code a
    /// request with the key then gets.</summary>
    private static async Task<string> RevokeAsync(HepDbApp app, TestAccount account, string change)
    {
        await using var scope = app.Services.CreateAsyncScope();
        var keys = scope.ServiceProvider.GetRequiredService<ApiKeyService>();
        var keyId = (await keys.ListAsync(account.Id, CancellationToken.None)).Single().Id;
        switch (change)
        {
            case "disabled":
                Assert.True((await keys.DisableAsync(account.Id, keyId, Actor.Operator, CancellationToken.None)).Ok);
                return "KEY_DISABLED";
            case "rotated":
                Assert.True((await keys.RotateAsync(account.Id, keyId, Actor.Operator, CancellationToken.None)).Ok);
                return "BAD_KEY";
            case "deleted":
                Assert.True((await keys.DeleteAsync(account.Id, keyId, Actor.Operator, CancellationToken.None)).Ok);
                return "BAD_KEY";
            default:
                Assert.True((await scope.ServiceProvider.GetRequiredService<Suspension>().SuspendAsync(account.Id, "revocation test", Actor.Operator, CancellationToken.None)).Ok);
                return "KEY_DISABLED";
        }
    }
}
