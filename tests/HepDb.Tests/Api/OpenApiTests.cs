using System.Text.Json;
using HepDb.Tests.Infrastructure;

namespace HepDb.Tests.Api;

/// <summary>The server describes the API it implements: the four operations at their paths, nothing else under /api.</summary>
public abstract class OpenApiTests(EngineServers engines)
{
    // Every test here runs twice, once per metadata provider, named by the class it runs in.
    public sealed class OnSqlite(EngineServers engines) : OpenApiTests(engines.On(Metadata.Sqlite));
    public sealed class OnPostgres(EngineServers engines) : OpenApiTests(engines.On(Metadata.Postgres));

    [Fact]
    public async Task The_OpenAPI_document_lists_exactly_the_four_operations()
    {
        await using var app = new HepDbApp(engines);
        var response = await app.CreateClient().GetAsync("/openapi/v1.json");
        Assert.Equal(System.Net.HttpStatusCode.OK, response.StatusCode);
        var doc = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement;
        Assert.StartsWith("3.", doc.GetProperty("openapi").GetString());

        var operations = doc.GetProperty("paths").EnumerateObject()
            .Where(p => p.Name.StartsWith("/api/", StringComparison.Ordinal))
            .SelectMany(p => p.Value.EnumerateObject().Where(o => o.Name is "get" or "post" or "put" or "patch" or "delete").Select(o => $"{o.Name.ToUpperInvariant()} {p.Name}"))
            .Order(StringComparer.Ordinal).ToArray();
        Assert.Equal(new[]
        {
            "GET /api/v1/db/databases",
            "GET /api/v1/db/databases/{id}",
            "POST /api/v1/db/databases",
            "POST /api/v1/db/databases/{id}/rotate",
        }, operations);

        var paths = doc.GetProperty("paths");
        Assert.True(paths.GetProperty("/api/v1/db/databases").GetProperty("post").GetProperty("responses").TryGetProperty("201", out _));
        Assert.True(paths.GetProperty("/api/v1/db/databases/{id}").GetProperty("get").GetProperty("responses").TryGetProperty("200", out _));
    }
}
