using System.Text.Json;
using HepDb.Tests.Infrastructure;

namespace HepDb.Tests.Api;

/// <summary>The server describes the API it implements: the four operations of SPEC §3 and the backups of §3b at their
/// paths, nothing else under /api.</summary>
public abstract class OpenApiTests(EngineServers engines)
{
    // Every test here runs twice, once per metadata provider, named by the class it runs in.
    public sealed class OnSqlite(EngineServers engines) : OpenApiTests(engines.On(Metadata.Sqlite));
    public sealed class OnPostgres(EngineServers engines) : OpenApiTests(engines.On(Metadata.Postgres));

    [Fact]
    public async Task The_OpenAPI_document_lists_exactly_the_operations_of_the_spec()
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
            "GET /api/v1/db/databases/{id}/allowlist",
            "GET /api/v1/db/databases/{id}/backups",
            "GET /api/v1/db/databases/{id}/backups/{backupId}/download",
            "POST /api/v1/db/databases",
            "POST /api/v1/db/databases/{id}/backups",
            "POST /api/v1/db/databases/{id}/backups/{backupId}/restore",
            "POST /api/v1/db/databases/{id}/rotate",
            "PUT /api/v1/db/databases/{id}/allowlist",
        }, operations);

        var paths = doc.GetProperty("paths");
        Assert.True(paths.GetProperty("/api/v1/db/databases").GetProperty("post").GetProperty("responses").TryGetProperty("201", out _));
        Assert.True(paths.GetProperty("/api/v1/db/databases/{id}").GetProperty("get").GetProperty("responses").TryGetProperty("200", out _));
    }

    [Fact]
    public async Task The_OpenAPI_document_describes_the_create_body_and_every_error_answer()
    {
        await using var app = new HepDbApp(engines);
        var doc = JsonDocument.Parse(await app.CreateClient().GetStringAsync("/openapi/v1.json")).RootElement;
        var paths = doc.GetProperty("paths");
        JsonElement Schema(JsonElement content)
        {
            var schema = content.GetProperty("application/json").GetProperty("schema");
            return schema.TryGetProperty("$ref", out var reference)
                ? doc.GetProperty("components").GetProperty("schemas").GetProperty(reference.GetString()!.Split('/')[^1])
                : schema;
        }

        var create = paths.GetProperty("/api/v1/db/databases").GetProperty("post");
        var body = Schema(create.GetProperty("requestBody").GetProperty("content")).GetProperty("properties");
        Assert.Equal(new[] { "engine", "name" }, body.EnumerateObject().Select(p => p.Name).Order(StringComparer.Ordinal));

        var expected = new Dictionary<(string Path, string Method), string[]>
        {
            [("/api/v1/db/databases", "get")] = ["401", "429", "500"],
            [("/api/v1/db/databases", "post")] = ["400", "401", "403", "413", "415", "422", "429", "500", "503"],
            [("/api/v1/db/databases/{id}", "get")] = ["401", "404", "429", "500", "503"],
            [("/api/v1/db/databases/{id}/rotate", "post")] = ["401", "404", "415", "429", "500", "503"],
            [("/api/v1/db/databases/{id}/backups", "get")] = ["401", "404", "429", "500"],
            [("/api/v1/db/databases/{id}/backups", "post")] = ["400", "401", "403", "404", "409", "415", "429", "500", "503"],
            [("/api/v1/db/databases/{id}/backups/{backupId}/download", "get")] = ["401", "403", "404", "429", "500"],
            [("/api/v1/db/databases/{id}/backups/{backupId}/restore", "post")] = ["400", "401", "403", "404", "409", "415", "429", "500", "503"],
            [("/api/v1/db/databases/{id}/allowlist", "get")] = ["401", "404", "429", "500"],
            [("/api/v1/db/databases/{id}/allowlist", "put")] = ["400", "401", "403", "404", "409", "413", "415", "429", "500", "503"],
        };
        foreach (var ((path, method), failures) in expected)
        {
            var responses = paths.GetProperty(path).GetProperty(method).GetProperty("responses");
            Assert.Equal(failures, responses.EnumerateObject().Select(r => r.Name).Where(s => s[0] is '4' or '5').Order(StringComparer.Ordinal));
            foreach (var status in failures)
            {
                var envelope = Schema(responses.GetProperty(status).GetProperty("content")).GetProperty("properties");
                Assert.Equal(new[] { "code", "error", "ok" }, envelope.EnumerateObject().Select(p => p.Name).Order(StringComparer.Ordinal));
            }
        }

        // Each failure names its codes, the new ones included.
        string Codes(string path, string method, string status) =>
            paths.GetProperty(path).GetProperty(method).GetProperty("responses").GetProperty(status).GetProperty("description").GetString()!;
        Assert.Contains("DATABASE_LIMIT_REACHED", Codes("/api/v1/db/databases", "post", "403"));
        Assert.Contains("BACKUP_LIMIT_REACHED", Codes("/api/v1/db/databases/{id}/backups", "post", "403"));
        Assert.Contains("ACCOUNT_SUSPENDED", Codes("/api/v1/db/databases/{id}/backups", "post", "403"));
        Assert.Contains("DATABASE_BUSY", Codes("/api/v1/db/databases/{id}/backups/{backupId}/restore", "post", "409"));
        Assert.Contains("RESTORE_FAILED", Codes("/api/v1/db/databases/{id}/backups/{backupId}/restore", "post", "500"));
    }
}
