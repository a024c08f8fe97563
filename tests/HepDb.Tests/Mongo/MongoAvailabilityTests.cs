using System.Net.Http.Json;
using HepDb.Tests.Infrastructure;
using Microsoft.EntityFrameworkCore;

namespace HepDb.Tests.Mongo;

/// <summary>How the API answers for MongoDB when there is no server (this machine) or when the configured one is down.</summary>
public sealed class MongoAvailabilityTests(EngineServers engines)
{
    [Fact]
    public async Task Without_a_configured_server_mongo_is_ENGINE_DISABLED_and_says_why()
    {
        // Local MongoDB with no mongod binary on PATH: there is no server to provision on.
        await using var app = new HepDbApp(engines, new() { ["Engines:Mongo:Enabled"] = "true", ["Engines:Mongo:Local"] = "true" });
        Assert.Null(HepDb.Hosting.LocalEngines.LocalEngineServers.FindMongod());
        var account = await app.CreateAccountAsync();
        var message = await ApiAssert.ErrorAsync(await account.Api.PostAsJsonAsync("/api/v1/db/databases", new { name = "m", engine = "mongo" }), 400, "ENGINE_DISABLED");
        Assert.Contains("no server", message);
        Assert.Equal(0, await app.WithDbAsync(d => d.Databases.CountAsync(x => x.AccountId == account.Id)));
    }

    [Fact]
    public async Task A_configured_but_unreachable_server_is_ENGINE_UNAVAILABLE_promptly_and_leaves_nothing()
    {
        await using var app = new HepDbApp(engines, new()
        {
            ["Engines:Mongo:Enabled"] = "true", ["Engines:Mongo:Local"] = "false",
            ["Engines:Mongo:Port"] = EngineServers.FreePort().ToString(), ["Engines:Mongo:AdminPassword"] = "x",
            ["Engines:Mongo:ConnectTimeout"] = "00:00:02",
        });
        var account = await app.CreateAccountAsync();
        var sw = System.Diagnostics.Stopwatch.StartNew();
        await ApiAssert.ErrorAsync(await account.Api.PostAsJsonAsync("/api/v1/db/databases", new { name = "m", engine = "mongo" }), 503, "ENGINE_UNAVAILABLE");
        Assert.True(sw.Elapsed < TimeSpan.FromSeconds(10), $"took {sw.Elapsed}");
        Assert.Equal(0, await app.WithDbAsync(d => d.Databases.CountAsync(x => x.AccountId == account.Id)));
        Assert.Equal(0, await app.WithDbAsync(d => d.IdempotencyRecords.CountAsync()));
    }
}
