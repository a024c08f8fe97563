using HepDb.ApiKeys;
using HepDb.Audit;
using HepDb.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;

namespace HepDb.Tests.Api;

/// <summary>MISSING_KEY, BAD_KEY, KEY_DISABLED: 401, the envelope, and a create that was refused changed nothing.</summary>
public abstract class AuthErrorTests(EngineServers engines, SharedApp shared)
{
    // Every test here runs twice, once per metadata provider, named by the class it runs in.
    public sealed class OnSqlite(EngineServers engines, SharedApp shared) : AuthErrorTests(engines.On(Metadata.Sqlite), shared), IClassFixture<SharedApp>;
    public sealed class OnPostgres(EngineServers engines, SharedApp shared) : AuthErrorTests(engines.On(Metadata.Postgres), shared), IClassFixture<SharedApp>;
    // Each test works as an account of its own and looks only at that account, so a class shares one app (SharedApp).

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("   ")]
    [InlineData("Bearer")]
    [InlineData("token  ")]
    public async Task No_header_or_an_empty_value_is_MISSING_KEY(string? authorization)
    {
        var app = shared.For(engines);
        var account = await app.CreateAccountAsync();
        var before = await Footprint.OfAsync(app, account);
        var client = app.CreateClient();

        foreach (var method in new[] { HttpMethod.Get, HttpMethod.Post })
        {
            var request = Requests.WithAuthorization(method, Paths.Databases, authorization, method == HttpMethod.Post ? Requests.CreateBody() : null);
            await Shape.FailureAsync(await client.SendAsync(request), 401, "MISSING_KEY");
        }
        Assert.Equal(before, await Footprint.OfAsync(app, account));
    }

    [Theory]
    [InlineData("hepgg_db_short")]
    [InlineData("not-a-key")]
    [InlineData("hepgg_db_0123456789abcdefghijABCDEFGHIJ!!")]
    [InlineData("hepgg_db_0123456789abcdefghijABCDEFGHIJKL")] // well-formed, 33 chars after the prefix
    [InlineData("Basic dXNlcjpwYXNz")]
    public async Task A_malformed_key_is_BAD_KEY(string authorization)
    {
        var app = shared.For(engines);
        var account = await app.CreateAccountAsync();
        var before = await Footprint.OfAsync(app, account);
        var response = await app.CreateClient().SendAsync(Requests.WithAuthorization(HttpMethod.Post, Paths.Databases, authorization, Requests.CreateBody()));
        await Shape.FailureAsync(response, 401, "BAD_KEY");
        Assert.Equal(before, await Footprint.OfAsync(app, account));
    }

    [Fact]
    public async Task An_unknown_well_formed_key_is_BAD_KEY_in_every_header_form()
    {
        var app = shared.For(engines);
        var account = await app.CreateAccountAsync();
        var before = await Footprint.OfAsync(app, account);
        var unknown = "hepgg_db_" + Security.Secrets.Generate(32);
        app.Remember(unknown);
        foreach (var header in new[] { $"Bearer {unknown}", $"Token {unknown}", unknown })
        {
            var response = await app.CreateClient().SendAsync(Requests.WithAuthorization(HttpMethod.Post, Paths.Databases, header, Requests.CreateBody()));
            await Shape.FailureAsync(response, 401, "BAD_KEY");
        }
        Assert.Equal(before, await Footprint.OfAsync(app, account));
    }

    [Fact]
    public async Task A_rotated_away_key_is_BAD_KEY_and_its_new_value_works()
    {
        var app = shared.For(engines);
        var account = await app.CreateAccountAsync();
        var keyId = await KeyIdAsync(app, account);
        var rotated = await WithKeysAsync(app, k => k.RotateAsync(account.Id, keyId, Actor.Operator, CancellationToken.None));
        Assert.True(rotated.Ok, rotated.Problem?.Message);
        app.Remember(rotated.Value!.Value);
        var before = await Footprint.OfAsync(app, account);

        await Shape.FailureAsync(await account.Api.PostAsync(Paths.Databases, Requests.Json(Requests.CreateBody())), 401, "BAD_KEY");
        await Shape.FailureAsync(await account.Api.GetAsync(Paths.Databases), 401, "BAD_KEY");
        Assert.Equal(before, await Footprint.OfAsync(app, account));

        Assert.True((await app.ApiClient(rotated.Value.Value).GetAsync(Paths.Databases)).IsSuccessStatusCode);
    }

    [Fact]
    public async Task A_deleted_key_is_BAD_KEY()
    {
        var app = shared.For(engines);
        var account = await app.CreateAccountAsync();
        var keyId = await KeyIdAsync(app, account);
        var deleted = await WithKeysAsync(app, k => k.DeleteAsync(account.Id, keyId, Actor.Operator, CancellationToken.None));
        Assert.True(deleted.Ok, deleted.Problem?.Message);
        var before = await Footprint.OfAsync(app, account);

        await Shape.FailureAsync(await account.Api.PostAsync(Paths.Databases, Requests.Json(Requests.CreateBody())), 401, "BAD_KEY");
        Assert.Equal(before, await Footprint.OfAsync(app, account));
    }

    [Fact]
    public async Task A_disabled_key_is_KEY_DISABLED_and_works_again_when_enabled()
    {
        var app = shared.For(engines);
        var account = await app.CreateAccountAsync();
        var keyId = await KeyIdAsync(app, account);
        var disabled = await WithKeysAsync(app, k => k.DisableAsync(account.Id, keyId, Actor.Operator, CancellationToken.None));
        Assert.True(disabled.Ok, disabled.Problem?.Message);
        var before = await Footprint.OfAsync(app, account);

        await Shape.FailureAsync(await account.Api.PostAsync(Paths.Databases, Requests.Json(Requests.CreateBody())), 401, "KEY_DISABLED");
        await Shape.FailureAsync(await account.Api.GetAsync(Paths.Databases), 401, "KEY_DISABLED");
        await Shape.FailureAsync(await app.ApiClient(account.Key, "Token").GetAsync(Paths.Databases), 401, "KEY_DISABLED");
        Assert.Equal(before, await Footprint.OfAsync(app, account));

        var enabled = await WithKeysAsync(app, k => k.EnableAsync(account.Id, keyId, Actor.Operator, CancellationToken.None));
        Assert.True(enabled.Ok, enabled.Problem?.Message);
        Assert.True((await account.Api.GetAsync(Paths.Databases)).IsSuccessStatusCode);
    }

    [Fact]
    public async Task Authentication_comes_before_routing_and_body_checks()
    {
        var app = shared.For(engines);
        var client = app.CreateClient();
        // A missing key on a bad body, an unknown id and an unknown route under the API is still MISSING_KEY.
        await Shape.FailureAsync(await client.SendAsync(Requests.Post(Paths.Databases, "[not json", "text/plain")), 401, "MISSING_KEY");
        await Shape.FailureAsync(await client.GetAsync(Paths.Database("01JUNKNOWNUNKNOWNUNKNOWN00")), 401, "MISSING_KEY");
        await Shape.FailureAsync(await client.PostAsync(Paths.Rotate("01JUNKNOWNUNKNOWNUNKNOWN00"), null), 401, "MISSING_KEY");
    }

    private static async Task<string> KeyIdAsync(HepDbApp app, TestAccount account)
    {
        var keys = await WithKeysAsync(app, k => k.ListAsync(account.Id, CancellationToken.None));
        return Assert.Single(keys).Id;
    }

    private static async Task<T> WithKeysAsync<T>(HepDbApp app, Func<ApiKeyService, Task<T>> work)
    {
        await using var scope = app.Services.CreateAsyncScope();
        return await work(scope.ServiceProvider.GetRequiredService<ApiKeyService>());
    }
}
