using System.Text.Json;
using HepDb.Tests.Infrastructure;

namespace HepDb.Tests.Foundation;

public sealed class HealthTests(EngineServers engines)
{
    [Fact]
    public async Task Readiness_reports_the_metadata_store_and_each_engine()
    {
        await using var app = new HepDbApp(engines);
        var client = app.CreateClient();
        Assert.Equal(System.Net.HttpStatusCode.OK, (await client.GetAsync("/healthz")).StatusCode);
        var response = await client.GetAsync("/readyz");
        var body = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement;
        Assert.Equal(System.Net.HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("ready", body.GetProperty("status").GetString());
        var checks = body.GetProperty("checks").EnumerateArray().ToDictionary(c => c.GetProperty("name").GetString()!);
        Assert.Equal(["mariadb", "metadata", "postgres"], checks.Keys.Order().ToArray());
        Assert.All(checks.Values, c => Assert.Equal("up", c.GetProperty("status").GetString()));
        Assert.StartsWith("10.", checks["mariadb"].GetProperty("version").GetString());
        Assert.StartsWith("15", checks["postgres"].GetProperty("version").GetString());
    }

    [Fact]
    public async Task Readiness_is_503_and_names_the_engine_that_is_down()
    {
        await using var app = new HepDbApp(engines, new() { ["Engines:MariaDb:Port"] = EngineServers.FreePort().ToString() });
        var response = await app.CreateClient().GetAsync("/readyz");
        Assert.Equal(System.Net.HttpStatusCode.ServiceUnavailable, response.StatusCode);
        var checks = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.GetProperty("checks")
            .EnumerateArray().ToDictionary(c => c.GetProperty("name").GetString()!, c => c.GetProperty("status").GetString());
        Assert.Equal("down", checks["mariadb"]);
        Assert.Equal("up", checks["postgres"]);
    }
}
